#pragma once
// A block of Modbus data as the pipeline sees it: what one read response carried, with where it
// came from. A value type with no I/O, shared by ingest (which produces it) and mapping (which
// turns it into readings). The data keeps the wire layout so mapping decides byte and word order.
#include <array>
#include <cstdint>
#include <span>

namespace outpost::core {

// The four Modbus data tables, numbered by the function code that reads them.
enum class ModbusTable : std::uint8_t {
    coils = 1,              // FC 1, read/write bits
    discrete_inputs = 2,    // FC 2, read-only bits
    holding_registers = 3,  // FC 3, read/write 16-bit registers
    input_registers = 4,    // FC 4, read-only 16-bit registers
};

constexpr bool is_bit_table(ModbusTable table) noexcept {
    return table == ModbusTable::coils || table == ModbusTable::discrete_inputs;
}

struct ModbusBlock {
    // The largest read response: 125 registers (250 bytes) or 2000 bits (250 bytes).
    static constexpr std::size_t max_data = 250;

    std::uint16_t bus = 0;     // index of the bus (line or TCP server) in site-config order
    std::uint8_t unit = 0;     // unit id (slave address) 1..247; for Modbus TCP as configured
    ModbusTable table = ModbusTable::holding_registers;
    std::uint16_t address = 0;  // first register or bit, 0-based protocol address
    std::uint16_t count = 0;    // registers or bits in the block
    // Registers: 2*count bytes, big-endian as on the wire. Bits: ceil(count/8) bytes, LSB first.
    std::array<std::uint8_t, max_data> data{};
    std::uint8_t data_len = 0;
    std::int64_t timestamp_ns = 0;  // when the response arrived, nanoseconds since the Unix epoch

    std::span<const std::uint8_t> bytes() const noexcept { return {data.data(), data_len}; }
};

}  // namespace outpost::core
