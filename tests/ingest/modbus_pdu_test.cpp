#include "outpost/ingest/modbus/pdu.hpp"

#include <gtest/gtest.h>

#include <string_view>

#include "modbus_support/frames.hpp"
#include "outpost/ingest/modbus/crc16.hpp"
#include "outpost/ingest/modbus/line_timing.hpp"

namespace outpost::ingest {
namespace {

using core::ModbusTable;
using test::Bytes;

TEST(ModbusCrc, KnownVectors) {
    const std::string_view check = "123456789";
    EXPECT_EQ(modbus_crc16({reinterpret_cast<const std::uint8_t*>(check.data()), check.size()}), 0x4B37);
    // Read holding registers 0..9 of unit 1: the CRC on the wire is C5 CD.
    EXPECT_EQ(modbus_crc16(Bytes{0x01, 0x03, 0x00, 0x00, 0x00, 0x0A}), 0xCDC5);
    // The specification's examples (Modbus application protocol V1.1b3, 6.3).
    EXPECT_TRUE(modbus_crc_ok(Bytes{0x11, 0x03, 0x00, 0x6B, 0x00, 0x03, 0x76, 0x87}));
    EXPECT_TRUE(modbus_crc_ok(Bytes{0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0A}));
    EXPECT_FALSE(modbus_crc_ok(Bytes{0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x0A, 0x84}));
    EXPECT_FALSE(modbus_crc_ok(Bytes{0x01, 0x03}));
    EXPECT_EQ(modbus_crc16({}), 0xFFFF);
}

TEST(ModbusPdu, EncodesReadRequestsForEveryFunction) {
    for (const auto table : {ModbusTable::coils, ModbusTable::discrete_inputs, ModbusTable::holding_registers,
                             ModbusTable::input_registers}) {
        const auto pdu = encode_read_request({1, table, 0x1234, 0x0056});
        EXPECT_EQ(pdu[0], static_cast<std::uint8_t>(table));
        EXPECT_EQ(pdu[1], 0x12);
        EXPECT_EQ(pdu[2], 0x34);
        EXPECT_EQ(pdu[3], 0x00);
        EXPECT_EQ(pdu[4], 0x56);
        ModbusRead back;
        ASSERT_TRUE(decode_read_request(1, pdu, back));
        EXPECT_EQ(back, (ModbusRead{1, table, 0x1234, 0x56}));
    }
}

TEST(ModbusPdu, ValidatesLimits) {
    EXPECT_TRUE(is_valid({1, ModbusTable::holding_registers, 0, 125}));
    EXPECT_FALSE(is_valid({1, ModbusTable::holding_registers, 0, 126}));
    EXPECT_TRUE(is_valid({247, ModbusTable::coils, 0, 2000}));
    EXPECT_FALSE(is_valid({1, ModbusTable::coils, 0, 2001}));
    EXPECT_FALSE(is_valid({0, ModbusTable::coils, 0, 1}));    // broadcast cannot read
    EXPECT_FALSE(is_valid({248, ModbusTable::coils, 0, 1}));
    EXPECT_FALSE(is_valid({1, ModbusTable::input_registers, 0, 0}));
    EXPECT_FALSE(is_valid({1, ModbusTable::input_registers, 65530, 10}));
    EXPECT_TRUE(is_valid({1, ModbusTable::input_registers, 65526, 10}));
    ModbusRead out;
    EXPECT_FALSE(decode_read_request(1, Bytes{0x05, 0x00, 0x00, 0x00, 0x01}, out));  // a write, not a read
    EXPECT_FALSE(decode_read_request(1, Bytes{0x03, 0x00, 0x00, 0x00}, out));
    EXPECT_FALSE(decode_read_request(1, Bytes{0x03, 0x00, 0x00, 0x00, 0x7E}, out));  // 126 registers
}

TEST(ModbusPdu, DecodesRegisterAndBitResponses) {
    const ModbusRead regs{1, ModbusTable::input_registers, 10, 2};
    const Bytes pdu{0x04, 0x04, 0x00, 0x64, 0xFF, 0xFE};
    const auto ok = decode_read_response(regs, pdu);
    ASSERT_EQ(ok.status, PduStatus::ok);
    EXPECT_EQ(Bytes(ok.data.begin(), ok.data.end()), (Bytes{0x00, 0x64, 0xFF, 0xFE}));

    const ModbusRead bits{1, ModbusTable::coils, 0, 10};  // 10 bits -> 2 bytes
    const Bytes bit_pdu{0x01, 0x02, 0xCD, 0x01};
    const auto b = decode_read_response(bits, bit_pdu);
    ASSERT_EQ(b.status, PduStatus::ok);
    EXPECT_EQ(b.data.size(), 2u);
    EXPECT_EQ(modbus_data_bytes(ModbusTable::discrete_inputs, 2000), 250u);
    EXPECT_EQ(modbus_data_bytes(ModbusTable::holding_registers, 125), 250u);
}

TEST(ModbusPdu, RejectsResponsesThatDoNotAnswerTheRequest) {
    const ModbusRead regs{1, ModbusTable::holding_registers, 0, 2};
    EXPECT_EQ(decode_read_response(regs, Bytes{0x04, 0x04, 0, 1, 0, 2}).status, PduStatus::malformed);  // other FC
    EXPECT_EQ(decode_read_response(regs, Bytes{0x03, 0x02, 0, 1}).status, PduStatus::malformed);        // count
    EXPECT_EQ(decode_read_response(regs, Bytes{0x03, 0x04, 0, 1, 0}).status, PduStatus::malformed);     // short
    EXPECT_EQ(decode_read_response(regs, Bytes{0x03, 0x04, 0, 1, 0, 2, 9}).status, PduStatus::malformed);
    EXPECT_EQ(decode_read_response(regs, Bytes{0x03}).status, PduStatus::malformed);
    EXPECT_EQ(decode_read_response(regs, Bytes{}).status, PduStatus::malformed);
    EXPECT_EQ(decode_read_response(regs, Bytes{0x83, 0x02, 0x00}).status, PduStatus::malformed);
    EXPECT_NE(decode_read_response(regs, Bytes{0x03, 0x02, 0, 1}).error, nullptr);
}

TEST(ModbusPdu, DecodesExceptionsWithNames) {
    const ModbusRead regs{1, ModbusTable::holding_registers, 0, 2};
    const auto e = decode_read_response(regs, Bytes{0x83, 0x02});
    ASSERT_EQ(e.status, PduStatus::exception);
    EXPECT_EQ(e.exception, ModbusException::illegal_data_address);
    EXPECT_STREQ(to_string(e.exception), "illegal_data_address");
    EXPECT_STREQ(to_string(ModbusException::gateway_target_failed), "gateway_target_failed");
    EXPECT_STREQ(to_string(static_cast<ModbusException>(0x42)), "unknown");
    EXPECT_TRUE(is_gateway_failure(ModbusException::gateway_path_unavailable));
    EXPECT_FALSE(is_gateway_failure(ModbusException::server_device_busy));
}

TEST(ModbusPdu, EncodesResponsesForSimulators) {
    std::array<std::uint8_t, 260> out{};
    const Bytes data{0x00, 0x01, 0x00, 0x02};
    ASSERT_EQ(encode_read_response(ModbusTable::holding_registers, data, out), 6u);
    EXPECT_EQ(Bytes(out.begin(), out.begin() + 6), (Bytes{0x03, 0x04, 0x00, 0x01, 0x00, 0x02}));
    ASSERT_EQ(encode_exception_response(0x04, ModbusException::server_device_busy, out), 2u);
    EXPECT_EQ(out[0], 0x84);
    EXPECT_EQ(out[1], 0x06);
    std::array<std::uint8_t, 3> small{};
    EXPECT_EQ(encode_read_response(ModbusTable::holding_registers, data, small), 0u);
}

TEST(ModbusPdu, MakesBlocks) {
    core::ModbusBlock block;
    const Bytes data{0xAB, 0xCD};
    ASSERT_TRUE(make_block({7, ModbusTable::input_registers, 100, 1}, data, 3, 42, block));
    EXPECT_EQ(block.bus, 3);
    EXPECT_EQ(block.unit, 7);
    EXPECT_EQ(block.table, ModbusTable::input_registers);
    EXPECT_EQ(block.address, 100);
    EXPECT_EQ(block.count, 1);
    EXPECT_EQ(block.timestamp_ns, 42);
    EXPECT_EQ(Bytes(block.bytes().begin(), block.bytes().end()), data);
}

TEST(ModbusLineTiming, CharacterTimesAndSilence) {
    const SerialFormat f8e1{9600, SerialParity::even, 8, 1};
    EXPECT_EQ(bits_per_char(f8e1), 11u);
    EXPECT_EQ(bits_per_char({9600, SerialParity::none, 8, 1}), 10u);
    EXPECT_EQ(bits_per_char({9600, SerialParity::none, 8, 2}), 11u);
    EXPECT_EQ(bits_per_char({9600, SerialParity::odd, 7, 1}), 10u);
    EXPECT_EQ(char_time(f8e1).count(), 1'145'833);  // 11 bits at 9600
    EXPECT_EQ(t3_5(f8e1).count(), 4'010'416);       // 3.5 characters
    EXPECT_EQ(t3_5({19200, SerialParity::none, 8, 1}).count(), 1'822'916);
    EXPECT_EQ(t3_5({38400, SerialParity::none, 8, 1}), std::chrono::microseconds{1750});  // fixed above 19200
    EXPECT_EQ(t3_5({115200, SerialParity::even, 8, 1}), std::chrono::microseconds{1750});
    EXPECT_EQ(t1_5({115200, SerialParity::even, 8, 1}), std::chrono::microseconds{750});
    EXPECT_EQ(frame_time({9600, SerialParity::none, 8, 1}, 8).count(), 8'333'333);
    EXPECT_EQ(broadcast_turnaround, std::chrono::milliseconds{100});
    EXPECT_STREQ(to_string(SerialParity::odd), "odd");
}

}  // namespace
}  // namespace outpost::ingest
