// The rows' checksum: CRC-32C by its published check values, and the CPU's instruction (where
// crc32c() uses it) against the tables on every length and alignment around its 8-byte steps.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "../../outbox/src/row_checksum.hpp"

namespace outpost::outbox {
namespace {

TEST(RowChecksum, Crc32cGivesThePublishedCheckValues) {
    // RFC 3720, appendix B.4, and the common "123456789" check value.
    for (const auto crc : {crc32c(0, std::string(32, '\0')), crc32c_portable(0, std::string(32, '\0'))}) {
        EXPECT_EQ(crc, 0x8A9136AAu);
    }
    for (const auto crc : {crc32c(0, std::string(32, '\xFF')), crc32c_portable(0, std::string(32, '\xFF'))}) {
        EXPECT_EQ(crc, 0x62A8AB43u);
    }
    EXPECT_EQ(crc32c(0, "123456789"), 0xE3069283u);
    EXPECT_EQ(crc32c_portable(0, "123456789"), 0xE3069283u);
    EXPECT_EQ(crc32c(0, ""), 0u);
}

TEST(RowChecksum, Crc32cContinuesAcrossPieces) {
    const std::string text = "site/demo-gw/bms/pack/pack_voltage{\"value\":713.2}";
    for (std::size_t cut = 0; cut <= text.size(); ++cut) {
        const std::string_view all(text);
        EXPECT_EQ(crc32c(crc32c(0, all.substr(0, cut)), all.substr(cut)), crc32c(0, all)) << cut;
    }
}

TEST(RowChecksum, TheInstructionAndTheTablesAgreeOnEveryLengthAndAlignment) {
    if (!crc32c_in_hardware()) GTEST_SKIP() << "this CPU has no CRC-32C instruction: crc32c() is the tables";
    std::mt19937 random(20261202);
    std::string bytes(600, '\0');
    for (auto& b : bytes) b = static_cast<char>(random());
    const std::string_view all(bytes);
    for (std::size_t offset = 0; offset < 9; ++offset) {
        for (std::size_t length = 0; length <= 300; ++length) {
            const auto piece = all.substr(offset, length);
            const auto seed = static_cast<std::uint32_t>(random());
            ASSERT_EQ(crc32c(seed, piece), crc32c_portable(seed, piece)) << "offset " << offset << " length " << length;
        }
    }
}

}  // namespace
}  // namespace outpost::outbox
