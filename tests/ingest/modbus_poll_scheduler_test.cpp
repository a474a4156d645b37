#include "outpost/ingest/modbus/poll_scheduler.hpp"

#include <gtest/gtest.h>

#include <map>

namespace outpost::ingest {
namespace {

using namespace std::chrono_literals;
using tp = PollScheduler::time_point;
constexpr auto hr = core::ModbusTable::holding_registers;

PlannedRead read(std::uint8_t unit, std::chrono::milliseconds period) {
    return {ModbusRead{unit, hr, 0, 1}, period};
}

TEST(PollScheduler, EarliestDueFirstKeepingPhase) {
    PollScheduler s;
    const tp t0{};
    s.add(0, read(1, 100ms), t0 + 10ms);
    s.add(1, read(2, 100ms), t0 + 5ms);
    EXPECT_FALSE(s.next(t0));
    EXPECT_EQ(s.next_due(), t0 + 5ms);
    EXPECT_EQ(s.next(t0 + 20ms), 1u);
    s.started(1, t0 + 20ms);  // late by 15 ms: next due stays in phase at 105 ms
    EXPECT_EQ(s.entry(1).due, t0 + 105ms);
    EXPECT_EQ(s.next(t0 + 20ms), 0u);
    s.started(0, t0 + 21ms);
    EXPECT_FALSE(s.next(t0 + 30ms));
    EXPECT_EQ(s.next_due(), t0 + 105ms);
}

TEST(PollScheduler, AFarBehindLineSkipsInsteadOfBursting) {
    PollScheduler s;
    const tp t0{};
    s.add(0, read(1, 10ms), t0);
    s.started(0, t0 + 55ms);
    EXPECT_EQ(s.entry(0).due, t0 + 55ms);
    EXPECT_EQ(s.entry(0).missed, 4u);
}

TEST(PollScheduler, SaturatedLineIsRoundRobinFair) {
    // Three devices all wanting 1 ms polls, transactions taking 10 ms: each gets a third.
    PollScheduler s;
    const tp t0{};
    for (std::size_t d = 0; d < 3; ++d) s.add(d, read(static_cast<std::uint8_t>(d + 1), 1ms), t0);
    std::map<std::size_t, int> served;
    tp now = t0;
    for (int i = 0; i < 300; ++i) {
        const auto next = s.next(now);
        ASSERT_TRUE(next);
        s.started(*next, now);
        ++served[s.entry(*next).device];
        now += 10ms;
    }
    for (std::size_t d = 0; d < 3; ++d) EXPECT_EQ(served[d], 100);
}

TEST(PollScheduler, TracksTheAchievedPeriod) {
    PollScheduler s;
    const tp t0{};
    s.add(0, read(1, 100ms), t0);
    EXPECT_EQ(s.entry(0).achieved, 0ns);
    s.started(0, t0);
    s.started(0, t0 + 150ms);
    EXPECT_EQ(s.entry(0).achieved, 150ms);
    for (int i = 2; i < 60; ++i) s.started(0, t0 + 150ms + (i - 1) * 100ms);
    EXPECT_NEAR((std::chrono::duration<double, std::milli>(s.entry(0).achieved).count()), 100.0, 1.0);
    EXPECT_EQ(s.entry(0).starts, 60u);
}

TEST(PollScheduler, DeferredReadsWait) {
    PollScheduler s;
    const tp t0{};
    s.add(0, read(1, 100ms), t0);
    s.add(1, read(2, 100ms), t0 + 1ms);
    s.defer(0, t0 + 5s);
    EXPECT_EQ(s.next(t0 + 2ms), 1u);
    s.started(1, t0 + 2ms);
    EXPECT_FALSE(s.next(t0 + 3ms));
    EXPECT_EQ(s.next_due(), t0 + 101ms);
    s.defer(1, t0);  // never moves a read earlier
    EXPECT_EQ(s.entry(1).due, t0 + 101ms);
}

}  // namespace
}  // namespace outpost::ingest
