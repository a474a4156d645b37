#include "outpost/ingest/modbus/crc16.hpp"

#include <array>

namespace outpost::ingest {

namespace {
constexpr std::array<std::uint16_t, 256> make_table() {
    std::array<std::uint16_t, 256> table{};
    for (unsigned i = 0; i < 256; ++i) {
        unsigned crc = i;
        for (int bit = 0; bit < 8; ++bit) crc = (crc & 1u) ? (crc >> 1) ^ 0xA001u : crc >> 1;
        table[i] = static_cast<std::uint16_t>(crc);
    }
    return table;
}
constexpr auto table = make_table();
}  // namespace

std::uint16_t modbus_crc16(std::span<const std::uint8_t> bytes) noexcept {
    unsigned crc = 0xFFFF;
    for (const std::uint8_t b : bytes) crc = (crc >> 8) ^ table[(crc ^ b) & 0xFFu];
    return static_cast<std::uint16_t>(crc);
}

bool modbus_crc_ok(std::span<const std::uint8_t> frame) noexcept {
    if (frame.size() < 3) return false;
    const std::uint16_t crc = modbus_crc16(frame.first(frame.size() - 2));
    return frame[frame.size() - 2] == (crc & 0xFFu) && frame[frame.size() - 1] == (crc >> 8);
}

}  // namespace outpost::ingest
