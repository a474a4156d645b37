// The delivery state machine driven by scripted events, no broker, no socket, no clock: each test
// reads as a transcript of events in and actions out.
#include "outpost/uplink/delivery_machine.hpp"

#include <gtest/gtest.h>

#include "machine_rig.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace outpost;
using namespace outpost::uplink;
using namespace std::chrono_literals;
using outpost::test::FakeSource;
using outpost::test::Lines;
using outpost::test::opts;
using outpost::test::Rig;
using outpost::test::without_timer;


TEST(DeliveryMachine, ConnectsAtOnceThenFillsTheWindowInPriorityOrder) {
    Rig r(opts(3));
    for (std::uint64_t s = 1; s <= 4; ++s) r.source.add(s, 3);
    r.source.add(5, 9);
    EXPECT_EQ(r.start(), (Lines{"connect 0", "timer"}));
    EXPECT_EQ(r.armed_in(), 10s);  // the connect timeout
    EXPECT_EQ(without_timer(r.connack()), (Lines{"status online", "publish 5", "publish 1", "publish 2"}));
    EXPECT_EQ(r.machine.stats().inflight, 3u);
    EXPECT_EQ(r.ack(5), (Lines{"ack 5", "publish 3"}));
    EXPECT_EQ(r.ack(1), (Lines{"ack 1", "publish 4"}));
    EXPECT_EQ(r.ack(2), (Lines{"ack 2"}));
    EXPECT_EQ(r.ack(3), (Lines{"ack 3"}));
    EXPECT_FALSE(r.machine.drained());
    EXPECT_EQ(without_timer(r.ack(4)), (Lines{"ack 4"}));
    EXPECT_TRUE(r.machine.drained());
    EXPECT_EQ(r.machine.stats().acknowledged, 5u);
}

TEST(DeliveryMachine, TheBrokersReceiveMaximumBoundsTheWindowForThatConnection) {
    // mosquitto's default is 20: more would wait inside libmosquitto, not on the wire.
    Rig r(opts(4));
    for (std::uint64_t s = 1; s <= 8; ++s) r.source.add(s);
    r.start();
    EXPECT_EQ(without_timer(r.connack(0, 2)), (Lines{"status online", "publish 1", "publish 2"}));
    EXPECT_EQ(r.machine.stats().window, 2u);
    EXPECT_EQ(r.ack(1), (Lines{"ack 1", "publish 3"}));
    EXPECT_EQ(r.ack(2), (Lines{"ack 2", "publish 4"}));
    // The next broker sends a larger one: the configured window is the ceiling again.
    r.lost(UplinkError::connection_lost);
    EXPECT_EQ(r.machine.stats().window, 0u);
    r.fire();
    EXPECT_EQ(without_timer(r.connack(0, 1000)), (Lines{"status online", "publish 3", "publish 4", "publish 5", "publish 6"}));
    EXPECT_EQ(r.machine.stats().window, 4u);
}

TEST(DeliveryMachine, AfterALostConnectionWhatWasNotAcknowledgedGoesOutFirst) {
    // PUBACK for 1 and 3, connection lost: resend 2 then 4.
    Rig r(opts(3));
    for (std::uint64_t s = 1; s <= 5; ++s) r.source.add(s);
    r.start();
    EXPECT_EQ(without_timer(r.connack()), (Lines{"status online", "publish 1", "publish 2", "publish 3"}));
    EXPECT_EQ(r.ack(1), (Lines{"ack 1", "publish 4"}));
    EXPECT_EQ(r.ack(3), (Lines{"ack 3", "publish 5"}));
    EXPECT_EQ(r.lost(UplinkError::connection_lost), (Lines{"close", "timer"}));
    EXPECT_EQ(r.machine.stats().inflight, 0u);
    EXPECT_EQ(r.machine.state(), DeliveryMachine::State::waiting);
    EXPECT_LE(r.armed_in(), 500ms);  // the first retry: full jitter under the initial ceiling
    EXPECT_EQ(r.fire(), (Lines{"connect 0", "timer"}));
    EXPECT_EQ(without_timer(r.connack()), (Lines{"status online", "publish 2", "publish 4", "publish 5"}));
    EXPECT_EQ(r.machine.stats().published, 8u);
    EXPECT_EQ(r.machine.stats().disconnects, 1u);
}

