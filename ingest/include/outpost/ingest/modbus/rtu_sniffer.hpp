#pragma once
// Listen-only Modbus RTU (Sans-I/O): pairs each read request another master sends with the
// response that follows it, from the bytes seen on a shared line, and hands each successful read
// to a ModbusSink as a ModbusBlock. It never produces bytes to send.
//
// Frames are found by length and CRC (a read request is always 8 bytes; a response's length
// follows from its header), so several frames that arrive in one chunk are still separated. Time
// is used too: silence of at least `frame_gap_ns` between chunks ends whatever partial frame is
// pending (on a real line frames are delimited by >= 3.5 character times), and a response later
// than `response_timeout_ns` after its request is not paired with it. Bytes that fit no frame are
// skipped one at a time until the stream resynchronises, and counted; a partial frame ended by
// silence is rescanned from its next byte, so whole frames behind garbage are still found.
// Timestamps are supplied by the caller (system clock, ns): no clocks here. Allocation-free.
// Any thread, not shared.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "outpost/ingest/modbus/pdu.hpp"
#include "outpost/ingest/modbus_sink.hpp"

namespace outpost::ingest {

struct RtuSnifferOptions {
    std::uint16_t bus = 0;                          // stamped on every block
    std::int64_t frame_gap_ns = 1'750'000;          // silence that ends a frame (t3.5 of the line, or more)
    std::int64_t response_timeout_ns = 1'000'000'000;  // a response later than this is not paired
};

struct RtuSnifferStats {
    std::uint64_t requests = 0;      // valid read requests seen
    std::uint64_t responses = 0;     // responses paired with their request (data or exception)
    std::uint64_t blocks = 0;        // blocks handed to the sink
    std::uint64_t exceptions = 0;    // exception responses paired with their request
    std::uint64_t unanswered = 0;    // requests with no response (another request came first, or too late)
    std::uint64_t unpaired = 0;      // valid response frames with no matching request
    std::uint64_t mismatched = 0;    // paired by unit and function but byte count wrong for the request
    std::uint64_t incomplete = 0;    // partial frames ended by silence (or by the end of a transcript frame)
    std::uint64_t noise_bytes = 0;   // bytes skipped because they fit no frame (garbage, CRC errors)
};

// Which side a transcript frame came from, when the capture says so.
enum class FrameDirection : std::uint8_t { unknown, request, response };

class RtuSniffer {
public:
    explicit RtuSniffer(RtuSnifferOptions options = {}) noexcept : options_(options) {}

    // Bytes as they arrived from the line; `timestamp_ns` is when this chunk arrived.
    void feed(std::int64_t timestamp_ns, std::span<const std::uint8_t> bytes, ModbusSink& sink);
    // One whole frame whose boundaries are known (a transcript line). Anything left of it that
    // fits no frame is counted as noise.
    void feed_frame(std::int64_t timestamp_ns, std::span<const std::uint8_t> frame, FrameDirection direction,
                    ModbusSink& sink);
    // Time passed without bytes (the caller's idle timer): ends a pending partial frame, pairing
    // any whole frames still inside it.
    void idle(std::int64_t now_ns, ModbusSink& sink);

    const RtuSnifferStats& stats() const noexcept { return stats_; }
    // True while a request waits for its response.
    bool awaiting_response() const noexcept { return pending_; }

private:
    static constexpr std::size_t capacity = 2 * 256;
    enum class Match { yes, no, need_more };

    void parse(std::int64_t timestamp_ns, FrameDirection direction, ModbusSink& sink);
    Match try_response(std::int64_t timestamp_ns, ModbusSink& sink);
    Match try_request(std::int64_t timestamp_ns);
    Match try_unpaired();
    void consume(std::size_t n) noexcept;
    void end_partial(std::int64_t timestamp_ns, FrameDirection direction, ModbusSink& sink);

    RtuSnifferOptions options_;
    RtuSnifferStats stats_;
    std::array<std::uint8_t, capacity> buffer_{};
    std::size_t size_ = 0;
    std::int64_t last_byte_ns_ = 0;
    ModbusRead request_{};
    std::int64_t request_ns_ = 0;
    bool pending_ = false;
    core::ModbusBlock block_{};
};

}  // namespace outpost::ingest
