#pragma once
// The master logic shared by every Modbus transport (Sans-I/O; the caller passes the time):
// the devices of one line or TCP server, their planned reads, the scheduler, retries and a
// circuit breaker per device, and the counters. A transport shell asks next() what to do, sends
// the read it gets (or sleeps until the time it gets), and reports how the transaction ended with
// on_result(). Not shared; the shell's thread only.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "outpost/ingest/modbus/circuit_breaker.hpp"
#include "outpost/ingest/modbus/modbus_stats.hpp"
#include "outpost/ingest/modbus/poll_planner.hpp"
#include "outpost/ingest/modbus/poll_scheduler.hpp"

namespace outpost::ingest {

struct ModbusDeviceOptions {
    std::string name;                         // for logs and stats
    DeviceLimits limits;                      // unit id, request size limits, gaps
    std::vector<WantedRange> ranges;          // what the mapping reads, with periods
    std::chrono::milliseconds response_timeout{1000};  // request sent -> first byte of the response
    unsigned retries = 1;                     // extra attempts of a failed read before it counts against the breaker
    BreakerOptions breaker;
};

class PollEngine {
public:
    using time_point = std::chrono::steady_clock::time_point;

    struct Step {
        enum class Kind : std::uint8_t { send, wait } kind = Kind::wait;
        std::size_t device = 0;                      // send: index into the devices
        ModbusRead read;                             // send: the read to send
        std::chrono::milliseconds response_timeout{0};  // send: the device's timeout
        bool retry = false;                          // send: a repeat of the last read
        time_point wake = time_point::max();         // wait: when to ask again
    };

    // Plans each device's reads (invalid ranges skipped; see check_plan). The first polls are
    // spread over the first 50 ms after `start` so devices do not all come due at once.
    PollEngine(std::vector<ModbusDeviceOptions> devices, time_point start, std::uint64_t seed);

    // What to do at `now`. After a send, call on_result() before calling next() again.
    Step next(time_point now);
    // How the transaction next() asked for ended. `response_ns` (system clock) is stamped as the
    // device's last response on success.
    void on_result(time_point now, ModbusOutcome outcome, ModbusException exception = {}, std::int64_t response_ns = 0);
    // The transport lost its port or connection: the transaction in flight (if any) failed with
    // io_error but does not count against the device's breaker (the line, not the device, failed).
    void on_transport_down(time_point now);

    std::size_t device_count() const noexcept { return devices_.size(); }
    const ModbusDeviceOptions& device(std::size_t index) const { return devices_.at(index).options; }
    ModbusDeviceStats device_stats(std::size_t index) const;
    // Counters summed over all devices (the line's transport counters live in the shell).
    ModbusCounters line_counters() const;
    const PollScheduler& scheduler() const noexcept { return scheduler_; }
    bool in_flight() const noexcept { return in_flight_; }

private:
    struct Device {
        ModbusDeviceOptions options;
        CircuitBreaker breaker;
        ModbusCounters counters;
        std::int64_t last_response_ns = 0;
        std::size_t fastest_read = SIZE_MAX;  // scheduler index of its shortest-period read
    };

    std::vector<Device> devices_;
    PollScheduler scheduler_;
    std::size_t current_ = 0;  // scheduler index of the read in flight or to retry
    unsigned attempt_ = 0;
    bool in_flight_ = false;
    bool retry_pending_ = false;
};

}  // namespace outpost::ingest
