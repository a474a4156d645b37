#pragma once
// Wall-clock time in nanoseconds since the Unix epoch: what readings, loss records and messages
// carry. Deadlines and intervals use std::chrono::steady_clock instead.
#include <chrono>
#include <cstdint>
#include <string>

namespace outpost::core {

inline std::int64_t wall_clock_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// `ns` as UTC in ISO 8601: "2026-12-01T06:10:11Z", or with microseconds "2026-12-01T06:10:11.176000Z".
std::string utc_text(std::int64_t ns, bool with_microseconds = false);

}  // namespace outpost::core
