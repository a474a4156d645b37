#include "outpost/mapping/signal.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

using namespace outpost::mapping;

namespace {

SignalSpec intel(std::uint16_t start, std::uint16_t len, ValueType t = ValueType::unsigned_int) {
    return {start, len, ByteOrder::intel, t, 1.0, 0.0};
}
SignalSpec motorola(std::uint16_t start, std::uint16_t len, ValueType t = ValueType::unsigned_int) {
    return {start, len, ByteOrder::motorola, t, 1.0, 0.0};
}
double decode(const SignalSpec& s, std::vector<std::uint8_t> data) {
    return decode_signal(s, data).value();
}

}  // namespace

// Each expectation below was worked out by hand from the bit layout written beside it.

TEST(SignalIntel, TwelveBitsFromBitFourCrossTheByteBoundary) {
    // bytes AB CD: bits 4..7 of byte 0 are 0xA (low nibble of the result), byte 1 gives 0xCD above it.
    EXPECT_EQ(decode(intel(4, 12), {0xAB, 0xCD}), 0xCDA);
}

TEST(SignalIntel, ThreeBitsAcrossBytes) {
    // byte0 = 1000 0000 (bit7 = 1, bit6 = 0), byte1 bit0 = 1: value = b6 + 2*b7 + 4*b8 = 0 + 2 + 4.
    EXPECT_EQ(decode(intel(6, 3), {0x80, 0x01}), 6);
}

TEST(SignalIntel, OneBitAndSeventeenBits) {
    EXPECT_EQ(decode(intel(13, 1), {0x00, 0x20}), 1);  // byte1 bit5
    EXPECT_EQ(decode(intel(13, 1), {0xFF, 0xDF}), 0);
    // 17 bits from bit 3 of bytes 48 93 15: the little-endian word 0x159348 >> 3 = 0x2B269,
    // masked to 17 bits = 0x0B269 = 45673.
    EXPECT_EQ(decode(intel(3, 17), {0x48, 0x93, 0x15}), 45673);
}

TEST(SignalMotorola, TwelveBitsFromBitThree) {
    // MSB is byte0 bit3: byte0 bits 3..0 (0xA), then byte1 bits 7..0 (0xBC): 0xABC.
    EXPECT_EQ(decode(motorola(3, 12), {0x0A, 0xBC}), 0xABC);
}

TEST(SignalMotorola, TenBitsFromBitTwelve) {
    // MSB is byte1 bit4: byte1 bits 4..0 = 10101, byte2 bits 7..3 = 11111 -> 0b1010111111 = 703.
    EXPECT_EQ(decode(motorola(12, 10), {0x00, 0x15, 0xF8}), 703);
}

TEST(SignalMotorola, SevenBitsFromBitTwo) {
    // byte0 bits 2..0 = 101, byte1 bits 7..4 = 1001 -> 0b1011001 = 89.
    EXPECT_EQ(decode(motorola(2, 7), {0x05, 0x90}), 89);
}

TEST(SignalMotorola, SixteenBitBigEndianWord) {
    EXPECT_EQ(decode(motorola(7, 16), {0x0C, 0xD0}), 0x0CD0);
    EXPECT_EQ(decode(motorola(23, 16), {0, 0, 0x0D, 0x02}), 0x0D02);
}

TEST(SignalSigned, IntelAndMotorolaSignExtension) {
    EXPECT_EQ(decode(intel(0, 12, ValueType::signed_int), {0xFF, 0x0F}), -1);
    EXPECT_EQ(decode(intel(0, 12, ValueType::signed_int), {0x00, 0x08}), -2048);
    EXPECT_EQ(decode(intel(0, 12, ValueType::signed_int), {0xFF, 0x07}), 2047);
    // 0xFF38 = -200 as a 16-bit two's complement number.
    EXPECT_EQ(decode(motorola(7, 16, ValueType::signed_int), {0xFF, 0x38}), -200);
    // Motorola 5 bits from bit 1: byte0 bits 1..0 = 11, byte1 bits 7..5 = 010 -> 11010 = -6.
    EXPECT_EQ(decode(motorola(1, 5, ValueType::signed_int), {0x03, 0x40}), -6);
}

TEST(SignalSigned, EveryLengthFromOneToSixtyFour) {
    for (std::uint16_t n = 1; n <= 64; ++n) {
        std::vector<std::uint8_t> ones(8, 0xFF);
        EXPECT_EQ(decode(intel(0, n, ValueType::signed_int), ones), -1) << n;
        EXPECT_EQ(decode(motorola(7, n, ValueType::signed_int), ones), -1) << n;
        // Only the sign bit set: the most negative value, -2^(n-1).
        std::vector<std::uint8_t> sign(8, 0);
        sign[(n - 1) / 8] = static_cast<std::uint8_t>(1u << ((n - 1) % 8));
        EXPECT_EQ(decode(intel(0, n, ValueType::signed_int), sign), -std::ldexp(1.0, n - 1)) << n;
    }
}

TEST(SignalScaling, FactorAndOffset) {
    SignalSpec s = intel(0, 8);
    s.factor = 0.5;
    s.offset = -40;
    EXPECT_EQ(decode(s, {100}), 10.0);  // 100 * 0.5 - 40
    s.factor = 0.1;
    s.offset = 0;
    SignalSpec v = intel(0, 16);
    v.factor = 0.1;
    EXPECT_NEAR(decode(v, {0x00, 0x1E}), 768.0, 1e-9);  // 0x1E00 = 7680
}

TEST(SignalFloat, IeeeFloatAndDouble) {
    // 1.5f = 0x3FC00000, little-endian bytes 00 00 C0 3F.
    EXPECT_EQ(decode(intel(0, 32, ValueType::ieee_float), {0x00, 0x00, 0xC0, 0x3F}), 1.5);
    // -2.25 = 0xC002000000000000 as a double.
    EXPECT_EQ(decode(intel(0, 64, ValueType::ieee_double), {0, 0, 0, 0, 0, 0, 0x02, 0xC0}), -2.25);
    EXPECT_EQ(decode(motorola(7, 32, ValueType::ieee_float), {0x3F, 0xC0, 0x00, 0x00}), 1.5);
}

TEST(SignalBounds, ShortFramesAndBadLengthsGiveNothing) {
    const std::vector<std::uint8_t> two = {1, 2};
    EXPECT_FALSE(decode_signal(intel(8, 16), two));
    EXPECT_FALSE(decode_signal(motorola(15, 16), two));
    EXPECT_FALSE(decode_signal(intel(0, 0), two));
    EXPECT_FALSE(decode_signal(intel(0, 65), two));
    EXPECT_EQ(bytes_needed(intel(4, 12)), 2u);
    EXPECT_EQ(bytes_needed(motorola(3, 12)), 2u);
    EXPECT_EQ(bytes_needed(motorola(12, 10)), 3u);
    EXPECT_EQ(bytes_needed(motorola(7, 64)), 8u);
    EXPECT_EQ(bytes_needed(intel(511, 1)), 64u);
}

TEST(SignalWide, SixtyFourBitUnsigned) {
    EXPECT_EQ(extract_raw(intel(0, 64), std::vector<std::uint8_t>{1, 0, 0, 0, 0, 0, 0, 0x80}).value(),
              0x8000000000000001ull);
    EXPECT_EQ(extract_raw(motorola(7, 64), std::vector<std::uint8_t>{0x80, 0, 0, 0, 0, 0, 0, 1}).value(),
              0x8000000000000001ull);
}
