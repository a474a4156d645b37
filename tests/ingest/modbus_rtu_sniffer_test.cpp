#include "outpost/ingest/modbus/rtu_sniffer.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "modbus_support/frames.hpp"

namespace outpost::ingest {
namespace {

using core::ModbusTable;
using test::Bytes;
using test::with_crc;

struct Collect : ModbusSink {
    std::vector<core::ModbusBlock> blocks;
    void on_modbus(const core::ModbusBlock& b) override { blocks.push_back(b); }
};

constexpr std::int64_t ms = 1'000'000;

Bytes request(std::uint8_t unit, std::uint8_t fc, std::uint16_t address, std::uint16_t count) {
    return with_crc({unit, fc, static_cast<std::uint8_t>(address >> 8), static_cast<std::uint8_t>(address & 0xFF),
                     static_cast<std::uint8_t>(count >> 8), static_cast<std::uint8_t>(count & 0xFF)});
}

TEST(RtuSniffer, PairsRequestsWithResponsesInSeparateChunks) {
    RtuSniffer s({2, 4 * ms, 500 * ms});
    Collect sink;
    s.feed(1000 * ms, request(1, 3, 100, 2), sink);
    EXPECT_TRUE(s.awaiting_response());
    s.feed(1010 * ms, with_crc({1, 3, 4, 0x00, 0x0A, 0x00, 0x0B}), sink);
    ASSERT_EQ(sink.blocks.size(), 1u);
    const auto& b = sink.blocks[0];
    EXPECT_EQ(b.bus, 2);
    EXPECT_EQ(b.unit, 1);
    EXPECT_EQ(b.table, ModbusTable::holding_registers);
    EXPECT_EQ(b.address, 100);
    EXPECT_EQ(b.count, 2);
    EXPECT_EQ(b.timestamp_ns, 1010 * ms);
    EXPECT_EQ(Bytes(b.bytes().begin(), b.bytes().end()), (Bytes{0x00, 0x0A, 0x00, 0x0B}));
    EXPECT_EQ(s.stats().requests, 1u);
    EXPECT_EQ(s.stats().responses, 1u);
}

TEST(RtuSniffer, EveryFunctionByteByByteAndAllInOneChunk) {
    const Bytes wire = test::concat({
        request(1, 1, 0, 10), with_crc({1, 1, 2, 0xCD, 0x01}),
        request(2, 2, 5, 3), with_crc({2, 2, 1, 0x05}),
        request(3, 3, 7, 1), with_crc({3, 3, 2, 0x12, 0x34}),
        request(4, 4, 9, 2), with_crc({4, 4, 4, 1, 2, 3, 4}),
    });
    {
        RtuSniffer s;
        Collect sink;
        std::int64_t t = 0;
        for (const auto byte : wire) s.feed(t += ms / 2, {&byte, 1}, sink);
        ASSERT_EQ(sink.blocks.size(), 4u);
        for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(static_cast<int>(sink.blocks[i].table), static_cast<int>(i + 1));
        EXPECT_EQ(s.stats().noise_bytes, 0u);
    }
    {
        RtuSniffer s;
        Collect sink;
        s.feed(5 * ms, wire, sink);
        ASSERT_EQ(sink.blocks.size(), 4u);
        EXPECT_EQ(sink.blocks[3].unit, 4);
        EXPECT_EQ(sink.blocks[3].address, 9);
        EXPECT_EQ(s.stats().noise_bytes, 0u);
    }
}

TEST(RtuSniffer, ExceptionsAreCountedNotHandedOn) {
    RtuSniffer s;
    Collect sink;
    s.feed(0, test::concat({request(1, 3, 0, 1), with_crc({1, 0x83, 0x02})}), sink);
    EXPECT_TRUE(sink.blocks.empty());
    EXPECT_EQ(s.stats().exceptions, 1u);
    EXPECT_EQ(s.stats().responses, 1u);
}

TEST(RtuSniffer, ResynchronisesAfterGarbageAndBadCrc) {
    RtuSniffer s({0, 4 * ms, 500 * ms});
    Collect sink;
    auto bad = with_crc({1, 3, 2, 0x00, 0x01});
    bad[3] ^= 0x40;
    const Bytes wire = test::concat({Bytes{0xFF, 0x00, 0x13, 0x03}, request(1, 3, 0, 1), bad, request(1, 3, 0, 1),
                                     with_crc({1, 3, 2, 0x00, 0x02})});
    s.feed(0, wire, sink);
    ASSERT_EQ(sink.blocks.size(), 1u);
    EXPECT_EQ(sink.blocks[0].data[1], 0x02);
    EXPECT_GT(s.stats().noise_bytes, 0u);
    EXPECT_EQ(s.stats().unanswered, 1u);  // the first request's answer was corrupted
}

TEST(RtuSniffer, SilenceEndsAPartialFrame) {
    RtuSniffer s({0, 4 * ms, 500 * ms});
    Collect sink;
    const auto req = request(1, 3, 0, 1);
    s.feed(0, {req.data(), 5}, sink);  // truncated request, then silence
    s.feed(20 * ms, request(1, 3, 0, 1), sink);
    s.feed(30 * ms, with_crc({1, 3, 2, 0x00, 0x05}), sink);
    ASSERT_EQ(sink.blocks.size(), 1u);
    EXPECT_EQ(s.stats().incomplete, 1u);
    // idle() ends a partial frame too.
    s.feed(40 * ms, {req.data(), 3}, sink);
    s.idle(41 * ms, sink);
    EXPECT_EQ(s.stats().incomplete, 1u);
    s.idle(50 * ms, sink);
    EXPECT_EQ(s.stats().incomplete, 2u);
}

TEST(RtuSniffer, LateResponsesAndOrphansAreNotPaired) {
    RtuSniffer s({0, 4 * ms, 100 * ms});
    Collect sink;
    s.feed(0, request(1, 3, 0, 1), sink);
    s.feed(500 * ms, with_crc({1, 3, 2, 0x00, 0x05}), sink);
    EXPECT_TRUE(sink.blocks.empty());
    EXPECT_EQ(s.stats().unanswered, 1u);
    EXPECT_EQ(s.stats().unpaired, 1u);
}

TEST(RtuSniffer, ResponseFromAnotherUnitIsNotPaired) {
    RtuSniffer s;
    Collect sink;
    s.feed(0, test::concat({request(1, 3, 0, 1), with_crc({2, 3, 2, 0x00, 0x05})}), sink);
    EXPECT_TRUE(sink.blocks.empty());
    EXPECT_EQ(s.stats().unpaired, 1u);
}

TEST(RtuSniffer, WrongByteCountIsMismatched) {
    RtuSniffer s;
    Collect sink;
    s.feed(0, test::concat({request(1, 3, 0, 2), with_crc({1, 3, 2, 0x00, 0x05})}), sink);
    EXPECT_TRUE(sink.blocks.empty());
    EXPECT_EQ(s.stats().mismatched, 1u);
}

TEST(RtuSniffer, FramesWithDirections) {
    RtuSniffer s;
    Collect sink;
    s.feed_frame(0, request(1, 4, 10, 1), FrameDirection::request, sink);
    s.feed_frame(ms, with_crc({1, 4, 2, 0xAB, 0xCD}), FrameDirection::response, sink);
    ASSERT_EQ(sink.blocks.size(), 1u);
    EXPECT_EQ(sink.blocks[0].timestamp_ns, ms);
    // A request marked as a response is not taken as a request.
    s.feed_frame(2 * ms, request(1, 4, 10, 1), FrameDirection::response, sink);
    EXPECT_FALSE(s.awaiting_response());
    EXPECT_EQ(s.stats().noise_bytes, 8u);
    // A frame with trailing junk: the frame is used, the junk counted.
    s.feed_frame(3 * ms, test::concat({request(1, 4, 10, 1), Bytes{0x77}}), FrameDirection::unknown, sink);
    EXPECT_TRUE(s.awaiting_response());
    EXPECT_EQ(s.stats().incomplete, 1u);
    EXPECT_EQ(s.stats().noise_bytes, 9u);
}

}  // namespace
}  // namespace outpost::ingest
