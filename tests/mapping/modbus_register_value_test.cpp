// Every type and word order against bytes worked out by hand (and checked with Python's struct).
#include "outpost/mapping/register_value.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace outpost::mapping;
using outpost::core::ModbusTable;

namespace {

std::vector<std::uint8_t> hex(const std::string& text) {
    std::vector<std::uint8_t> out;
    for (std::size_t i = 0; i + 1 < text.size(); i += 2) {
        out.push_back(static_cast<std::uint8_t>(std::stoul(text.substr(i, 2), nullptr, 16)));
    }
    return out;
}

RegisterSpec spec(RegisterType type, WordOrder order = WordOrder::abcd) {
    RegisterSpec s;
    s.type = type;
    s.order = order;
    return s;
}

constexpr WordOrder all_orders[] = {WordOrder::abcd, WordOrder::cdab, WordOrder::badc, WordOrder::dcba};

}  // namespace

TEST(RegisterValue, U32InAllFourOrders) {
    const char* wire[] = {"12345678", "56781234", "34127856", "78563412"};
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(read_register_raw(hex(wire[i]), 0, 2, all_orders[i]), 0x12345678u) << word_order_name(all_orders[i]);
        EXPECT_EQ(decode_register(spec(RegisterType::u32, all_orders[i]), hex(wire[i]), 0), 305419896.0);
    }
}

TEST(RegisterValue, U64InAllFourOrders) {
    const char* wire[] = {"0102030405060708", "0708050603040102", "0201040306050807", "0807060504030201"};
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(read_register_raw(hex(wire[i]), 0, 4, all_orders[i]), 0x0102030405060708u) << i;
    }
    EXPECT_EQ(decode_register(spec(RegisterType::u64), hex("0000000100000000"), 0), 4294967296.0);
}

TEST(RegisterValue, F32Of123_456InAllFourOrders) {
    const char* wire[] = {"42f6e979", "e97942f6", "f64279e9", "79e9f642"};
    for (int i = 0; i < 4; ++i) {
        const auto v = decode_register(spec(RegisterType::f32, all_orders[i]), hex(wire[i]), 0);
        ASSERT_TRUE(v) << i;
        EXPECT_FLOAT_EQ(static_cast<float>(*v), 123.456f) << word_order_name(all_orders[i]);
    }
}

TEST(RegisterValue, NegativeI64AndF64InAllFourOrders) {
    const char* i64[] = {"fffffee08e04fb35", "fb358e04fee0ffff", "ffffe0fe048e35fb", "35fb048ee0feffff"};
    const char* f64[] = {"c0c34a4587e7c06e", "c06e87e74a45c0c3", "c3c0454ae7876ec0", "6ec0e787454ac3c0"};
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(decode_register(spec(RegisterType::i64, all_orders[i]), hex(i64[i]), 0), -1234567890123.0) << i;
        EXPECT_EQ(decode_register(spec(RegisterType::f64, all_orders[i]), hex(f64[i]), 0), -9876.54321) << i;
    }
    EXPECT_EQ(decode_register(spec(RegisterType::i64), hex("ffffffffffffffff"), 0), -1.0);
    EXPECT_EQ(decode_register(spec(RegisterType::i64), hex("8000000000000000"), 0), -9223372036854775808.0);
}

TEST(RegisterValue, SixteenAndThirtyTwoBitSignedness) {
    EXPECT_EQ(decode_register(spec(RegisterType::i16), hex("ff85"), 0), -123.0);
    EXPECT_EQ(decode_register(spec(RegisterType::u16), hex("ff85"), 0), 65413.0);
    // For one register only the byte swap matters.
    EXPECT_EQ(decode_register(spec(RegisterType::i16, WordOrder::badc), hex("85ff"), 0), -123.0);
    EXPECT_EQ(decode_register(spec(RegisterType::i16, WordOrder::dcba), hex("85ff"), 0), -123.0);
    EXPECT_EQ(decode_register(spec(RegisterType::i16, WordOrder::cdab), hex("ff85"), 0), -123.0);
    const char* i32[] = {"fffe7960", "7960fffe", "feff6079", "6079feff"};
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(decode_register(spec(RegisterType::i32, all_orders[i]), hex(i32[i]), 0), -100000.0) << i;
    }
    EXPECT_EQ(decode_register(spec(RegisterType::i32), hex("80000000"), 0), -2147483648.0);
    EXPECT_EQ(decode_register(spec(RegisterType::u32), hex("80000000"), 0), 2147483648.0);
}

TEST(RegisterValue, PositionInsideTheBlockAndShortData) {
    // Registers 0..3 of the block; the u32 starts at register 2.
    const auto data = hex("aaaabbbb0001e240");
    EXPECT_EQ(decode_register(spec(RegisterType::u32), data, 2), 123456.0);
    EXPECT_EQ(decode_register(spec(RegisterType::u16), data, 3), 57920.0);
    EXPECT_FALSE(decode_register(spec(RegisterType::u32), data, 3));
    EXPECT_FALSE(decode_register(spec(RegisterType::u16), data, 4));
    EXPECT_FALSE(decode_register(spec(RegisterType::u16), data, static_cast<std::size_t>(-1)));
    EXPECT_FALSE(decode_register(spec(RegisterType::u64), hex("000100"), 0));  // odd byte count
    EXPECT_FALSE(decode_register(spec(RegisterType::string), data, 0));
}