TEST(DeliveryMachine, QosZeroIsAcknowledgedOnceWritten) {
    // The shell reports a QoS 0 message as acknowledged (reason 0) when it has been written.
    Rig r(opts(3));
    r.source.add(1, 5, 0);
    r.start();
    r.connack();
    EXPECT_EQ(without_timer(r.ack(1, 0)), (Lines{"ack 1"}));
    EXPECT_TRUE(r.machine.drained());
}

TEST(DeliveryMachine, AMessageTheBrokerRefusesIsDiscardedWithALossRecord) {
    Rig r(opts(3));
    r.source.add(1);
    r.source.add(2);
    r.start();
    r.connack();
    EXPECT_EQ(r.ack(1, 0x87), (Lines{"discard 1 message_rejected"}));  // Not authorized (for that topic)
    EXPECT_EQ(r.machine.stats().rejected, 1u);
    EXPECT_EQ(r.ack(2, 0x10), (Lines{"ack 2", "timer"}));  // No matching subscribers is a success
}

TEST(DeliveryMachine, ABusyBrokerKeepsTheMessageAndTheLinkRestartsLater) {
    Rig r(opts(3));
    r.source.add(1);
    r.start();
    r.connack();
    EXPECT_EQ(r.ack(1, 0x97), (Lines{"close", "timer"}));  // Quota exceeded
    EXPECT_EQ(r.source.size(), 1u);
    EXPECT_EQ(r.machine.stats().last_error, static_cast<int>(UplinkError::quota_exceeded));
    r.fire();
    EXPECT_EQ(without_timer(r.connack()), (Lines{"status online", "publish 1"}));
}

TEST(DeliveryMachine, AnUnpublishableMessageIsDiscardedAndOutOfMemoryRestartsTheLink) {
    Rig r(opts(3));
    for (std::uint64_t s = 1; s <= 3; ++s) r.source.add(s);
    r.start();
    r.refuse_next = UplinkError::message_unpublishable;
    EXPECT_EQ(without_timer(r.connack()),
              (Lines{"status online", "publish 1", "publish 2", "publish 3", "discard 1 message_unpublishable"}));
    r.ack(2);
    r.ack(3);
    r.source.add(4);
    r.refuse_next = UplinkError::out_of_memory;
    EXPECT_EQ(r.feed(event::OutboxChanged{}), (Lines{"publish 4", "close", "timer"}));
    EXPECT_EQ(r.source.size(), 1u);  // kept: no loss record for a transient failure
    r.fire();
    EXPECT_EQ(without_timer(r.connack()), (Lines{"status online", "publish 4"}));
}

TEST(DeliveryMachine, ARefusingConnackIsRetriedAtTheCapWhenOnlyAPersonCanFixIt) {
    // CONNACK 0x87: not authorized, long backoff.
    Rig r(opts(3));
    r.start();
    EXPECT_EQ(r.connack(0x87), (Lines{"close", "timer"}));
    EXPECT_GE(r.armed_in(), 4000ms);
    EXPECT_LE(r.armed_in(), 8000ms);
    EXPECT_EQ(r.machine.stats().connect_failures, 1u);
    EXPECT_FALSE(is_transient(UplinkError::not_authorized));
    // A busy server: the upper half of the current ceiling.
    r.fire();
    EXPECT_EQ(r.connack(0x89), (Lines{"close", "timer"}));
    EXPECT_GE(r.armed_in(), 250ms);
}

TEST(DeliveryMachine, ASessionTakenOverBacksOffFurtherEachTime) {
    // Two gateways with one client id throw each other off: the ceiling keeps doubling because no
    // connection stays up long enough to reset it.
    Rig r(opts(3));
    r.start();
    std::vector<std::chrono::milliseconds> ceilings;
    for (int i = 0; i < 6; ++i) {
        r.connack();
        r.now += 2s;
        r.feed(event::Lost{UplinkError::session_taken_over, "the broker ended the session: Session taken over"});
        ceilings.push_back(r.machine.backoff_ceiling());
        r.fire();
    }
    EXPECT_EQ(ceilings, (std::vector<std::chrono::milliseconds>{1000ms, 2000ms, 4000ms, 8000ms, 8000ms, 8000ms}));
    EXPECT_EQ(r.machine.stats().disconnects, 6u);
}

