// The delivery machine with batching, live-first order, pacing and byte budgets, driven by
// scripted events (machine_rig.hpp): no broker, no socket, no clock.
#include "outpost/uplink/delivery_machine.hpp"

#include <gtest/gtest.h>

#include <set>

#include "machine_rig.hpp"

using namespace outpost;
using namespace outpost::uplink;
using namespace std::chrono_literals;
using outpost::test::Lines;
using outpost::test::opts;
using outpost::test::Rig;
using outpost::test::without_timer;

namespace {

DeliveryOptions batching(std::size_t window = 4, std::size_t max_readings = 3) {
    auto o = opts(window);
    o.gateway_id = "gw";
    o.batch.enabled = true;
    o.batch.max_readings = max_readings;
    o.batch.max_delay = 2s;
    o.batch.unbatched_from_priority = 8;
    o.batch.group_levels = 1;
    return o;
}

std::string body(int value) { return "\"ts\":1700000000.000001,\"value\":" + std::to_string(value) + ",\"unit\":\"V\""; }

}  // namespace

TEST(Batching, ABacklogGoesInFullBatchesPerGroupAndOneAcknowledgementSettlesAll) {
    Rig r(batching(4, 3));
    // Two groups interleaved: site/a and site/b; per-topic order must hold inside each batch.
    for (std::uint64_t s = 1; s <= 8; ++s) r.source.add_reading(s, (s % 2 ? "site/a/x" : "site/b/y"), body(int(s)));
    r.start();
    EXPECT_EQ(without_timer(r.connack()),
              (Lines{"status online", "batch site/a/batch 1 3 5", "batch site/b/batch 2 4 6"}));
    // 7 and 8 wait for more (or their delay); one PUBACK acknowledges each reading of a batch.
    EXPECT_EQ(without_timer(r.ack(1)), (Lines{"ack 1", "ack 3", "ack 5"}));
    EXPECT_EQ(r.machine.stats().acknowledged, 3u);
    EXPECT_EQ(r.machine.stats().batches, 2u);
    EXPECT_EQ(r.machine.stats().published, 6u);
    EXPECT_EQ(without_timer(r.ack(2)), (Lines{"ack 2", "ack 4", "ack 6"}));
    EXPECT_FALSE(r.machine.drained());
}

TEST(Batching, APartialBatchWaitsItsDelayAndNoLonger) {
    Rig r(batching(4, 10));
    r.source.add_reading(1, "site/a/x", body(1));
    r.start();
    EXPECT_EQ(without_timer(r.connack()), (Lines{"status online"}));
    EXPECT_EQ(r.armed_in(), 2s);  // the batch delay
    r.now += 1s;
    r.source.add_reading(2, "site/a/x", body(2));
    EXPECT_EQ(r.feed(event::OutboxChanged{}), (Lines{}));  // joins the open batch, due at its first reading's delay
    EXPECT_EQ(r.armed_in(), 1s);
    EXPECT_EQ(without_timer(r.fire()), (Lines{"batch site/a/batch 1 2"}));
    EXPECT_EQ(without_timer(r.ack(1)), (Lines{"ack 1", "ack 2"}));
    EXPECT_TRUE(r.machine.drained());
}

TEST(Batching, HighPrioritiesRetainedAndUngroupableReadingsGoOnePerMessage) {
    Rig r(batching(8, 10));
    r.source.add_reading(1, "site/a/x", body(1), 9);                 // unbatched_from_priority 8
    r.source.add_reading(2, "site/a/soc", body(2), 5, 1, true);      // retained: its own message
    r.source.add_reading(3, "toplevel", body(3));                    // no group level to strip
    r.source.add_reading(4, "site/a/x", body(4));
    r.start();
    EXPECT_EQ(without_timer(r.connack()), (Lines{"status online", "publish 1", "publish 2", "publish 3"}));
    EXPECT_EQ(without_timer(r.fire()), (Lines{"batch site/a/batch 4"}));
}

