#pragma once
// Decoding of one Modbus value from the data of a read response (Sans-I/O, allocation-free,
// never throws). The data has the wire layout of core::ModbusBlock: registers big-endian, two
// bytes each; bits packed least significant first.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "outpost/mapping/modbus_rule.hpp"

namespace outpost::mapping {

// `words` (1..4) registers starting at register `first` of `data`, assembled into one unsigned
// integer in `order`; nullopt when `data` is too short.
std::optional<std::uint64_t> read_register_raw(std::span<const std::uint8_t> data, std::size_t first, unsigned words,
                                               WordOrder order) noexcept;

// The physical value of a numeric (or bool) `spec` whose first register (or bit) is `first` in
// `data`: raw by type (sign-extended, IEEE float), or the chosen bit as 0/1, times factor plus
// offset. Nullopt when `data` is too short or the spec is a string. May be NaN or infinite for
// floats; the caller decides what to do with that.
std::optional<double> decode_register(const RegisterSpec& spec, std::span<const std::uint8_t> data,
                                      std::size_t first) noexcept;

// Room for the longest string a register value can hold (125 registers).
using RegisterText = std::array<char, 250>;

// The text of a string `spec` (abcd: high byte first; badc/dcba: low byte first), written into
// `buffer`: cut at the first NUL, trailing spaces removed, bytes outside printable ASCII replaced
// by '?' so the payload is always valid JSON. Nullopt when `data` is too short or `spec` is not a
// string.
std::optional<std::string_view> decode_register_text(const RegisterSpec& spec, std::span<const std::uint8_t> data,
                                                     std::size_t first, RegisterText& buffer) noexcept;

}  // namespace outpost::mapping
