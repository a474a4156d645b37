#pragma once
// CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF), as appended to every RTU frame: low byte
// first on the wire. Sans-I/O, allocation-free, any thread.
#include <cstdint>
#include <span>

namespace outpost::ingest {

// The CRC of `bytes`. modbus_crc16("123456789") == 0x4B37.
std::uint16_t modbus_crc16(std::span<const std::uint8_t> bytes) noexcept;

// True if the last two bytes of `frame` are the CRC (low byte first) of the bytes before them.
bool modbus_crc_ok(std::span<const std::uint8_t> frame) noexcept;

}  // namespace outpost::ingest
