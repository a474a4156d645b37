#pragma once
// A CAN signal in DBC terms, and its decoder (Sans-I/O, allocation-free).
//
// Bit numbering follows DBC: bit b is bit (b % 8) of byte (b / 8), bit 0 the least significant.
// Intel (little-endian, `@1`): start_bit is the signal's least significant bit; the signal
// continues upwards through the bytes. Motorola (big-endian, `@0`): start_bit is the signal's
// most significant bit; the signal continues towards bit 0 of that byte, then bit 7 of the next.
#include <cstdint>
#include <optional>
#include <span>

namespace outpost::mapping {

enum class ByteOrder { intel, motorola };
enum class ValueType { unsigned_int, signed_int, ieee_float, ieee_double };

struct SignalSpec {
    std::uint16_t start_bit = 0;
    std::uint16_t length = 1;  // 1..64 bits; 32 for ieee_float, 64 for ieee_double
    ByteOrder byte_order = ByteOrder::intel;
    ValueType type = ValueType::unsigned_int;
    double factor = 1.0;
    double offset = 0.0;
};

// The number of data bytes a frame needs to carry the whole signal; 0 if the length is not 1..64.
std::size_t bytes_needed(const SignalSpec& spec) noexcept;

// The raw bits, right-aligned; nullopt if the frame is too short for the signal.
std::optional<std::uint64_t> extract_raw(const SignalSpec& spec, std::span<const std::uint8_t> data) noexcept;

// The physical value: raw interpreted by type (sign-extended for signed), times factor, plus offset.
std::optional<double> decode_signal(const SignalSpec& spec, std::span<const std::uint8_t> data) noexcept;

}  // namespace outpost::mapping
