#include "outpost/ingest/wake_pacer.hpp"

#include <gtest/gtest.h>

namespace {

using outpost::ingest::WakePacer;
using namespace std::chrono_literals;

const WakePacer::Clock::time_point t0{std::chrono::seconds(100)};

TEST(WakePacer, AQuietSourceLooksAgainAtOnce) {
    WakePacer pacer(2ms);
    // One frame every 10 ms: never paced.
    for (int i = 0; i < 5; ++i) {
        const auto now = t0 + i * 10ms;
        EXPECT_EQ(pacer.on_look(now, 1), now);
    }
    // Woken with nothing to read (a spurious wake-up): not paced either.
    EXPECT_EQ(pacer.on_look(t0 + 60ms, 0), t0 + 60ms);
}

TEST(WakePacer, ABusySourceLooksAgainOneIntervalLater) {
    WakePacer pacer(2ms);
    // A burst starts: the first frame is read at once, so is its look.
    EXPECT_EQ(pacer.on_look(t0, 1), t0);
    // The next frame 125 us later: busy, the next look is an interval away.
    EXPECT_EQ(pacer.on_look(t0 + 125us, 1), t0 + 125us + 2ms);
    // Each paced look finds the frames that came meanwhile (16 at 8,000 frames/s): still busy.
    auto now = t0 + 125us + 2ms;
    for (int i = 0; i < 100; ++i) {
        EXPECT_EQ(pacer.on_look(now, 16), now + 2ms);
        now += 2ms;
    }
    // 200 ms of a saturated bus cost 102 looks, not 1,600.
}

TEST(WakePacer, ASourceThatFallsQuietIsReadAtOnceAgain) {
    WakePacer pacer(2ms);
    EXPECT_EQ(pacer.on_look(t0, 16), t0 + 2ms);
    // The paced look finds a single frame, and the previous look was an interval ago: quiet.
    EXPECT_EQ(pacer.on_look(t0 + 2ms, 1), t0 + 2ms);
    EXPECT_EQ(pacer.on_look(t0 + 50ms, 1), t0 + 50ms);
}

TEST(WakePacer, AZeroIntervalNeverDelays) {
    WakePacer pacer(WakePacer::Clock::duration::zero());
    EXPECT_EQ(pacer.on_look(t0, 100), t0);
    EXPECT_EQ(pacer.on_look(t0 + 1us, 3), t0 + 1us);
}

}  // namespace
