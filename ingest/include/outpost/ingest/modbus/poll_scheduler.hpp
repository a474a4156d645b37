#pragma once
// Which read goes out next on one line (Sans-I/O; the caller passes the time). Every planned read
// of every device on the line has a due time; the scheduler picks the earliest-due read that is
// due now, and among reads due at the same moment the device served longest ago, so a saturated
// line degrades into a fair round-robin. After a read starts, its next due time is one period
// later in phase (due + period), or now if the line fell so far behind that this already passed:
// a late poll is never followed by a burst of catch-up polls. Start-to-start intervals give the
// achieved period of each read. Linear in the number of reads (tens per line). Not shared.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "outpost/ingest/modbus/poll_planner.hpp"

namespace outpost::ingest {

class PollScheduler {
public:
    using time_point = std::chrono::steady_clock::time_point;

    struct Entry {
        std::size_t device = 0;
        PlannedRead plan;
        time_point due{};
        time_point last_start{};
        std::uint64_t starts = 0;
        std::uint64_t missed = 0;                // whole periods skipped because the line was behind
        std::chrono::nanoseconds achieved{0};    // smoothed start-to-start interval (0 until two starts)
    };

    // Adds a read of `device` (an index the caller chose) first due at `first_due`; returns its index.
    std::size_t add(std::size_t device, const PlannedRead& plan, time_point first_due);

    // The read to start now, or nullopt if none is due at `now`.
    std::optional<std::size_t> next(time_point now) const;
    // The earliest due time over all reads (time_point::max() if there are none).
    time_point next_due() const noexcept;
    // Read `index` starts at `now`: records the interval and schedules its next poll.
    void started(std::size_t index, time_point now);
    // Read `index` may not start before `until` (its device's breaker is open); not a poll.
    void defer(std::size_t index, time_point until);

    const Entry& entry(std::size_t index) const { return entries_.at(index); }
    std::size_t size() const noexcept { return entries_.size(); }

private:
    std::vector<Entry> entries_;
    std::vector<std::uint64_t> device_served_;  // sequence number of each device's last start
    std::uint64_t sequence_ = 0;
};

}  // namespace outpost::ingest
