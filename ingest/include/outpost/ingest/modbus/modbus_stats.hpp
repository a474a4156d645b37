#pragma once
// Counters of a Modbus master, per line (or TCP server) and per device. Plain values, cheap to
// copy; the masters update them on their io_context thread.
#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "outpost/ingest/modbus/circuit_breaker.hpp"
#include "outpost/ingest/modbus/modbus_outcome.hpp"
#include "outpost/ingest/modbus/pdu.hpp"

namespace outpost::ingest {

struct ModbusCounters {
    std::uint64_t requests = 0;    // requests sent, retries included
    std::uint64_t responses = 0;   // valid responses with data
    std::uint64_t exceptions = 0;  // valid exception responses
    std::uint64_t timeouts = 0;
    std::uint64_t truncated = 0;
    std::uint64_t crc_errors = 0;
    std::uint64_t wrong_unit = 0;
    std::uint64_t malformed = 0;
    std::uint64_t io_errors = 0;
    std::uint64_t retries = 0;
    // Exception responses by code: index = code for 1..11, index 0 for codes outside that range.
    std::array<std::uint64_t, 12> exceptions_by_code{};

    void count(ModbusOutcome outcome, ModbusException exception) noexcept;
};

struct ModbusDeviceStats {
    std::string name;
    std::uint8_t unit = 0;
    ModbusCounters counters;
    BreakerState breaker = BreakerState::closed;
    std::uint64_t breaker_opens = 0;
    unsigned consecutive_failures = 0;
    std::chrono::milliseconds configured_period{0};  // the device's shortest poll period
    std::chrono::nanoseconds achieved_period{0};     // smoothed start-to-start interval of that read (0: not yet)
    std::int64_t last_response_ns = 0;               // system clock of the last data response (0: never)
};

struct ModbusLineStats {
    ModbusCounters counters;           // the sum over the line's devices
    std::uint64_t bytes_out = 0;
    std::uint64_t bytes_in = 0;        // bytes read, drained ones included
    std::uint64_t drained_bytes = 0;   // bytes discarded while draining after an error
    std::uint64_t stale = 0;           // Modbus TCP: responses to abandoned transactions, discarded
    std::uint64_t opens = 0;           // successful port opens or TCP connects
    std::uint64_t open_failures = 0;
    bool connected = false;            // port open / TCP connected now
};

}  // namespace outpost::ingest