TEST(RegisterValue, ScaleAndOffset) {
    auto s = spec(RegisterType::i16);
    s.factor = 0.1;
    s.offset = -40;
    EXPECT_DOUBLE_EQ(*decode_register(s, hex("01f4"), 0), 10.0);   // 500 * 0.1 - 40
    EXPECT_DOUBLE_EQ(*decode_register(s, hex("fe0c"), 0), -90.0);  // -500 * 0.1 - 40
}

TEST(RegisterValue, BitsInsideRegisters) {
    auto s = spec(RegisterType::u16);
    for (int bit = 0; bit < 16; ++bit) {
        s.bit = static_cast<std::int8_t>(bit);
        EXPECT_EQ(decode_register(s, hex("8008"), 0), (bit == 3 || bit == 15) ? 1.0 : 0.0) << bit;
    }
    // Bit 20 of a word-swapped u32: the value is 0x00100000, the high word travels second.
    auto w = spec(RegisterType::u32, WordOrder::cdab);
    w.bit = 20;
    EXPECT_EQ(decode_register(w, hex("00000010"), 0), 1.0);
    w.bit = 4;
    EXPECT_EQ(decode_register(w, hex("00000010"), 0), 0.0);
    // A bit of a signed register is the bit, not a sign.
    auto b = spec(RegisterType::i16);
    b.bit = 15;
    EXPECT_EQ(decode_register(b, hex("8000"), 0), 1.0);
    auto flag = spec(RegisterType::boolean);
    flag.bit = 0;
    EXPECT_EQ(decode_register(flag, hex("0001"), 0), 1.0);
}

TEST(RegisterValue, CoilsAndDiscreteInputsPackedLsbFirst) {
    RegisterSpec s;
    s.table = ModbusTable::coils;
    s.type = RegisterType::boolean;
    const auto data = hex("a501");  // bits 0..7: 1 0 1 0 0 1 0 1; bit 8: 1
    const double expected[] = {1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0};
    for (std::size_t i = 0; i < 16; ++i) EXPECT_EQ(decode_register(s, data, i), expected[i]) << i;
    EXPECT_FALSE(decode_register(s, data, 16));
    s.table = ModbusTable::discrete_inputs;
    EXPECT_EQ(decode_register(s, data, 8), 1.0);
}

TEST(RegisterValue, StringsWithPaddingAndSwappedBytes) {
    RegisterText buffer;
    RegisterSpec s = spec(RegisterType::string);
    s.length = 5;
    // "PCS-100" then a NUL and garbage after it.
    EXPECT_EQ(decode_register_text(s, hex("5043532d31303000ffff"), 0, buffer), "PCS-100");
    // Space padding is trimmed, leading spaces kept.
    EXPECT_EQ(decode_register_text(s, hex("20414220202020202020"), 0, buffer), " AB");
    // Low byte first: "SN12" stored as "NS21".
    s.order = WordOrder::badc;
    s.length = 2;
    EXPECT_EQ(decode_register_text(s, hex("4e533231"), 0, buffer), "SN12");
    // Odd length text in low-byte-first order ends at the NUL in the high byte.
    EXPECT_EQ(decode_register_text(s, hex("4e530031"), 0, buffer), "SN1");
    // Non-printable bytes become '?'; all NULs is the empty string.
    s.order = WordOrder::abcd;
    EXPECT_EQ(decode_register_text(s, hex("41e90a42"), 0, buffer), "A??B");
    EXPECT_EQ(decode_register_text(s, hex("00000000"), 0, buffer), "");
    // Too short, or not a string.
    EXPECT_FALSE(decode_register_text(s, hex("414243"), 0, buffer));
    EXPECT_FALSE(decode_register_text(s, hex("41424344"), 1, buffer));
    EXPECT_FALSE(decode_register_text(spec(RegisterType::u16), hex("41424344"), 0, buffer));
    // The longest: 125 registers.
    s.length = 125;
    const std::vector<std::uint8_t> full(250, 'x');
    EXPECT_EQ(decode_register_text(s, full, 0, buffer)->size(), 250u);
}

TEST(RegisterValue, WantedRangesMergeBitFieldsOfOneRegister) {
    ModbusDeviceRule d;
    RegisterRule a;
    a.spec = spec(RegisterType::u16);
    a.spec.address = 200;
    a.spec.bit = 3;
    a.poll_ms = 1000;
    RegisterRule b = a;
    b.spec.bit = 4;
    b.poll_ms = 500;
    RegisterRule c;
    c.spec = spec(RegisterType::f32);
    c.spec.address = 100;
    RegisterRule coil;
    coil.spec.table = ModbusTable::coils;
    coil.spec.type = RegisterType::boolean;
    coil.spec.address = 5;
    d.registers = {a, b, c, coil};
    const auto ranges = wanted_ranges(d);
    ASSERT_EQ(ranges.size(), 3u);
    EXPECT_EQ(ranges[0].table, ModbusTable::coils);
    EXPECT_EQ(ranges[0].count, 1u);
    EXPECT_EQ(ranges[1].address, 100u);
    EXPECT_EQ(ranges[1].count, 2u);
    EXPECT_EQ(ranges[2].address, 200u);
    EXPECT_EQ(ranges[2].poll_ms, 500);
}
