#pragma once
// One loss record standing for many rows of one priority: drops at the staging cap, drops at
// shutdown, evictions and expiries are gathered per priority rather than written one per row.
// The count is exact; the seq range spans them (other priorities' seqs interleave).
#include <algorithm>
#include <cstdint>

#include "outpost/core/wall_clock.hpp"
#include "outpost/outbox/outbox.hpp"

namespace outpost::outbox {

// Adds the row `seq` to `tally`, which is opened as `reason` at `priority` if it is still empty.
inline void count_loss(LossRecord& tally, const char* reason, int priority, std::uint64_t seq) {
    if (tally.count == 0) tally = {core::wall_clock_ns(), reason, priority, 0, seq, seq};
    ++tally.count;
    tally.first_seq = std::min(tally.first_seq, seq);
    tally.last_seq = std::max(tally.last_seq, seq);
}

}  // namespace outpost::outbox
