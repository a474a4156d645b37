#include "outpost/ingest/modbus/rtu_framer.hpp"

#include <gtest/gtest.h>

#include "modbus_support/frames.hpp"

namespace outpost::ingest {
namespace {

using core::ModbusTable;
using test::Bytes;
using test::with_crc;

Bytes data_of(const RtuResult& r) { return Bytes(r.data.begin(), r.data.end()); }

TEST(RtuFramer, EncodesTheRequestAdu) {
    RtuFramer f;
    const auto req = f.begin({1, ModbusTable::holding_registers, 0, 10});
    EXPECT_EQ(Bytes(req.begin(), req.end()), (Bytes{0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD}));
    const auto spec = f.begin({0x11, ModbusTable::holding_registers, 0x6B, 3});
    EXPECT_EQ(Bytes(spec.begin(), spec.end()), (Bytes{0x11, 0x03, 0x00, 0x6B, 0x00, 0x03, 0x76, 0x87}));
}

TEST(RtuFramer, CutsResponsesOfEveryFunctionByLength) {
    struct Case {
        ModbusTable table;
        std::uint16_t count;
        Bytes data;
    };
    const Case cases[] = {
        {ModbusTable::coils, 10, {0xCD, 0x01}},
        {ModbusTable::discrete_inputs, 3, {0x05}},
        {ModbusTable::holding_registers, 3, {0xAE, 0x41, 0x56, 0x52, 0x43, 0x40}},
        {ModbusTable::input_registers, 1, {0x00, 0x0A}},
    };
    for (const auto& c : cases) {
        RtuFramer f;
        f.begin({0x11, c.table, 0x13, c.count});
        Bytes body{0x11, static_cast<std::uint8_t>(c.table), static_cast<std::uint8_t>(c.data.size())};
        body.insert(body.end(), c.data.begin(), c.data.end());
        // Followed by bytes of something else: the framer stops at the frame's end.
        const Bytes wire = test::concat({with_crc(body), Bytes{0x99, 0x98}});
        // One byte at a time, as a slow line delivers them.
        std::size_t used = 0;
        for (std::size_t i = 0; i < wire.size() && !f.complete(); ++i) used += f.feed({&wire[i], 1});
        ASSERT_TRUE(f.complete());
        EXPECT_EQ(used, body.size() + 2);
        EXPECT_EQ(f.missing(), 0u);
        const auto r = f.result();
        ASSERT_EQ(r.outcome, ModbusOutcome::ok) << static_cast<int>(c.table);
        EXPECT_EQ(data_of(r), c.data);
    }
}

TEST(RtuFramer, SpecExampleInOneChunk) {
    RtuFramer f;
    f.begin({0x11, ModbusTable::holding_registers, 0x6B, 3});
    const Bytes wire{0x11, 0x03, 0x06, 0xAE, 0x41, 0x56, 0x52, 0x43, 0x40, 0x49, 0xAD};
    EXPECT_EQ(f.feed(wire), wire.size());
    ASSERT_TRUE(f.complete());
    const auto r = f.result();
    ASSERT_EQ(r.outcome, ModbusOutcome::ok);
    EXPECT_EQ(data_of(r), (Bytes{0xAE, 0x41, 0x56, 0x52, 0x43, 0x40}));
}

TEST(RtuFramer, MissingTracksTheHeader) {
    RtuFramer f;
    f.begin({1, ModbusTable::holding_registers, 0, 2});
    EXPECT_EQ(f.missing(), 2u);
    f.feed(Bytes{0x01});
    EXPECT_EQ(f.missing(), 1u);
    f.feed(Bytes{0x03, 0x04});
    EXPECT_EQ(f.missing(), 6u);  // 4 data bytes + CRC
}

TEST(RtuFramer, ExceptionResponse) {
    RtuFramer f;
    f.begin({1, ModbusTable::input_registers, 0, 2});
    f.feed(test::concat({with_crc({0x01, 0x84, 0x02}), Bytes{0x00}}));
    ASSERT_TRUE(f.complete());
    EXPECT_EQ(f.received(), 5u);
    const auto r = f.result();
    EXPECT_EQ(r.outcome, ModbusOutcome::exception);
    EXPECT_EQ(r.exception, ModbusException::illegal_data_address);
}

TEST(RtuFramer, WrongCrc) {
    RtuFramer f;
    f.begin({1, ModbusTable::holding_registers, 0, 1});
    auto wire = with_crc({0x01, 0x03, 0x02, 0x12, 0x34});
    wire.back() ^= 0xFF;
    f.feed(wire);
    ASSERT_TRUE(f.complete());
    EXPECT_EQ(f.result().outcome, ModbusOutcome::crc_error);
}

TEST(RtuFramer, WrongUnit) {
    RtuFramer f;
    f.begin({1, ModbusTable::holding_registers, 0, 1});
    f.feed(with_crc({0x02, 0x03, 0x02, 0x12, 0x34}));
    ASSERT_TRUE(f.complete());
    const auto r = f.result();
    EXPECT_EQ(r.outcome, ModbusOutcome::wrong_unit);
    EXPECT_EQ(r.unit, 2);
}

TEST(RtuFramer, WrongFunctionAndByteCountAreMalformed) {
    RtuFramer f;
    f.begin({1, ModbusTable::holding_registers, 0, 1});
    f.feed(with_crc({0x01, 0x04, 0x02, 0x12, 0x34}));  // an FC 4 answer to an FC 3 request
    ASSERT_TRUE(f.complete());
    EXPECT_EQ(f.result().outcome, ModbusOutcome::malformed);

    f.begin({1, ModbusTable::holding_registers, 0, 2});
    f.feed(with_crc({0x01, 0x03, 0x02, 0x12, 0x34}));  // 1 register for 2 asked
    ASSERT_TRUE(f.complete());
    EXPECT_EQ(f.result().outcome, ModbusOutcome::malformed);
    EXPECT_NE(f.result().error, nullptr);
}

TEST(RtuFramer, GarbageEndsTheFrameAtOnce) {
    RtuFramer f;
    f.begin({1, ModbusTable::holding_registers, 0, 1});
    const Bytes garbage{0x01, 0x5A, 0xFF, 0x00, 0x13};
    EXPECT_EQ(f.feed(garbage), 2u);  // unit + an impossible function code
    ASSERT_TRUE(f.complete());
    EXPECT_EQ(f.result().outcome, ModbusOutcome::malformed);
    f.begin({1, ModbusTable::holding_registers, 0, 1});
    f.feed(Bytes{0x01, 0xC3});  // exception form of a non-read function
    ASSERT_TRUE(f.complete());
    EXPECT_EQ(f.result().outcome, ModbusOutcome::malformed);
}

TEST(RtuFramer, TimeoutAndTruncation) {
    RtuFramer f;
    f.begin({1, ModbusTable::holding_registers, 0, 2});
    EXPECT_FALSE(f.complete());
    EXPECT_EQ(f.expire().outcome, ModbusOutcome::timeout);
    f.feed(Bytes{0x01, 0x03, 0x04, 0x00});
    EXPECT_FALSE(f.complete());
    EXPECT_EQ(f.expire().outcome, ModbusOutcome::truncated);
    EXPECT_EQ(f.result().outcome, ModbusOutcome::truncated);  // not complete: same as expire()
}

TEST(RtuFramer, LargestResponses) {
    RtuFramer f;
    f.begin({1, ModbusTable::holding_registers, 0, 125});
    Bytes body{0x01, 0x03, 250};
    for (int i = 0; i < 250; ++i) body.push_back(static_cast<std::uint8_t>(i));
    f.feed(with_crc(body));
    ASSERT_TRUE(f.complete());
    EXPECT_EQ(f.result().outcome, ModbusOutcome::ok);
    EXPECT_EQ(f.result().data.size(), 250u);
    // A byte count above 250 is no read response: malformed at the header, nothing overruns.
    f.begin({1, ModbusTable::holding_registers, 0, 125});
    Bytes big{0x01, 0x03, 251};
    big.resize(3 + 251, 0x55);
    EXPECT_EQ(f.feed(with_crc(big)), 3u);
    ASSERT_TRUE(f.complete());
    EXPECT_EQ(f.result().outcome, ModbusOutcome::malformed);
}

}  // namespace
}  // namespace outpost::ingest