TEST(DeliveryMachine, TheBackoffResetsOnlyAfterAStableConnectionThatMadeProgress) {
    auto o = opts(3);
    o.progress_timeout = 60s;
    Rig r(o);
    r.start();
    r.lost(UplinkError::connect_failed);
    r.fire();
    r.lost(UplinkError::connect_failed);
    r.fire();
    EXPECT_EQ(r.machine.backoff_ceiling(), 2000ms);
    r.source.add(1);
    r.connack();  // publishes 1, never acknowledged
    r.at(29s);
    EXPECT_EQ(r.machine.backoff_ceiling(), 2000ms);
    r.at(2s);  // stable for 31 s, but nothing acknowledged
    EXPECT_EQ(r.machine.backoff_ceiling(), 2000ms);
    r.ack(1);
    r.at(1s);
    EXPECT_EQ(r.machine.backoff_ceiling(), 500ms);
}

TEST(DeliveryMachine, WhileTheBrokerIsUnreachableTheWaitStaysUnderHalfTheOutage) {
    auto o = opts(3);
    o.backoff_max = 30s;
    Rig r(o);
    r.start();
    r.connack();
    const auto lost_at = r.now;
    r.lost(UplinkError::connection_lost);  // the broker went away
    for (int i = 0; i < 30; ++i) {
        r.fire();
        EXPECT_EQ(r.lost(UplinkError::connect_failed), (Lines{"close", "timer"}));
        const auto so_far = r.now - lost_at;
        EXPECT_LE(r.armed_in(), std::max<Clock::duration>(500ms, so_far / 2)) << "attempt " << i;
    }
    // The attempt-based ceiling has long reached the cap; the outage (its length so far) bounds the wait.
    EXPECT_EQ(r.machine.backoff_ceiling(), 30s);
}

TEST(DeliveryMachine, NoProgressWithMessagesInFlightDeclaresTheConnectionDead) {
    auto o = opts(3);
    o.stable_after = 300s;
    Rig r(o);
    r.source.add(1);
    r.source.add(2);
    r.start();
    r.connack();
    r.now += 15s;
    EXPECT_EQ(r.ack(1), (Lines{"ack 1"}));  // progress, and no timer work for it
    EXPECT_EQ(r.armed_in(), 5s);
    EXPECT_EQ(r.fire(), (Lines{"timer"}));  // the check moves on: 20 s from the acknowledgement
    EXPECT_EQ(r.armed_in(), 15s);
    EXPECT_EQ(r.fire(), (Lines{"close", "timer"}));
    EXPECT_EQ(r.machine.stats().progress_timeouts, 1u);
    EXPECT_EQ(r.machine.stats().last_error, static_cast<int>(UplinkError::progress_timeout));
    EXPECT_EQ(r.source.size(), 1u);
}

TEST(DeliveryMachine, ABlackholedBrokerIsAbandonedAtTheConnectTimeoutForTheNextAddress) {
    Rig r(opts(3, 2));
    EXPECT_EQ(r.start(), (Lines{"connect 0", "timer"}));
    EXPECT_EQ(r.fire(), (Lines{"close", "timer"}));  // no CONNACK within 10 s
    EXPECT_EQ(r.machine.stats().last_error, static_cast<int>(UplinkError::connect_timeout));
    EXPECT_LE(r.armed_in(), 500ms);  // another address is left in this round: soon
    EXPECT_EQ(r.fire(), (Lines{"connect 1", "timer"}));
    // The second fails too: the round is over, the backoff decides and the first address is next.
    EXPECT_EQ(r.lost(UplinkError::connect_failed), (Lines{"close", "timer"}));
    EXPECT_EQ(r.fire(), (Lines{"connect 0", "timer"}));
    EXPECT_EQ(r.machine.backoff_ceiling(), 1000ms);
}

TEST(DeliveryMachine, AServerThatMovedSendsUsToTheNextAddress) {
    Rig r(opts(3, 3));
    r.start();
    r.connack();
    r.lost(UplinkError::server_moved);
    EXPECT_EQ(r.fire(), (Lines{"connect 1", "timer"}));
}

