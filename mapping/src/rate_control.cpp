#include "outpost/mapping/rate_control.hpp"

#include <cmath>

namespace outpost::mapping {
namespace {

// `changed` is only asked for when the minimum interval has passed and a deadband is set.
template <typename Changed>
bool decide(const RateControl& rate, const RateState& state, std::int64_t now_ns, Changed changed) noexcept {
    if (!state.seen) return true;
    const std::int64_t elapsed_ns = now_ns - state.last_ns;
    if (elapsed_ns < 0) return true;
    if (rate.min_interval_ms > 0 && elapsed_ns < rate.min_interval_ms * 1'000'000) return false;
    if (!rate.changes_only()) return true;
    if (changed()) return true;
    return rate.heartbeat_ms > 0 && elapsed_ns >= rate.heartbeat_ms * 1'000'000;
}

}  // namespace

bool rate_allows(const RateControl& rate, RateState& state, double value, std::int64_t now_ns) noexcept {
    const bool pass = decide(rate, state, now_ns, [&] {
        const double diff = std::fabs(value - state.last_value);
        return (rate.deadband > 0 && diff > rate.deadband) ||
               (rate.deadband_percent > 0 && diff > std::fabs(state.last_value) * rate.deadband_percent / 100.0);
    });
    if (pass) state = {true, value, now_ns};
    return pass;
}

bool rate_allows_change(const RateControl& rate, RateState& state, bool changed, std::int64_t now_ns) noexcept {
    const bool pass = decide(rate, state, now_ns, [&] { return changed; });
    if (pass) state = {true, 0, now_ns};
    return pass;
}

}  // namespace outpost::mapping