TEST(Batching, TheCompactFormLeavesBodiesItCannotCarryToOnePerMessage) {
    auto o = batching(8, 10);
    o.batch.format.encoding = Encoding::cbor;
    Rig r(o);
    r.source.add_reading(1, "site/a/x", body(1));
    r.source.add_reading(2, "site/a/x", body(2) + ",\"out_of_range\":true");
    r.start();
    EXPECT_EQ(without_timer(r.connack()), (Lines{"status online", "publish 2"}));
    EXPECT_EQ(without_timer(r.fire()), (Lines{"batch site/a/batch 1"}));
    ASSERT_EQ(r.batches.size(), 1u);
    EXPECT_EQ(static_cast<unsigned char>(r.batches[0].payload[0]), 0x87);  // the compact array
}

TEST(Batching, ALostConnectionSendsEveryUnacknowledgedReadingAgainExactlyOnce) {
    Rig r(batching(2, 3));
    for (std::uint64_t s = 1; s <= 9; ++s) r.source.add_reading(s, "site/a/x", body(int(s)));
    r.start();
    EXPECT_EQ(without_timer(r.connack()), (Lines{"status online", "batch site/a/batch 1 2 3", "batch site/a/batch 4 5 6"}));
    EXPECT_EQ(without_timer(r.ack(4)), (Lines{"ack 4", "ack 5", "ack 6", "batch site/a/batch 7 8 9"}));
    r.lost(UplinkError::connection_lost);
    r.fire();
    EXPECT_EQ(without_timer(r.connack()), (Lines{"status online", "batch site/a/batch 1 2 3", "batch site/a/batch 7 8 9"}));
}

TEST(Batching, ABatchTheBrokerRefusesForGoodIsDiscardedReadingByReading) {
    Rig r(batching(4, 2));
    for (std::uint64_t s = 1; s <= 2; ++s) r.source.add_reading(s, "site/a/x", body(int(s)));
    r.start();
    r.connack();
    EXPECT_EQ(without_timer(r.ack(1, 0x99)), (Lines{"discard 1 message_rejected", "discard 2 message_rejected"}));
    EXPECT_EQ(r.machine.stats().rejected, 2u);
}

TEST(LiveFirst, AfterAReconnectNewReadingsOvertakeTheBacklogOfTheirPriorityOnly) {
    auto o = opts(1);
    o.live_first = true;
    Rig r(o);
    for (std::uint64_t s = 1; s <= 3; ++s) r.source.add(s, 5);  // the backlog
    r.source.add(4, 7);                                          // a stored higher priority
    r.start();
    EXPECT_EQ(without_timer(r.connack()), (Lines{"status online", "publish 4"}));
    r.source.add(5, 5);  // live, same priority as the backlog
    r.source.add(6, 3);  // live, lower priority
    EXPECT_EQ(without_timer(r.ack(4)), (Lines{"ack 4", "publish 5"}));
    EXPECT_EQ(without_timer(r.ack(5)), (Lines{"ack 5", "publish 1"}));
    EXPECT_EQ(without_timer(r.ack(1)), (Lines{"ack 1", "publish 2"}));
    EXPECT_EQ(without_timer(r.ack(2)), (Lines{"ack 2", "publish 3"}));
    EXPECT_EQ(without_timer(r.ack(3)), (Lines{"ack 3", "publish 6"}));
}

TEST(Pacing, TheCapSpacesPublishesByTheirEstimatedWireBytes) {
    auto o = opts(100);
    o.max_bytes_per_s = 1000;
    Rig r(o);
    // Each message: topic "t/N" (3) + body (9) + 64 envelope + 120 overhead = 196 estimated bytes.
    for (std::uint64_t s = 1; s <= 12; ++s) r.source.add(s);
    r.start();
    const auto first = without_timer(r.connack());
    // A second's worth (1000 bytes) may go at once: 6 messages take it below zero.
    EXPECT_EQ(first.size(), 1u + 6u);
    EXPECT_EQ(r.machine.stats().paced_waits, 1u);
    const auto wait = r.armed_in();
    EXPECT_GT(wait, 100ms);
    EXPECT_LT(wait, 200ms);  // 176 bytes owed at 1000 bytes/s
    const auto next = without_timer(r.fire());
    EXPECT_EQ(next.size(), 1u);  // one more, then owing again
}