TEST(DeliveryMachine, FailsBackToThePreferredAddressAfterTheWindowEmpties) {
    auto o = opts(3, 2);
    o.progress_timeout = 600s;
    Rig r(o);
    for (std::uint64_t s = 1; s <= 6; ++s) r.source.add(s);
    r.start();
    r.lost(UplinkError::connect_failed);
    EXPECT_EQ(r.fire(), (Lines{"connect 1", "timer"}));
    EXPECT_EQ(without_timer(r.connack()), (Lines{"status online", "publish 1", "publish 2", "publish 3"}));
    r.ack(1);  // publishes 4
    r.at(301s);  // failback time: stop sending, let the window empty
    EXPECT_EQ(r.ack(2), (Lines{"ack 2"}));
    EXPECT_EQ(r.ack(3), (Lines{"ack 3"}));
    EXPECT_EQ(r.ack(4), (Lines{"ack 4", "close graceful", "connect 0", "timer"}));
    EXPECT_EQ(r.machine.stats().failbacks, 1u);
    EXPECT_EQ(without_timer(r.connack()), (Lines{"status online", "publish 5", "publish 6"}));
}

TEST(DeliveryMachine, FailsBackWithinTheProgressTimeoutWhenAMessageStaysUnacknowledged) {
    auto o = opts(3, 2);
    o.progress_timeout = 60s;
    Rig r(o);
    r.source.add(1);
    r.source.add(2);
    r.start();
    r.lost(UplinkError::connect_failed);
    r.fire();
    r.connack();
    for (int i = 0; i < 6; ++i) {  // keep the link busy: acknowledgements every 50 s
        r.now += 50s;
        const auto seq = 10 + static_cast<std::uint64_t>(i);
        r.source.add(seq);
        EXPECT_EQ(r.feed(event::OutboxChanged{}), (Lines{"publish " + std::to_string(seq)}));
        const auto previous = i == 0 ? 1 : seq - 1;
        EXPECT_EQ(r.ack(previous), (Lines{"ack " + std::to_string(previous)}));
        r.feed(event::TimerFired{});
    }
    ASSERT_EQ(r.machine.stats().failbacks, 0u);
    ASSERT_EQ(r.machine.stats().progress_timeouts, 0u);
    ASSERT_EQ(r.machine.stats().connects, 1u);
    const auto failback_started = r.now;
    r.now += 1s;
    r.feed(event::TimerFired{});  // past 300 s on the second address: nothing more is sent
    r.source.add(99);
    EXPECT_EQ(r.feed(event::OutboxChanged{}), Lines{});
    Lines all;
    for (int i = 0; i < 4 && std::find(all.begin(), all.end(), "connect 0") == all.end(); ++i) {
        const auto l = r.fire();
        all.insert(all.end(), l.begin(), l.end());
    }
    EXPECT_NE(std::find(all.begin(), all.end(), "connect 0"), all.end());
    EXPECT_LE(r.now - failback_started, 61s);
    EXPECT_EQ(r.machine.stats().failbacks + r.machine.stats().progress_timeouts, 1u);
}

TEST(DeliveryMachine, PublishesHealthEveryIntervalWhileConnected) {
    auto o = opts(3);
    o.health_interval = 60s;
    Rig r(o);
    r.start();
    EXPECT_EQ(without_timer(r.connack()), (Lines{"status online", "health"}));
    EXPECT_EQ(r.fire(), (Lines{"timer"}));  // the stable check at 30 s
    EXPECT_EQ(r.fire(), (Lines{"health", "timer"}));
    EXPECT_EQ(r.armed_in(), 60s);
}

TEST(DeliveryMachine, StopSaysOfflineThenDisconnectsCleanly) {
    Rig r(opts(3));
    r.source.add(1);
    r.start();
    r.connack();
    EXPECT_EQ(r.feed(event::Stop{}), (Lines{"status offline", "close graceful", "timer"}));
    EXPECT_EQ(r.machine.state(), DeliveryMachine::State::stopped);
    EXPECT_EQ(r.timer, Clock::time_point::max());
    EXPECT_EQ(r.source.size(), 1u);  // in flight, not acknowledged: stays
    EXPECT_TRUE(r.ack(1).empty());   // nothing happens after a stop
    EXPECT_TRUE(r.feed(event::Start{}).empty());
}

TEST(DeliveryMachine, StopWhileConnectingClosesWithoutAStatus) {
    Rig r(opts(3));
    r.start();
    EXPECT_EQ(r.feed(event::Stop{}), (Lines{"close", "timer"}));
    EXPECT_EQ(r.machine.stats().connect_attempts, 1u);
}

TEST(DeliveryMachine, AServerThatMovedWithOneAddressLeftInTheRoundStillMovesOn) {
    Rig r(opts(3, 2));
    r.start();
    r.lost(UplinkError::connect_failed);  // address 0 failed: 1 is next in this round
    r.fire();
    r.connack();
    r.lost(UplinkError::server_moved);  // the round is over: the backoff, then address 0
    EXPECT_EQ(r.fire(), (Lines{"connect 0", "timer"}));
}

