#pragma once
// What the test slaves hold (pymodbus_server.py, libmodbus_server.c and the simulator use the same
// formulas), so a test can check every register and bit of every block it receives.
#include <cstdint>
#include <span>

#include "outpost/core/modbus_block.hpp"

namespace outpost::test {

inline std::uint16_t holding_value(std::uint8_t unit, std::uint32_t a) {
    return static_cast<std::uint16_t>((a * 257u + unit * 13u) & 0xFFFFu);
}
inline std::uint16_t input_value(std::uint8_t unit, std::uint32_t a) {
    return static_cast<std::uint16_t>((0x8000u + a * 3u + unit) & 0xFFFFu);
}
inline bool coil_value(std::uint8_t unit, std::uint32_t a) { return (a + unit) % 3 == 0; }
inline bool discrete_value(std::uint8_t unit, std::uint32_t a) {
    const auto r = (a * unit) % 5;
    return r == 1 || r == 2;
}

inline std::uint16_t register_value(core::ModbusTable t, std::uint8_t unit, std::uint32_t a) {
    return t == core::ModbusTable::holding_registers ? holding_value(unit, a) : input_value(unit, a);
}
inline bool bit_value(core::ModbusTable t, std::uint8_t unit, std::uint32_t a) {
    return t == core::ModbusTable::coils ? coil_value(unit, a) : discrete_value(unit, a);
}

// True if every register or bit of `block` (and the padding bits of the last byte, which must be 0)
// matches the formulas.
inline bool block_matches(const core::ModbusBlock& b) {
    if (core::is_bit_table(b.table)) {
        if (b.data_len != (b.count + 7) / 8) return false;
        for (std::uint32_t i = 0; i < b.data_len * 8u; ++i) {
            const bool bit = (b.data[i / 8] >> (i % 8)) & 1u;
            const bool want = i < b.count && bit_value(b.table, b.unit, b.address + i);
            if (bit != want) return false;
        }
        return true;
    }
    if (b.data_len != 2 * b.count) return false;
    for (std::uint32_t i = 0; i < b.count; ++i) {
        const auto v = static_cast<std::uint16_t>(b.data[2 * i] << 8 | b.data[2 * i + 1]);
        if (v != register_value(b.table, b.unit, b.address + i)) return false;
    }
    return true;
}

}  // namespace outpost::test
