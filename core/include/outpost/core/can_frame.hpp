#pragma once
// A CAN or CAN FD frame as the pipeline sees it: a value type with no kernel headers,
// so mapping and its tests build anywhere.
#include <array>
#include <cstdint>
#include <span>

namespace outpost::core {

struct CanFrame {
    static constexpr std::size_t max_data = 64;

    std::uint32_t id = 0;        // 11-bit or 29-bit identifier, no flag bits
    bool extended = false;       // 29-bit identifier
    bool fd = false;             // CAN FD frame (up to 64 bytes)
    bool remote = false;         // remote transmission request (no data)
    bool error = false;          // error frame; id carries the CAN_ERR_* class bits
    std::uint8_t fd_flags = 0;   // CAN FD flags (BRS, ESI) as candump writes them
    std::uint8_t len = 0;        // bytes of data used
    std::array<std::uint8_t, max_data> data{};
    std::int64_t timestamp_ns = 0;  // receive time, nanoseconds since the Unix epoch
    std::uint16_t bus = 0;          // index of the bus it came from, in site-config order

    std::span<const std::uint8_t> bytes() const noexcept { return {data.data(), len}; }
};

}  // namespace outpost::core
