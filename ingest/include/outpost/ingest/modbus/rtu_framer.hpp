#pragma once
// Master side of Modbus RTU framing (Sans-I/O). For each request it encodes the ADU (unit, PDU,
// CRC) and then cuts the response out of the received bytes by the length its function code
// implies, as libmodbus does: the header (unit, function), then for a read the byte count, then
// that many bytes and the CRC; an exception response is always 5 bytes. A function code that no
// read response can carry ends the frame at once as malformed (the caller drains the line).
// No clocks: the caller runs the first-byte and inter-byte timers and calls expire() when one fires.
// Allocation-free; one transaction at a time; any thread, not shared.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "outpost/ingest/modbus/modbus_outcome.hpp"
#include "outpost/ingest/modbus/pdu.hpp"

namespace outpost::ingest {

struct RtuResult {
    ModbusOutcome outcome = ModbusOutcome::timeout;
    ModbusException exception{};          // when outcome == exception
    std::span<const std::uint8_t> data;   // when ok: register or bit bytes, valid until the next begin()
    std::uint8_t unit = 0;                // the unit id the frame carried (for wrong_unit)
    const char* error = nullptr;          // static text for malformed / truncated
};

class RtuFramer {
public:
    static constexpr std::size_t max_adu = 256;          // unit + 253-byte PDU + CRC
    static constexpr std::size_t request_size = 8;       // unit + 5-byte read PDU + CRC

    // Starts a transaction for a valid `read`: returns the request ADU to send (valid until the
    // next begin()) and resets the receive side to wait for its response.
    std::span<const std::uint8_t> begin(const ModbusRead& read) noexcept;

    // Hands in received bytes. Consumes bytes up to the end of the response frame and returns
    // how many it took; bytes beyond the frame are left to the caller (extra bytes on the line).
    std::size_t feed(std::span<const std::uint8_t> bytes) noexcept;

    bool complete() const noexcept { return complete_; }
    std::size_t received() const noexcept { return size_; }
    // Bytes still needed for the frame as far as the header tells (at least 1 until complete).
    std::size_t missing() const noexcept;

    // The outcome of a complete frame (checked in this order: CRC, unit id, PDU).
    RtuResult result() const noexcept;
    // The outcome when the caller's timer fired before the frame was complete: timeout if
    // nothing arrived, truncated otherwise.
    RtuResult expire() const noexcept;

    const ModbusRead& read() const noexcept { return read_; }

private:
    ModbusRead read_{};
    std::array<std::uint8_t, request_size> request_{};
    std::array<std::uint8_t, max_adu> buffer_{};
    std::size_t size_ = 0;
    std::size_t expected_ = 0;  // total frame length once known, else 0
    bool complete_ = false;
    const char* malformed_ = nullptr;  // set when the header made the frame unparseable
};

// The length of an RTU response frame that starts with `head` (at least unit and function,
// plus the byte count for a read), or 0 if more header bytes are needed, or SIZE_MAX if the
// function code is not one a read response carries or the byte count exceeds 250. Shared by the framer and the sniffer.
std::size_t rtu_response_length(std::span<const std::uint8_t> head) noexcept;

}  // namespace outpost::ingest
