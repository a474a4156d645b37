#include "outpost/core/backoff.hpp"

#include <algorithm>

namespace outpost::core {

Backoff::Backoff(duration initial, duration cap, std::uint64_t seed)
    : initial_(std::max(initial, duration{1})), cap_(std::max(cap, initial_)), rng_(seed) {}

Backoff::duration Backoff::ceiling() const noexcept {
    // Shifting by more than ~40 would overflow long before the cap matters.
    const unsigned shift = std::min(attempt_, 40u);
    const auto grown = initial_.count() << shift;
    return grown >= cap_.count() || grown < initial_.count() ? cap_ : duration{grown};
}

Backoff::duration Backoff::next() { return next(cap_); }

Backoff::duration Backoff::next(duration limit) {
    const auto top = std::min(ceiling(), std::max(initial_, limit));
    ++attempt_;
    std::uniform_int_distribution<std::int64_t> pick(0, top.count());
    return duration{pick(rng_)};
}

}  // namespace outpost::core
