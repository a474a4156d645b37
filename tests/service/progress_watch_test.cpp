#include "outpost/app/progress_watch.hpp"

#include <gtest/gtest.h>

using namespace outpost::app;
using namespace std::chrono_literals;

TEST(ProgressWatch, IdleIsProgress) {
    ProgressWatch w(10s);
    const ProgressWatch::clock::time_point t0{};
    for (int i = 0; i < 100; ++i) EXPECT_TRUE(w.observe(t0 + i * 1min, false, 0));
}

TEST(ProgressWatch, CommitsThatComeBackAreProgressHowEverBusy) {
    ProgressWatch w(10s);
    const ProgressWatch::clock::time_point t0{};
    // Always a commit in flight, but a different one at every look.
    for (std::uint64_t i = 0; i < 100; ++i) EXPECT_TRUE(w.observe(t0 + i * 5s, true, i));
}

TEST(ProgressWatch, ACommitStuckPastTheLimitStopsTheFeedAndComingBackRestoresIt) {
    ProgressWatch w(10s);
    const ProgressWatch::clock::time_point t0{};
    EXPECT_TRUE(w.observe(t0, true, 7));
    EXPECT_TRUE(w.observe(t0 + 9999ms, true, 7));
    EXPECT_EQ(w.commit_stalled_for(t0 + 9999ms), 9999ms);
    EXPECT_FALSE(w.observe(t0 + 10s, true, 7));
    EXPECT_FALSE(w.observe(t0 + 60s, true, 7));
    EXPECT_TRUE(w.observe(t0 + 61s, true, 8)) << "it finished and another began";
    EXPECT_TRUE(w.observe(t0 + 62s, false, 8));
    EXPECT_EQ(w.commit_stalled_for(t0 + 62s), 0s);
}
