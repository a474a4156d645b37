#include "outpost/core/backoff.hpp"

#include <gtest/gtest.h>

using outpost::core::Backoff;
using std::chrono::milliseconds;

TEST(Backoff, CeilingDoublesUpToTheCap) {
    Backoff b(milliseconds(100), milliseconds(1000), 1);
    const std::vector<long> expected = {100, 200, 400, 800, 1000, 1000, 1000};
    for (long e : expected) {
        EXPECT_EQ(b.ceiling().count(), e);
        const auto d = b.next();
        EXPECT_GE(d.count(), 0);
        EXPECT_LE(d.count(), e);
    }
}

TEST(Backoff, ResetStartsOverFromTheInitialCeiling) {
    Backoff b(milliseconds(50), milliseconds(60'000), 7);
    for (int i = 0; i < 10; ++i) b.next();
    EXPECT_EQ(b.ceiling().count(), 51'200);  // 50 ms << 10
    b.reset();
    EXPECT_EQ(b.attempts(), 0u);
    EXPECT_EQ(b.ceiling().count(), 50);
}

TEST(Backoff, FullJitterSpreadsOverTheWholeRange) {
    // A fleet reconnecting at once must not retry in lockstep: draws cover [0, ceiling].
    long lowest = 1'000'000, highest = 0;
    for (std::uint64_t seed = 0; seed < 500; ++seed) {
        Backoff b(milliseconds(1000), milliseconds(1000), seed);
        const long d = b.next().count();
        lowest = std::min(lowest, d);
        highest = std::max(highest, d);
    }
    EXPECT_LT(lowest, 50);
    EXPECT_GT(highest, 950);
}

TEST(Backoff, ManyAttemptsDoNotOverflow) {
    Backoff b(milliseconds(1), milliseconds(30'000), 3);
    for (int i = 0; i < 200; ++i) {
        const auto d = b.next();
        ASSERT_GE(d.count(), 0);
        ASSERT_LE(d.count(), 30'000);
    }
}
