#include "outpost/ingest/modbus/poll_scheduler.hpp"

#include <algorithm>

namespace outpost::ingest {

std::size_t PollScheduler::add(std::size_t device, const PlannedRead& plan, time_point first_due) {
    Entry e;
    e.device = device;
    e.plan = plan;
    e.due = first_due;
    entries_.push_back(e);
    if (device_served_.size() <= device) device_served_.resize(device + 1, 0);
    return entries_.size() - 1;
}

std::optional<std::size_t> PollScheduler::next(time_point now) const {
    std::optional<std::size_t> best;
    for (std::size_t i = 0; i < entries_.size(); ++i) {
        const Entry& e = entries_[i];
        if (e.due > now) continue;
        if (!best) {
            best = i;
            continue;
        }
        const Entry& b = entries_[*best];
        if (e.due < b.due || (e.due == b.due && device_served_[e.device] < device_served_[b.device])) best = i;
    }
    return best;
}

PollScheduler::time_point PollScheduler::next_due() const noexcept {
    time_point t = time_point::max();
    for (const Entry& e : entries_) t = std::min(t, e.due);
    return t;
}

void PollScheduler::started(std::size_t index, time_point now) {
    Entry& e = entries_.at(index);
    if (e.starts > 0) {
        const auto interval = now - e.last_start;
        // Exponential smoothing (1/8), seeded with the first interval.
        e.achieved = e.starts == 1 ? std::chrono::duration_cast<std::chrono::nanoseconds>(interval)
                                   : e.achieved + (std::chrono::duration_cast<std::chrono::nanoseconds>(interval) - e.achieved) / 8;
    }
    e.last_start = now;
    ++e.starts;
    device_served_[e.device] = ++sequence_;
    const auto period = std::chrono::duration_cast<time_point::duration>(e.plan.period);
    e.due += period;
    if (e.due < now) {
        e.missed += static_cast<std::uint64_t>((now - e.due) / period);
        e.due = now;
    }
}

void PollScheduler::defer(std::size_t index, time_point until) {
    Entry& e = entries_.at(index);
    e.due = std::max(e.due, until);
}

}  // namespace outpost::ingest
