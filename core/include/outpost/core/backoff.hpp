#pragma once
// Exponential backoff with full jitter and a cap (the AWS "full jitter" scheme): the n-th retry
// waits a uniformly random time in [0, min(cap, base * 2^n)]. Sans-I/O: the caller supplies the
// random source and does the waiting.
#include <chrono>
#include <cstdint>
#include <random>

namespace outpost::core {

class Backoff {
public:
    using duration = std::chrono::milliseconds;

    Backoff(duration initial, duration cap, std::uint64_t seed);

    // The delay before the next attempt; each call doubles the ceiling up to the cap.
    duration next();
    // The same, drawn under min(ceiling, max(initial, limit)): for a caller that keeps the wait in
    // proportion to something else (the length of an outage so far).
    duration next(duration limit);
    // Call after a success: the next failure starts again from the initial ceiling.
    void reset() noexcept { attempt_ = 0; }

    unsigned attempts() const noexcept { return attempt_; }
    // The ceiling the next call draws from (for logs and tests).
    duration ceiling() const noexcept;

private:
    duration initial_;
    duration cap_;
    unsigned attempt_ = 0;
    std::mt19937_64 rng_;
};

}  // namespace outpost::core
