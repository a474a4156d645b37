#include "outpost/ingest/modbus/mbap_framer.hpp"

#include <gtest/gtest.h>

#include "modbus_support/frames.hpp"

namespace outpost::ingest {
namespace {

using core::ModbusTable;
using test::Bytes;

Bytes adu(std::uint16_t tid, std::uint8_t unit, const Bytes& pdu, std::uint16_t protocol = 0) {
    const auto len = static_cast<std::uint16_t>(pdu.size() + 1);
    Bytes out{static_cast<std::uint8_t>(tid >> 8), static_cast<std::uint8_t>(tid & 0xFF),
              static_cast<std::uint8_t>(protocol >> 8), static_cast<std::uint8_t>(protocol & 0xFF),
              static_cast<std::uint8_t>(len >> 8), static_cast<std::uint8_t>(len & 0xFF), unit};
    out.insert(out.end(), pdu.begin(), pdu.end());
    return out;
}

TEST(MbapFramer, EncodesRequestsWithIncreasingTransactionIds) {
    MbapFramer f;
    f.set_next_transaction_id(0x0102);
    const auto a = f.begin({5, ModbusTable::input_registers, 0x0010, 4});
    EXPECT_EQ(Bytes(a.begin(), a.end()), (Bytes{0x01, 0x02, 0x00, 0x00, 0x00, 0x06, 0x05, 0x04, 0x00, 0x10, 0x00, 0x04}));
    EXPECT_EQ(f.transaction_id(), 0x0102);
    f.begin({5, ModbusTable::input_registers, 0x0010, 4});
    EXPECT_EQ(f.transaction_id(), 0x0103);
}

TEST(MbapFramer, ResponsesOfEveryFunction) {
    for (const auto table : {ModbusTable::coils, ModbusTable::discrete_inputs, ModbusTable::holding_registers,
                             ModbusTable::input_registers}) {
        MbapFramer f;
        f.begin({9, table, 0, 2});
        const Bytes data = core::is_bit_table(table) ? Bytes{0x02} : Bytes{0x12, 0x34, 0x56, 0x78};
        Bytes pdu{static_cast<std::uint8_t>(table), static_cast<std::uint8_t>(data.size())};
        pdu.insert(pdu.end(), data.begin(), data.end());
        const Bytes wire = adu(f.transaction_id(), 9, pdu);
        // Split across reads at every point.
        for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
            f.begin({9, table, 0, 2});
            const Bytes w = adu(f.transaction_id(), 9, pdu);
            f.feed({w.data(), cut});
            f.feed({w.data() + cut, w.size() - cut});
            ASSERT_TRUE(f.complete());
            const auto r = f.result();
            ASSERT_EQ(r.outcome, ModbusOutcome::ok);
            EXPECT_EQ(Bytes(r.data.begin(), r.data.end()), data);
        }
        EXPECT_EQ(f.stale(), 0u);
        (void)wire;
    }
}

TEST(MbapFramer, StaleResponsesAreDiscardedAndCounted) {
    MbapFramer f;
    f.begin({1, ModbusTable::holding_registers, 0, 1});
    const auto old_tid = f.transaction_id();
    f.begin({1, ModbusTable::holding_registers, 0, 1});  // the first one timed out
    const Bytes wire = test::concat({adu(old_tid, 1, {0x03, 0x02, 0xDE, 0xAD}), adu(f.transaction_id(), 1, {0x03, 0x02, 0x00, 0x07})});
    EXPECT_EQ(f.feed(wire), wire.size());
    ASSERT_TRUE(f.complete());
    EXPECT_EQ(f.stale(), 1u);
    const auto r = f.result();
    ASSERT_EQ(r.outcome, ModbusOutcome::ok);
    EXPECT_EQ(Bytes(r.data.begin(), r.data.end()), (Bytes{0x00, 0x07}));
}

TEST(MbapFramer, StopsAtTheEndOfTheResponse) {
    MbapFramer f;
    f.begin({1, ModbusTable::holding_registers, 0, 1});
    const Bytes wire = test::concat({adu(f.transaction_id(), 1, {0x03, 0x02, 0x00, 0x07}), Bytes{0x00, 0x01}});
    EXPECT_EQ(f.feed(wire), wire.size() - 2);
}

TEST(MbapFramer, ExceptionWrongUnitMalformed) {
    MbapFramer f;
    f.begin({1, ModbusTable::holding_registers, 0, 1});
    f.feed(adu(f.transaction_id(), 1, {0x83, 0x0B}));
    EXPECT_EQ(f.result().outcome, ModbusOutcome::exception);
    EXPECT_EQ(f.result().exception, ModbusException::gateway_target_failed);

    f.begin({1, ModbusTable::holding_registers, 0, 1});
    f.feed(adu(f.transaction_id(), 2, {0x03, 0x02, 0x00, 0x07}));
    EXPECT_EQ(f.result().outcome, ModbusOutcome::wrong_unit);
    EXPECT_FALSE(f.result().desync);

    f.begin({1, ModbusTable::holding_registers, 0, 1});
    f.feed(adu(f.transaction_id(), 1, {0x03, 0x04, 0x00, 0x07, 0x00, 0x08}));
    EXPECT_EQ(f.result().outcome, ModbusOutcome::malformed);
    EXPECT_FALSE(f.result().desync);
}

TEST(MbapFramer, BadHeadersDesynchronise) {
    MbapFramer f;
    f.begin({1, ModbusTable::holding_registers, 0, 1});
    f.feed(adu(f.transaction_id(), 1, {0x03, 0x02, 0x00, 0x07}, 0x0001));
    ASSERT_TRUE(f.complete());
    EXPECT_EQ(f.result().outcome, ModbusOutcome::malformed);
    EXPECT_TRUE(f.result().desync);

    for (const int len : {0, 1, 255, 0xFFFF}) {
        f.begin({1, ModbusTable::holding_registers, 0, 1});
        const Bytes h{0x00, static_cast<std::uint8_t>(f.transaction_id()), 0, 0,
                      static_cast<std::uint8_t>(len >> 8), static_cast<std::uint8_t>(len & 0xFF), 1};
        EXPECT_EQ(f.feed(h), 7u);
        ASSERT_TRUE(f.complete());
        EXPECT_TRUE(f.result().desync) << len;
    }
}

TEST(MbapFramer, TimeoutAndTruncation) {
    MbapFramer f;
    f.begin({1, ModbusTable::holding_registers, 0, 1});
    EXPECT_EQ(f.expire().outcome, ModbusOutcome::timeout);
    f.feed(Bytes{0x00, 0x01, 0x00});
    EXPECT_EQ(f.expire().outcome, ModbusOutcome::truncated);
    EXPECT_TRUE(f.expire().desync);
}

}  // namespace
}  // namespace outpost::ingest
