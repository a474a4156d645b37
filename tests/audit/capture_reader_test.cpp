// The capture reader: text and hex captures into the audit, bad lines counted, long lines skipped.
#include "audit/capture_reader.hpp"

#include <gtest/gtest.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "outpost/uplink/compression.hpp"

using namespace outpost::audit;

namespace {

std::string hex(const std::string& bytes) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (const unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 0xF];
    }
    return out;
}

std::string reading(std::uint64_t seq) {
    return R"({"gw":"gw","ep":1,"seq":)" + std::to_string(seq) + R"(,"ts":1700000000.5,"value":1})";
}

std::string cbor_batch(std::uint64_t seq0, std::size_t n) {
    auto readings = nlohmann::json::array();
    for (std::size_t i = 0; i < n; ++i) readings.push_back(nlohmann::json::array({i ? 1 : 0, 0, 0, 1}));
    const auto bytes = nlohmann::json::to_cbor(
        nlohmann::json::array({"ob1", "gw", 1, seq0, 1700000000000000,
                               nlohmann::json::array({nlohmann::json::array({"v", nullptr, 0})}), readings}));
    return {bytes.begin(), bytes.end()};
}

AuditReport read(const std::string& capture, const CaptureOptions& options = {}) {
    std::istringstream in(capture);
    SequenceAudit audit;
    read_capture(in, audit, options);
    return audit.report();
}

}  // namespace

TEST(CaptureReader, HexCapturesCarryBinaryBatchesAndJson) {
    std::string z;
    ASSERT_TRUE(outpost::uplink::compress(outpost::uplink::Compression::zstd, cbor_batch(4, 3), z));
    // As `mosquitto_sub -F '%t %x'` and `-F '%U %t %x'` print them (a topic may hold a space there).
    const std::string capture = "site/gw/v " + hex(reading(1)) + "\n" +                    //
                                "site/gw/batch " + hex(cbor_batch(2, 2)) + "\n" +          // seqs 2, 3
                                "1700000001.250000000 site/gw/batch " + hex(z) + "\r\n" +  // 4..6
                                "site/gw/odd topic " + hex(reading(7)) + "\n" +            //
                                "site/gw/empty \n" +                                       // an empty payload
                                "site/gw/v 7b2\n" +                                        // odd count
                                "site/gw/v 7x\n";                                          // not hex
    CaptureOptions hex_form;
    hex_form.form = CaptureForm::hex;
    const auto r = read(capture, hex_form);
    EXPECT_EQ(r.messages, 5u);
    EXPECT_EQ(r.unparsable_lines, 2u);
    EXPECT_EQ(r.unattributed, 1u) << "the empty payload";
    ASSERT_EQ(r.gateways.size(), 1u);
    const auto& g = r.gateways[0];
    EXPECT_EQ(g.distinct_readings, 7u);
    EXPECT_TRUE(g.gaps.empty());
    ASSERT_TRUE(g.latency);
    EXPECT_EQ(g.latency->samples, 3u);
    // Read as text, the same lines are hex strings: not JSON.
    EXPECT_EQ(read(capture).unattributed, 7u);
}

TEST(CaptureReader, LinesOverTheLimitAreCountedAndNeverHeldWhole) {
    const std::string long_line = "site/gw/v " + std::string(3000, 'x');
    const std::string capture = "site/gw/v " + reading(1) + "\n" + long_line + "\n" + "site/gw/v " + reading(2) + "\n" +
                                long_line;  // the last one without a newline
    CaptureOptions small;
    small.max_line_bytes = 1000;
    const auto r = read(capture, small);
    EXPECT_EQ(r.unparsable_lines, 2u);
    EXPECT_EQ(r.messages, 2u);
    ASSERT_EQ(r.gateways.size(), 1u);
    EXPECT_EQ(r.gateways[0].distinct_readings, 2u);
    // A line of exactly the limit is read.
    const std::string exact = "site/gw/v " + reading(3);
    small.max_line_bytes = exact.size();
    EXPECT_EQ(read(exact + "\n" + exact, small).messages, 2u);
    small.max_line_bytes = exact.size() - 1;
    EXPECT_EQ(read(exact + "\n" + exact, small).unparsable_lines, 2u);
    // The default limit is 1 MiB: a 2 MiB line is skipped, the lines around it are read.
    const auto big =
        read("site/gw/v " + reading(1) + "\nt " + std::string(2u << 20, '7') + "\nsite/gw/v " + reading(2));
    EXPECT_EQ(big.unparsable_lines, 1u);
    EXPECT_EQ(big.messages, 2u);
}

TEST(CaptureReader, EmptyLinesAreSkippedAndLinesWithoutATopicCounted) {
    const auto r = read("\n\r\n site/gw/v {}\nsite/gw/v " + reading(1) + "\n");
    EXPECT_EQ(r.messages, 1u);
    EXPECT_EQ(r.unparsable_lines, 1u);
}
