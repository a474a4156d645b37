#include "outpost/app/progress_watch.hpp"

namespace outpost::app {

bool ProgressWatch::observe(clock::time_point now, bool commit_in_flight, std::uint64_t commits_finished) noexcept {
    if (!commit_in_flight) {
        watching_ = false;
        return true;
    }
    // A different count means the commit seen before finished and this is a new one.
    if (!watching_ || commits_finished != finished_at_start_) {
        watching_ = true;
        since_ = now;
        finished_at_start_ = commits_finished;
    }
    return now - since_ < commit_limit_;
}

ProgressWatch::clock::duration ProgressWatch::commit_stalled_for(clock::time_point now) const noexcept {
    return watching_ ? now - since_ : clock::duration::zero();
}

}  // namespace outpost::app