TEST(DeliveryMachine, LateEventsOfAnEarlierConnectionAreIgnored) {
    Rig r(opts(3));
    r.source.add(1);
    r.start();
    r.connack();
    r.lost(UplinkError::connection_lost);
    EXPECT_TRUE(r.ack(1).empty());
    EXPECT_TRUE(r.lost(UplinkError::connection_lost).empty());
    EXPECT_TRUE(r.connack().empty());  // not connecting
    r.fire();
    r.connack();
    EXPECT_TRUE(r.ack(99).empty());  // not in flight (a status message's PUBACK)
    EXPECT_EQ(r.source.size(), 1u);
}

TEST(DeliveryMachine, AnExhaustedSourceIsReadAgainOnlyOnceItChanged) {
    Rig r(opts(3));
    r.source.add(1);
    r.start();
    r.connack();
    const int after_connack = r.source.fetches;
    EXPECT_EQ(r.ack(1), (Lines{"ack 1", "timer"}));  // found nothing more: exhausted
    r.at(1s);
    r.at(1s);
    EXPECT_EQ(r.source.fetches, after_connack);
    r.source.add(2);  // a commit: the version moves, the next event looks again
    EXPECT_EQ(r.at(1s), (Lines{"publish 2", "timer"}));
    EXPECT_EQ(r.source.fetches, after_connack + 2);  // the new row, then nothing more
    EXPECT_EQ(r.feed(event::OutboxChanged{}), (Lines{}));
}

TEST(UplinkError, EveryErrorHasItsOwnNameAndEveryKnownReasonCodeItsWords) {
    std::set<std::string> names;
    for (int v = static_cast<int>(UplinkError::resolve_failed); v <= static_cast<int>(UplinkError::message_unpublishable); ++v) {
        const std::string name = to_string(static_cast<UplinkError>(v));
        EXPECT_NE(name, "unknown") << v;
        EXPECT_TRUE(names.insert(name).second) << name;
    }
    for (int code : {0x00, 0x04, 0x10, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8B, 0x8C,
                     0x8D, 0x8E, 0x8F, 0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C,
                     0x9D, 0x9F, 0xA0}) {
        EXPECT_EQ(reason_code_text(code).find("reason code"), std::string::npos) << code;
        // Every refusal maps to an error; a success never does.
        if (code >= 0x80) {
            EXPECT_NE(to_string(connack_error(code)), std::string("unknown"));
        }
    }
    EXPECT_EQ(connack_error(0x9C), UplinkError::server_moved);
    EXPECT_EQ(disconnect_error(0x8B), UplinkError::server_shutting_down);
    EXPECT_EQ(disconnect_error(0x97), UplinkError::quota_exceeded);
    EXPECT_EQ(disconnect_error(0x9F), UplinkError::connection_rate_exceeded);
    EXPECT_EQ(disconnect_error(0x00), UplinkError::connection_lost);
    EXPECT_EQ(connack_v311_to_reason_code(0), 0);
    EXPECT_EQ(connack_v311_to_reason_code(9), 0x80);
}

TEST(UplinkError, ReasonCodesReadAsWordsAndSortIntoTheSplit) {
    EXPECT_EQ(reason_code_text(0x8E), "Session taken over");
    EXPECT_EQ(reason_code_text(0xF1), "reason code 0xF1");
    EXPECT_EQ(disconnect_error(0x8E), UplinkError::session_taken_over);
    EXPECT_EQ(connack_error(connack_v311_to_reason_code(5)), UplinkError::not_authorized);
    EXPECT_EQ(connack_error(connack_v311_to_reason_code(3)), UplinkError::server_unavailable);
    EXPECT_TRUE(is_transient(UplinkError::session_taken_over));
    EXPECT_TRUE(is_transient(UplinkError::out_of_memory));
    EXPECT_FALSE(is_transient(UplinkError::tls_failed));
    EXPECT_TRUE(is_per_message(puback_error(0x90)));
    EXPECT_FALSE(is_per_message(puback_error(0x97)));
    const std::error_code ec = UplinkError::progress_timeout;
    EXPECT_EQ(ec.message(), "progress_timeout");
    EXPECT_STREQ(ec.category().name(), "outpost.uplink");
}
