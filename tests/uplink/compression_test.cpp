// Whole-payload compression: round trips, damaged and truncated streams, trailing bytes, the cap.
#include "outpost/uplink/compression.hpp"

#include <gtest/gtest.h>

#include <random>

using namespace outpost::uplink;

namespace {

std::string random_bytes(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng() & 0xFF);
    return s;
}

// Text that compresses, like a batch does.
std::string readings_text(std::size_t n) {
    std::string s;
    for (std::size_t i = 0; s.size() < n; ++i)
        s += R"({"seq":)" + std::to_string(i) + R"(,"t":"cell_v","value":3.31},)";
    s.resize(n);
    return s;
}

constexpr Compression both[] = {Compression::zstd, Compression::zlib};

}  // namespace

TEST(Compression, RoundTripsEverySizeAndLevel) {
    for (const auto c : both) {
        for (const std::size_t n : {0u, 1u, 2u, 100u, 16384u, 16385u, 1000000u}) {
            for (const auto& plain : {readings_text(n), random_bytes(n, n)}) {
                for (const int level : {0, 1, 9}) {
                    SCOPED_TRACE(std::string(to_string(c)) + " " + std::to_string(n) + " level " +
                                 std::to_string(level));
                    std::string z, back = "stale";
                    ASSERT_TRUE(compress(c, plain, z, level));
                    EXPECT_EQ(detect_compression(z), c);
                    ASSERT_TRUE(decompress(c, z, back));
                    EXPECT_EQ(back, plain);
                }
            }
        }
    }
    std::string out;
    ASSERT_TRUE(compress(Compression::none, "abc", out));
    EXPECT_EQ(out, "abc");
    ASSERT_TRUE(decompress(Compression::none, "abc", out));
    EXPECT_EQ(out, "abc");
}

TEST(Compression, TextThatCompressesShrinks) {
    const auto plain = readings_text(100000);
    for (const auto c : both) {
        std::string z;
        ASSERT_TRUE(compress(c, plain, z));
        EXPECT_LT(z.size(), plain.size() / 5) << to_string(c);
    }
}

TEST(Compression, EveryTruncationIsRefused) {
    for (const auto c : both) {
        std::string z, out;
        ASSERT_TRUE(compress(c, readings_text(50000), z));
        for (std::size_t n = 0; n < z.size(); ++n) {
            EXPECT_FALSE(decompress(c, z.substr(0, n), out)) << to_string(c) << " cut at " << n << " of " << z.size();
        }
    }
}

TEST(Compression, TrailingBytesAndASecondStreamAreRefused) {
    for (const auto c : both) {
        std::string z, out;
        ASSERT_TRUE(compress(c, "payload", z));
        EXPECT_FALSE(decompress(c, z + '\0', out)) << to_string(c);
        EXPECT_FALSE(decompress(c, z + z, out)) << to_string(c);
        ASSERT_TRUE(decompress(c, z, out));
        EXPECT_EQ(out, "payload");
    }
}

TEST(Compression, DamagedStreamsAreRefusedOrInflateToSomethingElseNeverCrash) {
    for (const auto c : both) {
        std::string z, out;
        const auto plain = readings_text(2000);
        ASSERT_TRUE(compress(c, plain, z));
        std::size_t refused = 0;
        for (std::size_t i = 0; i < z.size(); ++i) {
            for (int bit = 0; bit < 8; ++bit) {
                auto damaged = z;
                damaged[i] = static_cast<char>(damaged[i] ^ (1 << bit));
                if (!decompress(c, damaged, out)) ++refused;
            }
        }
        // zlib checks its Adler-32; compress() writes zstd frames without a content checksum, so a
        // flip inside a literal goes unseen there and only the structure is checked.
        EXPECT_GT(refused, z.size() * 8 * (c == Compression::zlib ? 9 : 5) / 10) << to_string(c);
        EXPECT_FALSE(decompress(c, "", out));
        EXPECT_FALSE(decompress(c, random_bytes(1000, 7), out));
    }
}

TEST(Compression, TheCapIsTheLargestInflatedSize) {
    for (const auto c : both) {
        SCOPED_TRACE(to_string(c));
        std::string z, out;
        const std::string plain(100000, 'x');
        ASSERT_TRUE(compress(c, plain, z));
        EXPECT_TRUE(decompress(c, z, out, plain.size()));
        EXPECT_EQ(out.size(), plain.size());
        EXPECT_FALSE(decompress(c, z, out, plain.size() - 1));
        // The default cap, 16 MiB: exactly 16 MiB inflates, one byte more does not.
        ASSERT_TRUE(compress(c, std::string(16u << 20, '\0'), z));
        EXPECT_TRUE(decompress(c, z, out));
        EXPECT_EQ(out.size(), 16u << 20);
        ASSERT_TRUE(compress(c, std::string((16u << 20) + 1, '\0'), z));
        EXPECT_FALSE(decompress(c, z, out));
        // A bomb: 1 GiB of zeros would take a few hundred kilobytes (zlib) or less (zstd);
        // inflating stops at the cap, holding no more than it.
        ASSERT_TRUE(compress(c, std::string(64u << 20, '\0'), z, 1));
        EXPECT_FALSE(decompress(c, z, out));
        EXPECT_LE(out.capacity(), (16u << 20) * 2);
    }
    std::string out;
    EXPECT_TRUE(decompress(Compression::none, "abcd", out, 4));
    EXPECT_FALSE(decompress(Compression::none, "abcde", out, 4));
}

TEST(Compression, DetectionLooksAtTheHeaderOnly) {
    EXPECT_EQ(detect_compression(std::string("\x28\xB5\x2F\xFD", 4)), Compression::zstd);
    EXPECT_EQ(detect_compression(std::string("\x28\xB5\x2F", 3)), Compression::none);
    EXPECT_EQ(detect_compression("\x78\x9C"), Compression::zlib);  // default level
    EXPECT_EQ(detect_compression("\x78\x01"), Compression::zlib);  // level 1
    EXPECT_EQ(detect_compression("\x78\xDA"), Compression::zlib);  // level 9
    EXPECT_EQ(detect_compression("\x78\x9D"), Compression::none);  // header check fails
    EXPECT_EQ(detect_compression("x"), Compression::none);
    EXPECT_EQ(detect_compression(R"({"gw":"g"})"), Compression::none);
    EXPECT_EQ(detect_compression(std::string("\x87", 1)), Compression::none);
    EXPECT_EQ(detect_compression(""), Compression::none);
    EXPECT_STREQ(to_string(Compression::none), "none");
    EXPECT_STREQ(to_string(Compression::zstd), "zstd");
    EXPECT_STREQ(to_string(Compression::zlib), "zlib");
}
