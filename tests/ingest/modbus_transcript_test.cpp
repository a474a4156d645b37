#include "outpost/ingest/modbus/transcript_parser.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

namespace outpost::ingest {
namespace {

struct Collect : ModbusSink {
    std::vector<core::ModbusBlock> blocks;
    void on_modbus(const core::ModbusBlock& b) override { blocks.push_back(b); }
};

TEST(TranscriptParser, ParsesLines) {
    TranscriptFrame f;
    auto r = parse_transcript_line("(1700000000.123456) 01 03 00 00 00 0A C5 CD", f);
    ASSERT_EQ(r.kind, TranscriptLineKind::frame);
    EXPECT_EQ(f.timestamp_ns, 1700000000123456000);
    EXPECT_EQ(f.size, 8u);
    EXPECT_EQ(f.bytes[7], 0xCD);
    EXPECT_EQ(f.direction, FrameDirection::unknown);
    r = parse_transcript_line("  (1.5) rx 0103020005\t78 47 \r", f);
    ASSERT_EQ(r.kind, TranscriptLineKind::frame) << r.error;
    EXPECT_EQ(f.timestamp_ns, 1'500'000'000);
    EXPECT_EQ(f.direction, FrameDirection::response);
    EXPECT_EQ(f.size, 7u);
    r = parse_transcript_line("(2) tx 01 03 00 00 00 01 84 0A", f);
    ASSERT_EQ(r.kind, TranscriptLineKind::frame);
    EXPECT_EQ(f.direction, FrameDirection::request);
    EXPECT_EQ(parse_transcript_line("", f).kind, TranscriptLineKind::blank);
    EXPECT_EQ(parse_transcript_line("   # comment", f).kind, TranscriptLineKind::blank);
}

TEST(TranscriptParser, RejectsMalformedLines) {
    TranscriptFrame f;
    for (const char* bad : {"01 03 00 00", "(1700000000.123456)", "(1700000000.123456)01030000", "(abc) 01 03 00 00",
                            "(1.) 01 03 00 00", "(1.1234567890) 01 03 00 00", "(1.5 01 03 00 00",
                            "(1.5) 01 03 0 00 00", "(1.5) 01 03 00 0G", "(1.5) 010", "(1.5) 01 03",
                            "(9999999999999.5) 01 03 00 00", "(1.5) tx",
                            "(17000000000.12) 01 03 00 00"}) {  // past what 64-bit nanoseconds hold
        const auto r = parse_transcript_line(bad, f);
        EXPECT_EQ(r.kind, TranscriptLineKind::malformed) << bad;
        EXPECT_NE(r.error, nullptr) << bad;
    }
    std::string huge = "(1.5) ";
    for (int i = 0; i < 257; ++i) huge += "00";
    EXPECT_EQ(parse_transcript_line(huge, f).kind, TranscriptLineKind::malformed);
}

TEST(TranscriptReader, PairsFramesAndCountsMalformedLinesWithNumbers) {
    std::istringstream in(
        "# captured on line 1\n"
        "(1700000000.000000) tx 01 03 00 00 00 02 C4 0B\n"
        "(1700000000.012000) rx 01 03 04 00 64 FF 9C BA 1C\n"  // wrong CRC: counted by the sniffer
        "garbage\n"
        "(1700000001.000000) 01 03 00 00 00 02 C4 0B\n"
        "(1700000001.012000) 01 03 04 00 64 FF 9C FA 75\n"
        "\n"
        "(1700000002.000000) 01 04 00 0A 00 01 11 C8\n"
        "(1700000002.010000) 01 04 02 12 34 B4 47");  // no final newline
    RtuSniffer sniffer;
    Collect sink;
    std::vector<std::uint64_t> bad_lines;
    const auto stats = replay_transcript(in, sniffer, sink, [&](std::uint64_t line, const char*) { bad_lines.push_back(line); });
    EXPECT_EQ(stats.lines, 9u);
    EXPECT_EQ(stats.frames, 6u);
    EXPECT_EQ(stats.malformed, 1u);
    EXPECT_EQ(bad_lines, (std::vector<std::uint64_t>{4}));
    ASSERT_EQ(sink.blocks.size(), 2u);
    EXPECT_EQ(sink.blocks[0].timestamp_ns, 1700000001012000000);
    EXPECT_EQ(sink.blocks[0].data[3], 0x9C);
    EXPECT_EQ(sink.blocks[1].table, core::ModbusTable::input_registers);
    EXPECT_EQ(sink.blocks[1].address, 10);
    EXPECT_EQ(sniffer.stats().unanswered, 1u);
}

TEST(TranscriptReader, BoundsLongLines) {
    std::string text = "(1.0) " + std::string(100000, '0') + "\n(2.0) 01 03 00 00 00 01 84 0A\n";
    std::istringstream in(text);
    std::vector<std::uint64_t> bad_lines;
    TranscriptReader reader(in, 1024, [&](std::uint64_t line, const char*) { bad_lines.push_back(line); });
    TranscriptFrame f;
    ASSERT_TRUE(reader.next(f));
    EXPECT_EQ(f.timestamp_ns, 2'000'000'000);
    EXPECT_FALSE(reader.next(f));
    EXPECT_EQ(reader.stats().too_long, 1u);
    EXPECT_EQ(bad_lines, (std::vector<std::uint64_t>{1}));
    EXPECT_EQ(reader.stats().lines, 2u);
}

}  // namespace
}  // namespace outpost::ingest