TEST(Budget, LowPrioritiesAreHeldWhenTheBudgetRunsShortAndGoAgainInTheNextPeriod) {
    auto o = opts(10);
    o.budget.daily_bytes = 10'000;
    o.budget.reserve_fraction = 0.2;
    o.budget.always_from_priority = 8;
    Rig r(o);
    r.start();
    r.connack();
    EXPECT_TRUE(r.feed(event::LinkUsage{7'999, 7'999}).empty());  // under 80%
    EXPECT_EQ(r.feed(event::LinkUsage{8'000, 8'000}), (Lines{}));  // 80% reached: hold below 8
    EXPECT_EQ(r.machine.stats().held_below, 8);
    r.source.add(1, 5);
    r.source.add(2, 9);
    r.source.add(3, 2);
    EXPECT_EQ(without_timer(r.feed(event::OutboxChanged{})), (Lines{"publish 2"}));
    EXPECT_EQ(without_timer(r.ack(2)), (Lines{"ack 2"}));
    // A new day: usage starts again, what was held goes, in priority order, once.
    EXPECT_EQ(without_timer(r.feed(event::LinkUsage{0, 8'100})), (Lines{"publish 1", "publish 3"}));
    EXPECT_EQ(r.machine.stats().held_below, 0);
}

TEST(Budget, ReleasingRereadsWhatWasFetchedButNotSentWithoutRepeatingWhatWasSent) {
    auto o = batching(10, 2);
    o.budget.daily_bytes = 1000;
    Rig r(o);
    for (std::uint64_t s = 1; s <= 5; ++s) r.source.add_reading(s, "site/a/x", body(int(s)));
    r.start();
    EXPECT_EQ(without_timer(r.connack()), (Lines{"status online", "batch site/a/batch 1 2", "batch site/a/batch 3 4"}));
    // Reading 5 waits in an open batch when the budget runs short: it is held with it.
    EXPECT_EQ(without_timer(r.feed(event::LinkUsage{950, 950})), (Lines{}));
    EXPECT_EQ(without_timer(r.ack(1)), (Lines{"ack 1", "ack 2"}));
    EXPECT_EQ(without_timer(r.ack(3)), (Lines{"ack 3", "ack 4"}));
    EXPECT_EQ(without_timer(r.at(5s)), (Lines{}));  // its delay is over, but it is held
    EXPECT_EQ(without_timer(r.feed(event::LinkUsage{0, 0})), (Lines{}));  // read again, in a new batch
    EXPECT_EQ(without_timer(r.fire()), (Lines{"batch site/a/batch 5"}));
    std::multiset<std::uint64_t> sent;
    for (const auto& b : r.batches) {
        for (const auto& m : b.members) sent.insert(m.seq);
    }
    EXPECT_EQ(sent, (std::multiset<std::uint64_t>{1, 2, 3, 4, 5}));
}

TEST(InflightBytes, ASlowLinkGetsNoMoreThanTheByteLimitAheadOfANewReading) {
    auto o = opts(100);
    o.max_inflight_bytes = 40;  // each message: "t/N" (3) + body (9) = 12 stored bytes
    Rig r(o);
    for (std::uint64_t s = 1; s <= 6; ++s) r.source.add(s);
    r.start();
    EXPECT_EQ(without_timer(r.connack()), (Lines{"status online", "publish 1", "publish 2", "publish 3", "publish 4"}));
    EXPECT_EQ(r.machine.stats().inflight_bytes, 48u);
    // Under the limit again: one more may go (a message never waits for room it cannot get).
    EXPECT_EQ(without_timer(r.ack(1)), (Lines{"ack 1", "publish 5"}));
    EXPECT_EQ(without_timer(r.ack(2)), (Lines{"ack 2", "publish 6"}));
    EXPECT_EQ(r.machine.stats().inflight_bytes, 48u);
}
