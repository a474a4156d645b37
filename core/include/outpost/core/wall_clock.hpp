#pragma once
// Wall-clock time in nanoseconds since the Unix epoch: what readings, loss records and messages
// carry. Deadlines and intervals use std::chrono::steady_clock instead.
#include <chrono>
#include <cstdint>

namespace outpost::core {

inline std::int64_t wall_clock_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace outpost::core
