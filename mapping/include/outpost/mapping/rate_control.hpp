#pragma once
// Rate control, shared by every kind of rule (CAN signals, Modbus registers): when a reading is
// worth sending. Sans-I/O: all times come from the timestamps of the data itself.
#include <cstdint>

namespace outpost::mapping {

// A bus at 100 Hz must not become 100 MQTT messages a second over 4G unless the mapping asks for it.
struct RateControl {
    std::int64_t min_interval_ms = 0;  // never more often than this
    double deadband = 0;               // publish when |new - last| > deadband ...
    double deadband_percent = 0;       // ... or > this percent of |last|
    std::int64_t heartbeat_ms = 0;     // and at least this often even when unchanged (0: never)
    bool changes_only() const noexcept { return deadband > 0 || deadband_percent > 0; }
    bool active() const noexcept { return min_interval_ms > 0 || changes_only() || heartbeat_ms > 0; }
};

// What rate control remembers about one reading source: the last value it let through and when.
struct RateState {
    bool seen = false;
    double last_value = 0;
    std::int64_t last_ns = 0;
};

// Decides whether a numeric reading taken at `now_ns` goes out, and if so remembers it in `state`.
// Time going backwards (a clock step, a second log) starts the source over. Never allocates.
bool rate_allows(const RateControl& rate, RateState& state, double value, std::int64_t now_ns) noexcept;

// The same for a reading that has no numeric distance (a text): with a deadband configured
// (changes_only()), any change counts as beyond it; `changed` says whether it differs from the
// last one let through. The caller keeps the last text itself.
bool rate_allows_change(const RateControl& rate, RateState& state, bool changed, std::int64_t now_ns) noexcept;

}  // namespace outpost::mapping
