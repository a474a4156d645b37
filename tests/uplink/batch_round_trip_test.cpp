// The gateway's batch encoder against the batch decoder: readings as the mapping writes them
// (mapping::append_reading_body), batched by uplink::BatchEncoder in every encoding and compression,
// decoded by uplink::decode_batch. Every mode must carry the same readings, exactly.
#include "outpost/uplink/batch_decoder.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <random>

#include "outpost/mapping/json_body.hpp"
#include "outpost/uplink/batch_encoder.hpp"

using namespace outpost::uplink;
using outpost::core::StoredMessage;

namespace {

constexpr const char* group = "site/bess-01";

StoredMessage stored(std::uint64_t seq, const std::string& suffix, std::string body) {
    StoredMessage m;
    m.seq = seq;
    m.epoch = 7;
    m.message.topic = std::string(group) + "/" + suffix;
    m.message.body = std::move(body);
    return m;
}

// Readings of a few signals as the mapping formats them: decimals -1 (shortest) to 6, negative
// values, units or none, a value table, a text register; timestamps going back now and then.
std::vector<StoredMessage> readings(std::uint64_t seed, std::size_t n) {
    std::mt19937_64 rng(seed);
    const std::map<std::int64_t, std::string> names = {{0, "off"}, {1, "on"}, {3, "charging"}};
    std::vector<StoredMessage> out;
    std::int64_t ns = 1700000000'000000000;
    for (std::size_t i = 0; i < n; ++i) {
        ns += static_cast<std::int64_t>(rng() % 2000000) - 200000;  // -0.2 ms .. +1.8 ms, whole microseconds or not
        const auto kind = rng() % 6;
        std::string body;
        if (kind == 0) {
            outpost::mapping::append_text_reading_body(body, ns, rng() % 2 ? "manual" : "auto", "");
            out.push_back(stored(1000 + i, "mode", body));
            continue;
        }
        if (kind == 1) {
            EXPECT_TRUE(outpost::mapping::append_reading_body(body, ns, static_cast<double>(rng() % 4), 0, "", names));
            out.push_back(stored(1000 + i, "state", body));
            continue;
        }
        const int decimals = static_cast<int>(rng() % 8) - 1;
        const double value =
            (static_cast<double>(rng() % 2000001) - 1000000.0) / std::pow(10.0, rng() % 7) * (kind == 5 ? 1e-9 : 1.0);
        const std::string suffix = "cell/v" + std::to_string(decimals + 1);
        EXPECT_TRUE(outpost::mapping::append_reading_body(body, ns, value, decimals, kind == 4 ? "" : "V", {}))
            << value;
        out.push_back(stored(1000 + i, suffix, body));
    }
    return out;
}

std::vector<DecodedReading> round_trip(BatchFormat format, const std::vector<StoredMessage>& messages) {
    BatchEncoder encoder(format);
    for (const auto& m : messages) {
        EXPECT_TRUE(encoder.batchable(std::string_view(m.message.topic).substr(std::strlen(group) + 1), m.message.body))
            << m.message.body;
    }
    std::string payload;
    encoder.encode("bess-01", 7, std::strlen(group), messages, payload);
    std::vector<DecodedReading> out;
    std::string problem;
    std::string topic = group;
    topic += "/batch";
    EXPECT_TRUE(decode_batch(topic, payload, out, problem)) << problem;
    return out;
}

}  // namespace

TEST(BatchRoundTrip, EveryEncodingAndCompressionCarriesTheSameReadings) {
    for (const std::uint64_t seed : {1u, 2u, 3u}) {
        const auto messages = readings(seed, 500);
        const auto reference = round_trip({Encoding::json, Compression::none, 0}, messages);
        ASSERT_EQ(reference.size(), messages.size());
        for (std::size_t i = 0; i < messages.size(); ++i) {
            SCOPED_TRACE(messages[i].message.body);
            EXPECT_EQ(reference[i].seq, messages[i].seq);
            EXPECT_EQ(reference[i].topic, messages[i].message.topic);
            EXPECT_EQ(reference[i].gw, "bess-01");
            EXPECT_EQ(reference[i].ep, 7u);
            EXPECT_TRUE(reference[i].extra.empty());
        }
        for (const auto encoding : {Encoding::json, Encoding::cbor}) {
            for (const auto c : {Compression::none, Compression::zstd, Compression::zlib}) {
                SCOPED_TRACE(std::string(encoding == Encoding::json ? "json " : "cbor ") + to_string(c));
                EXPECT_EQ(round_trip({encoding, c, 0}, messages), reference);
            }
        }
    }
}

TEST(BatchRoundTrip, ValuesAndTimestampsExactly) {
    std::vector<StoredMessage> m;
    const auto body = [](double value, int decimals, const char* unit) {
        std::string b;
        EXPECT_TRUE(
            outpost::mapping::append_reading_body(b, 1700000000'123456789, value, decimals, unit, {{3, "charging"}}));
        return b;
    };
    m.push_back(stored(1, "v", body(3.31, 3, "V")));     // "3.31" with decimals 3 (trimmed)
    m.push_back(stored(2, "v", body(0.05, 2, "V")));     // same key, another scale
    m.push_back(stored(3, "v", body(-12.0, 1, "V")));    // "-12"
    m.push_back(stored(4, "s", body(3.0, 0, "")));       // enumerated: "charging"
    m.push_back(stored(5, "f", body(1e-7, -1, "")));     // shortest: "1e-07" in JSON, a float in CBOR
    m.push_back(stored(6, "f", body(0.1, -1, "")));      // "0.1"
    m.push_back(stored(7, "f", body(-2.5e20, -1, "")));  // "-2.5e+20"
    std::string text;
    outpost::mapping::append_text_reading_body(text, 1700000001'000000000, "manual", "");
    m.push_back(stored(8, "mode", text));
    for (const auto encoding : {Encoding::json, Encoding::cbor}) {
        SCOPED_TRACE(encoding == Encoding::json ? "json" : "cbor");
        const auto out = round_trip({encoding, Compression::none, 0}, m);
        ASSERT_EQ(out.size(), 8u);
        const char* expected[] = {"3.31", "0.05", "-12", "3", "0.0000001", "0.1", "-250000000000000000000", "manual"};
        for (std::size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i].value, expected[i]) << i;
        EXPECT_EQ(out[0].ts_us, 1700000000123456);
        EXPECT_EQ(out[7].ts_us, 1700000001000000);
        EXPECT_EQ(out[3].text, "charging");
        EXPECT_EQ(out[3].unit, "");
        EXPECT_EQ(out[0].unit, "V");
        EXPECT_TRUE(out[7].value_is_text);
        EXPECT_FALSE(out[4].value_is_text);
    }
}
