#pragma once
// Modbus TCP framing (Sans-I/O): the MBAP header (transaction id, protocol id 0, length, unit id)
// in front of the PDU. One transaction at a time per connection: begin() numbers each request
// with the next transaction id; feed() cuts ADUs from the TCP byte stream by their length field,
// discards (and counts) responses to earlier, abandoned transactions, and reports the response
// to the current one. A header that cannot be trusted (protocol id not 0, impossible length)
// means the stream lost its framing: result().desync is set and the caller must reconnect.
// Allocation-free; any thread, not shared.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "outpost/ingest/modbus/modbus_outcome.hpp"
#include "outpost/ingest/modbus/pdu.hpp"

namespace outpost::ingest {

struct MbapResult {
    ModbusOutcome outcome = ModbusOutcome::timeout;
    ModbusException exception{};
    std::span<const std::uint8_t> data;  // when ok; valid until the next begin() or feed()
    std::uint8_t unit = 0;
    bool desync = false;                 // the stream cannot be parsed further: reconnect
    const char* error = nullptr;
};

class MbapFramer {
public:
    static constexpr std::size_t header_size = 7;
    static constexpr std::size_t request_size = header_size + modbus_read_request_pdu_size;
    static constexpr std::size_t max_adu = header_size + modbus_max_pdu_size;

    // Starts a transaction for a valid `read` with the next transaction id; returns the request
    // ADU to send (valid until the next begin()).
    std::span<const std::uint8_t> begin(const ModbusRead& read) noexcept;

    // Hands in bytes from the stream; returns how many it consumed. Stops after the end of the
    // response to the current transaction (or at a desync); stale responses are consumed whole.
    std::size_t feed(std::span<const std::uint8_t> bytes) noexcept;

    bool complete() const noexcept { return complete_; }
    std::size_t received() const noexcept { return size_; }
    // Outcome of the current transaction once complete(): ok, exception, wrong_unit, malformed (desync set if the
    // stream is lost).
    MbapResult result() const noexcept;
    // Outcome when the caller's deadline fired first: timeout if no byte of the current ADU arrived, else truncated.
    MbapResult expire() const noexcept;

    std::uint16_t transaction_id() const noexcept { return tid_; }
    // Responses discarded because they answered an earlier transaction.
    std::uint64_t stale() const noexcept { return stale_; }
    // Next transaction id (for tests; ids start at a caller-chosen value so reconnects do not reuse recent ones).
    void set_next_transaction_id(std::uint16_t tid) noexcept { next_tid_ = tid; }

private:
    ModbusRead read_{};
    std::array<std::uint8_t, request_size> request_{};
    std::array<std::uint8_t, max_adu> buffer_{};
    std::size_t size_ = 0;
    std::size_t expected_ = 0;
    std::uint16_t tid_ = 0;
    std::uint16_t next_tid_ = 1;
    std::uint64_t stale_ = 0;
    bool complete_ = false;
    bool started_ = false;
    const char* desync_ = nullptr;
};

}  // namespace outpost::ingest
