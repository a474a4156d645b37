#pragma once
// The Modbus PDU (function code + data) for the four read functions, as both a master and a
// listener need it: request encoding and decoding, response validation, exception responses.
// Sans-I/O and allocation-free: spans in, values out. Any thread. Never throws; bad bytes come
// back as a status with a static error text.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "outpost/core/modbus_block.hpp"

namespace outpost::ingest {

// Exception codes a server answers with (function code | 0x80, then this code).
enum class ModbusException : std::uint8_t {
    illegal_function = 0x01,
    illegal_data_address = 0x02,
    illegal_data_value = 0x03,
    server_device_failure = 0x04,
    acknowledge = 0x05,
    server_device_busy = 0x06,
    negative_acknowledge = 0x07,
    memory_parity_error = 0x08,
    gateway_path_unavailable = 0x0A,
    gateway_target_failed = 0x0B,
};
// "illegal_data_address", ...; "unknown" for codes the specification does not name.
const char* to_string(ModbusException code) noexcept;
// Codes that mean "nobody answered behind a gateway": a breaker treats them as failures.
constexpr bool is_gateway_failure(ModbusException code) noexcept {
    return code == ModbusException::gateway_path_unavailable || code == ModbusException::gateway_target_failed;
}

inline constexpr std::uint16_t modbus_max_read_registers = 125;  // FC 3, 4
inline constexpr std::uint16_t modbus_max_read_bits = 2000;      // FC 1, 2
inline constexpr std::size_t modbus_read_request_pdu_size = 5;   // fc, address, count
inline constexpr std::size_t modbus_max_pdu_size = 253;

// One read: which unit, which table (= function code), first address, how many.
struct ModbusRead {
    std::uint8_t unit = 1;
    core::ModbusTable table = core::ModbusTable::holding_registers;
    std::uint16_t address = 0;
    std::uint16_t count = 1;

    std::uint8_t function() const noexcept { return static_cast<std::uint8_t>(table); }
    bool operator==(const ModbusRead&) const = default;
};

// A 16-bit field as Modbus sends every one: high byte first.
inline std::uint16_t read_be16(const std::uint8_t* p) noexcept {
    return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

// The protocol limit on `count` for a table (125 registers or 2000 bits).
constexpr std::uint16_t modbus_read_limit(core::ModbusTable table) noexcept {
    return core::is_bit_table(table) ? modbus_max_read_bits : modbus_max_read_registers;
}
// Data bytes a response to `count` items of `table` carries: 2 per register, 1 per 8 bits.
constexpr std::size_t modbus_data_bytes(core::ModbusTable table, std::uint16_t count) noexcept {
    return core::is_bit_table(table) ? (count + 7u) / 8u : 2u * count;
}
// A read a server can answer: unit 1..247, count 1..limit, and address + count within 65536.
bool is_valid(const ModbusRead& read) noexcept;

// The 5-byte request PDU (fc, address hi/lo, count hi/lo). The read must be valid.
std::array<std::uint8_t, modbus_read_request_pdu_size> encode_read_request(const ModbusRead& read) noexcept;

// A read request PDU as a listener sees it; false (and `out` untouched) unless it is a valid
// FC 1..4 request of exactly 5 bytes.
bool decode_read_request(std::uint8_t unit, std::span<const std::uint8_t> pdu, ModbusRead& out) noexcept;

enum class PduStatus : std::uint8_t { ok, exception, malformed };

struct ReadResponse {
    PduStatus status = PduStatus::malformed;
    ModbusException exception{};           // when status == exception
    std::span<const std::uint8_t> data;    // when ok: points into the decoded pdu
    const char* error = nullptr;           // when malformed: what is wrong (static text)
};

// Validates a response PDU against the request it answers: the function code (or its exception
// form), the byte count against the requested quantity, and the PDU length.
ReadResponse decode_read_response(const ModbusRead& request, std::span<const std::uint8_t> pdu) noexcept;

// Encodes a response PDU (fc, byte count, data) into `out`; returns the size, 0 if it does not
// fit or data is longer than 250 bytes. For simulators and tests.
std::size_t encode_read_response(core::ModbusTable table, std::span<const std::uint8_t> data,
                                 std::span<std::uint8_t> out) noexcept;
// Encodes an exception response PDU (fc | 0x80, code) into `out`; returns 2 (0 if it does not fit).
std::size_t encode_exception_response(std::uint8_t function, ModbusException code,
                                      std::span<std::uint8_t> out) noexcept;

// Fills `block` from a validated read and its response data. False if data is longer than a block holds.
bool make_block(const ModbusRead& read, std::span<const std::uint8_t> data, std::uint16_t bus,
                std::int64_t timestamp_ns, core::ModbusBlock& block) noexcept;

}  // namespace outpost::ingest
