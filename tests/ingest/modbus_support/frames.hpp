#pragma once
// Byte-transcript helpers for the Modbus tests: frames with their CRC, hex text.
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "outpost/ingest/modbus/crc16.hpp"

namespace outpost::test {

using Bytes = std::vector<std::uint8_t>;

// `body` followed by its CRC-16/Modbus, low byte first.
inline Bytes with_crc(Bytes body) {
    const std::uint16_t crc = ingest::modbus_crc16(body);
    body.push_back(static_cast<std::uint8_t>(crc & 0xFF));
    body.push_back(static_cast<std::uint8_t>(crc >> 8));
    return body;
}

inline Bytes concat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

inline std::string hex(const Bytes& bytes) {
    static const char* digits = "0123456789ABCDEF";
    std::string s;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (i) s += ' ';
        s += digits[bytes[i] >> 4];
        s += digits[bytes[i] & 15];
    }
    return s;
}

}  // namespace outpost::test
