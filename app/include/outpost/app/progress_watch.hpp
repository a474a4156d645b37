#pragma once
// Whether the pipeline is making progress, for the systemd watchdog (Sans-I/O).
//
// Progress is NOT "readings flowed" or "the broker acknowledged": idle buses and a link that is
// down are normal. It is: the io thread turns (the caller only asks from a timer on that thread,
// so a blocked io thread sends nothing) and the commit loop is not stuck (a commit handed to the
// outbox's writer thread comes back). A commit that has been in flight for `commit_limit` without
// finishing means a disk or writer that hangs: the pings stop and the manager restarts us.
// Thread: not thread-safe; the io thread only.
#include <chrono>
#include <cstdint>

namespace outpost::app {

class ProgressWatch {
public:
    using clock = std::chrono::steady_clock;

    explicit ProgressWatch(clock::duration commit_limit) : commit_limit_(commit_limit) {}

    // One observation: is a commit in flight, and how many commits have finished so far (any
    // monotonic count). Returns true if the watchdog may be fed.
    bool observe(clock::time_point now, bool commit_in_flight, std::uint64_t commits_finished) noexcept;
    // How long the commit in flight has been seen without finishing (zero if none).
    clock::duration commit_stalled_for(clock::time_point now) const noexcept;

private:
    clock::duration commit_limit_;
    bool watching_ = false;
    clock::time_point since_{};
    std::uint64_t finished_at_start_ = 0;
};

}  // namespace outpost::app
