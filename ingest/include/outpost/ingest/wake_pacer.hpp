#pragma once
// How often a busy source wakes the io thread. A source that keeps finding frames looks again only
// an interval after its last look, and takes everything that came meanwhile in one go; a quiet
// source looks again at once. A saturated 1 Mbit/s bus then costs the io thread one wake-up every
// 2 ms (16 frames) instead of one a frame: on 2 cores a wake-up (epoll, the switch to the thread and
// back) costs about what decoding the frame does, and the time goes to the uplink instead.
// Nothing is late by more than the interval, and frames keep their times: SocketCAN's are the
// kernel's receive stamps, a replay's are the times its log puts them at.
// Sans-I/O: times and counts in, a time out.
#include <chrono>
#include <cstddef>

namespace outpost::ingest {

class WakePacer {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr Clock::duration default_interval = std::chrono::milliseconds(2);

    explicit WakePacer(Clock::duration interval = default_interval) noexcept : interval_(interval) {}

    // The source looked at `now` and found `frames`. Returns when it should look again: `now`
    // while it is quiet (no frame, or one with the previous look an interval or more ago), else
    // `now` plus the interval. An interval of zero never paces.
    Clock::time_point on_look(Clock::time_point now, std::size_t frames) noexcept {
        const bool busy = frames > 1 || (looked_ && now - last_ < interval_ && frames > 0);
        looked_ = true;
        last_ = now;
        return busy ? now + interval_ : now;
    }

private:
    Clock::duration interval_;
    Clock::time_point last_{};
    bool looked_ = false;
};

}  // namespace outpost::ingest
