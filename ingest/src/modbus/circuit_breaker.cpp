#include "outpost/ingest/modbus/circuit_breaker.hpp"

#include <algorithm>

namespace outpost::ingest {

const char* to_string(BreakerState state) noexcept {
    switch (state) {
        case BreakerState::closed: return "closed";
        case BreakerState::open: return "open";
        case BreakerState::half_open: return "half_open";
    }
    return "unknown";
}

CircuitBreaker::CircuitBreaker(BreakerOptions options, std::uint64_t seed)
    : options_(options), backoff_(options.open_initial, options.open_max, seed) {
    options_.failure_threshold = std::max(options_.failure_threshold, 1u);
}

bool CircuitBreaker::allow(time_point now) noexcept {
    if (state_ == BreakerState::open) {
        if (now < retry_at_) return false;
        state_ = BreakerState::half_open;
    }
    return true;
}

void CircuitBreaker::on_success() noexcept {
    state_ = BreakerState::closed;
    failures_ = 0;
    backoff_.reset();
}

void CircuitBreaker::on_failure(time_point now) {
    ++failures_;
    if (state_ == BreakerState::half_open || failures_ >= options_.failure_threshold) {
        // Equal jitter: at least half the ceiling, so a dead device really stays out of the way.
        const auto ceiling = backoff_.ceiling();
        const auto drawn = backoff_.next();
        retry_at_ = now + ceiling / 2 + drawn / 2;
        if (state_ == BreakerState::closed) ++opens_;  // a failed probe continues the same outage
        state_ = BreakerState::open;
    }
}

}  // namespace outpost::ingest
