#pragma once
// A per-device circuit breaker (Sans-I/O; the caller passes the time). After `failure_threshold`
// consecutive failed transactions it opens: the device is not polled until a backoff delay has
// passed (exponential, doubling per failed probe up to `open_max`, with jitter in [ceiling/2,
// ceiling] drawn through core::Backoff). Then it is half-open: one probe transaction goes out;
// success closes it, failure opens it again for longer. So a dead or misconfigured device costs
// the line one response timeout per backoff period, and devices that went silent together do not
// come back in lockstep. Any thread, not shared.
#include <chrono>
#include <cstdint>

#include "outpost/core/backoff.hpp"

namespace outpost::ingest {

struct BreakerOptions {
    unsigned failure_threshold = 3;             // consecutive failures that open the breaker
    std::chrono::milliseconds open_initial{1000};  // first open period (ceiling)
    std::chrono::milliseconds open_max{30000};     // cap on the open period
};

enum class BreakerState : std::uint8_t { closed, open, half_open };
const char* to_string(BreakerState state) noexcept;

class CircuitBreaker {
public:
    using time_point = std::chrono::steady_clock::time_point;

    CircuitBreaker(BreakerOptions options, std::uint64_t seed);

    // True if a transaction may go to the device now. An open breaker whose delay has passed turns
    // half-open and lets this one (the probe) through.
    bool allow(time_point now) noexcept;
    void on_success() noexcept;
    // A failed transaction (after its retries). Opens the breaker at the threshold, or again after a failed probe.
    void on_failure(time_point now);

    BreakerState state() const noexcept { return state_; }
    // When an open breaker lets the next probe through.
    time_point retry_at() const noexcept { return retry_at_; }
    unsigned consecutive_failures() const noexcept { return failures_; }
    // Times it opened from closed (a failed probe re-opens within the same outage and is not counted).
    std::uint64_t opens() const noexcept { return opens_; }

private:
    BreakerOptions options_;
    core::Backoff backoff_;
    BreakerState state_ = BreakerState::closed;
    unsigned failures_ = 0;
    std::uint64_t opens_ = 0;
    time_point retry_at_{};
};

}  // namespace outpost::ingest
