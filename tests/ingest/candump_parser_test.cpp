#include "outpost/ingest/candump_parser.hpp"

#include <gtest/gtest.h>

using namespace outpost::ingest;
using outpost::core::CanFrame;

TEST(CandumpParser, ClassicFrame) {
    CanFrame f;
    const auto r = parse_candump_line("(1700000000.123456) can0 123#DEADBEEF", f);
    ASSERT_EQ(r.kind, CandumpLineKind::frame);
    EXPECT_EQ(r.interface, "can0");
    EXPECT_EQ(f.id, 0x123u);
    EXPECT_FALSE(f.extended);
    EXPECT_FALSE(f.fd);
    EXPECT_EQ(f.len, 4);
    EXPECT_EQ(f.data[0], 0xDE);
    EXPECT_EQ(f.data[3], 0xEF);
    EXPECT_EQ(f.timestamp_ns, 1700000000123456000);
}

TEST(CandumpParser, ExtendedEmptyAndRemoteFrames) {
    CanFrame f;
    ASSERT_EQ(parse_candump_line("(1.5) vcan1 18FF50E5#0102", f).kind, CandumpLineKind::frame);
    EXPECT_TRUE(f.extended);
    EXPECT_EQ(f.id, 0x18FF50E5u);
    EXPECT_EQ(f.len, 2);
    EXPECT_EQ(f.timestamp_ns, 1'500'000'000);

    ASSERT_EQ(parse_candump_line("(1.000001) can0 7FF#", f).kind, CandumpLineKind::frame);
    EXPECT_EQ(f.len, 0);

    ASSERT_EQ(parse_candump_line("(1.0) can0 123#R", f).kind, CandumpLineKind::frame);
    EXPECT_TRUE(f.remote);
    ASSERT_EQ(parse_candump_line("(1.0) can0 123#R3", f).kind, CandumpLineKind::frame);
    EXPECT_EQ(f.len, 3);
}

TEST(CandumpParser, CanFdFrames) {
    CanFrame f;
    const std::string data(2 * 12, 'A');
    ASSERT_EQ(parse_candump_line("(2.0) can0 123##1" + data, f).kind, CandumpLineKind::frame);
    EXPECT_TRUE(f.fd);
    EXPECT_EQ(f.fd_flags, 1);
    EXPECT_EQ(f.len, 12);
    const std::string full(128, '5');
    ASSERT_EQ(parse_candump_line("(2.0) can0 18DAF110##3" + full, f).kind, CandumpLineKind::frame);
    EXPECT_EQ(f.len, 64);
    EXPECT_TRUE(f.extended);
    // 9 bytes is not a CAN FD length.
    EXPECT_EQ(parse_candump_line("(2.0) can0 123##0" + std::string(18, '0'), f).kind, CandumpLineKind::malformed);
}

TEST(CandumpParser, ErrorFramesAndLen8Dlc) {
    CanFrame f;
    ASSERT_EQ(parse_candump_line("(3.0) can0 20000080#0000000000000000", f).kind, CandumpLineKind::frame);
    EXPECT_TRUE(f.error);
    EXPECT_EQ(f.id, 0x80u | 0x0u);
    ASSERT_EQ(parse_candump_line("(3.0) can0 123#1122334455667788_C", f).kind, CandumpLineKind::frame);
    EXPECT_EQ(f.len, 8);
}

TEST(CandumpParser, BlankLinesAreNotErrors) {
    CanFrame f;
    EXPECT_EQ(parse_candump_line("", f).kind, CandumpLineKind::blank);
    EXPECT_EQ(parse_candump_line("   \r", f).kind, CandumpLineKind::blank);
}

TEST(CandumpParser, MalformedLinesSayWhy) {
    const std::vector<std::string> bad = {
        "garbage",
        "(1700000000.1) can0",
        "1700000000.1 can0 123#00",
        "(17000x0000.1) can0 123#00",
        "(1700000000.1) can0 12#00",
        "(1700000000.1) can0 800#00",
        "(1700000000.1) can0 123#0",
        "(1700000000.1) can0 123#GG",
        "(1700000000.1) can0 123#112233445566778899",
        "(1700000000.1) can0 123DEADBEEF",
        "(1700000000.1) can0 E0000000#00",
        "(1700000000.1) can0 123#00 extra junk",
        "(1700000000.1) can0 123##",
        "(17000000013.005) can0 310#02",  // found by the fuzzer: nanoseconds would overflow
        "(9700000001.400090) can0 311#00",  // found by the fuzzer: nanoseconds would overflow
        "(1700000000.123456) can0 123#DEADBE",  // the last one is valid: 3 bytes
    };
    for (std::size_t i = 0; i + 1 < bad.size(); ++i) {
        CanFrame f;
        const auto r = parse_candump_line(bad[i], f);
        EXPECT_EQ(r.kind, CandumpLineKind::malformed) << bad[i];
        if (r.kind == CandumpLineKind::malformed) {
            EXPECT_NE(r.error, nullptr);
        }
    }
    CanFrame f;
    EXPECT_EQ(parse_candump_line(bad.back(), f).kind, CandumpLineKind::frame);
    // A log cut off in the middle of a line.
    EXPECT_EQ(parse_candump_line("(1700000000.123456) can0 123#DEADB", f).kind, CandumpLineKind::malformed);
}
