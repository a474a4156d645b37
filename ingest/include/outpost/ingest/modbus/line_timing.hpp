#pragma once
// Timing of a Modbus RTU serial line, from its character format (Modbus over serial line,
// V1.02, 2.5.1.1): one character is a start bit, the data bits, an optional parity bit and the
// stop bits. Frames are separated by at least 3.5 character times of silence; above 19200 baud
// the specification fixes that at 1.75 ms (and 1.5 character times at 0.75 ms). Pure functions.
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace outpost::ingest {

enum class SerialParity : std::uint8_t { none, even, odd };
const char* to_string(SerialParity parity) noexcept;

struct SerialFormat {
    unsigned baud = 9600;
    SerialParity parity = SerialParity::even;  // the Modbus default is 8E1
    unsigned data_bits = 8;                    // 7 or 8
    unsigned stop_bits = 1;                    // 1 or 2

    bool operator==(const SerialFormat&) const = default;
};

// Bits on the wire per character: start + data + parity + stop (10 or 11 for 8N1 / 8E1).
constexpr unsigned bits_per_char(const SerialFormat& f) noexcept {
    return 1 + f.data_bits + (f.parity == SerialParity::none ? 0u : 1u) + f.stop_bits;
}
// The time one character takes on the wire.
constexpr std::chrono::nanoseconds char_time(const SerialFormat& f) noexcept {
    return std::chrono::nanoseconds{f.baud == 0 ? 0 : 1'000'000'000LL * bits_per_char(f) / f.baud};
}
// The time `bytes` characters take on the wire, back to back.
constexpr std::chrono::nanoseconds frame_time(const SerialFormat& f, std::size_t bytes) noexcept {
    return std::chrono::nanoseconds{f.baud == 0 ? 0 : 1'000'000'000LL * bits_per_char(f) * static_cast<long long>(bytes) / f.baud};
}
// Inter-frame silence t3.5: 3.5 character times, fixed 1.75 ms above 19200 baud.
constexpr std::chrono::nanoseconds t3_5(const SerialFormat& f) noexcept {
    if (f.baud > 19200) return std::chrono::microseconds{1750};
    return std::chrono::nanoseconds{f.baud == 0 ? 0 : 3'500'000'000LL * bits_per_char(f) / f.baud};
}
// Inter-character limit t1.5: 1.5 character times, fixed 0.75 ms above 19200 baud.
constexpr std::chrono::nanoseconds t1_5(const SerialFormat& f) noexcept {
    if (f.baud > 19200) return std::chrono::microseconds{750};
    return std::chrono::nanoseconds{f.baud == 0 ? 0 : 1'500'000'000LL * bits_per_char(f) / f.baud};
}
// After a broadcast (unit 0) no device answers; the master waits this long before the next
// request so that every device has processed it (the specification suggests 100-200 ms).
// Reads are never broadcast, so the masters here do not use it; kept for write support.
inline constexpr std::chrono::milliseconds broadcast_turnaround{100};

}  // namespace outpost::ingest
