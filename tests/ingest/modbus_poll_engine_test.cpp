#include "outpost/ingest/modbus/poll_engine.hpp"

#include <gtest/gtest.h>

#include <map>

#include "outpost/ingest/modbus/circuit_breaker.hpp"

namespace outpost::ingest {
namespace {

using namespace std::chrono_literals;
using tp = std::chrono::steady_clock::time_point;
constexpr auto hr = core::ModbusTable::holding_registers;

TEST(CircuitBreaker, OpensAfterTheThresholdAndProbes) {
    CircuitBreaker b({3, 1000ms, 8000ms}, 42);
    const tp t0{};
    EXPECT_TRUE(b.allow(t0));
    b.on_failure(t0);
    b.on_failure(t0);
    EXPECT_EQ(b.state(), BreakerState::closed);
    b.on_failure(t0);
    ASSERT_EQ(b.state(), BreakerState::open);
    EXPECT_EQ(b.opens(), 1u);
    // Equal jitter: between half the ceiling and the ceiling.
    EXPECT_GE(b.retry_at(), t0 + 500ms);
    EXPECT_LE(b.retry_at(), t0 + 1000ms);
    EXPECT_FALSE(b.allow(t0 + 499ms));
    EXPECT_TRUE(b.allow(b.retry_at()));
    EXPECT_EQ(b.state(), BreakerState::half_open);
    // A failed probe opens it again for longer.
    const tp t1 = b.retry_at();
    b.on_failure(t1);
    EXPECT_EQ(b.state(), BreakerState::open);
    EXPECT_GE(b.retry_at(), t1 + 1000ms);
    EXPECT_LE(b.retry_at(), t1 + 2000ms);
    EXPECT_EQ(b.opens(), 1u);  // still the same outage
    // ... up to the cap.
    tp t = t1;
    for (int i = 0; i < 10; ++i) {
        t = b.retry_at();
        ASSERT_TRUE(b.allow(t));
        b.on_failure(t);
    }
    EXPECT_GE(b.retry_at(), t + 4000ms);
    EXPECT_LE(b.retry_at(), t + 8000ms);
    // A successful probe closes it and resets the backoff.
    ASSERT_TRUE(b.allow(b.retry_at()));
    b.on_success();
    EXPECT_EQ(b.state(), BreakerState::closed);
    EXPECT_EQ(b.consecutive_failures(), 0u);
    EXPECT_STREQ(to_string(BreakerState::half_open), "half_open");
}

ModbusDeviceOptions device(std::uint8_t unit, std::chrono::milliseconds period, unsigned retries = 1) {
    ModbusDeviceOptions d;
    d.name = "dev" + std::to_string(unit);
    d.limits.unit = unit;
    d.ranges = {{hr, 0, 4, period}};
    d.retries = retries;
    d.response_timeout = 100ms;
    d.breaker = {3, 1000ms, 10000ms};
    return d;
}

TEST(PollEngine, RetriesThenOpensTheBreakerOfADeadDevice) {
    const tp t0{};
    PollEngine e({device(1, 100ms), device(2, 100ms)}, t0, 1);
    tp now = t0;
    std::map<std::uint8_t, int> sent;
    // Simulate 60 s of line time: unit 2 never answers (100 ms timeout), unit 1 answers in 10 ms.
    while (now < t0 + 60s) {
        auto step = e.next(now);
        if (step.kind == PollEngine::Step::Kind::wait) {
            ASSERT_NE(step.wake, tp::max());
            now = std::max(now + 1ms, step.wake);
            continue;
        }
        ++sent[step.read.unit];
        EXPECT_EQ(step.response_timeout, 100ms);
        if (step.read.unit == 1) {
            now += 10ms;
            e.on_result(now, ModbusOutcome::ok, {}, 1);
        } else {
            now += 100ms;
            e.on_result(now, ModbusOutcome::timeout);
        }
    }
    const auto healthy = e.device_stats(0);
    const auto dead = e.device_stats(1);
    EXPECT_EQ(dead.breaker, BreakerState::open);
    EXPECT_EQ(dead.breaker_opens, 1u);
    // The dead device costs little: 3 failures x 2 attempts, then about one probe per 5-10 s.
    EXPECT_LE(sent[2], 6 + 12);
    EXPECT_EQ(dead.counters.timeouts, static_cast<std::uint64_t>(sent[2]));
    EXPECT_EQ(dead.counters.retries, 3u);
    // The healthy one keeps its rate: 600 polls in 60 s, minus what the dead one's timeouts took.
    EXPECT_GE(healthy.counters.responses, 570u);
    EXPECT_EQ(healthy.configured_period, 100ms);
    EXPECT_NEAR((std::chrono::duration<double, std::milli>(healthy.achieved_period).count()), 100.0, 5.0);
    EXPECT_EQ(healthy.last_response_ns, 1);
    const auto line = e.line_counters();
    EXPECT_EQ(line.requests, healthy.counters.requests + dead.counters.requests);
}

TEST(PollEngine, ExceptionsKeepTheDeviceAliveButGatewayFailuresDoNot) {
    const tp t0{};
    PollEngine e({device(1, 100ms, 0)}, t0, 1);
    tp now = t0;
    for (int i = 0; i < 5; ++i) {
        auto step = e.next(now);
        while (step.kind == PollEngine::Step::Kind::wait) step = e.next(now = step.wake);
        e.on_result(now, ModbusOutcome::exception, ModbusException::illegal_data_address);
    }
    auto s = e.device_stats(0);
    EXPECT_EQ(s.breaker, BreakerState::closed);
    EXPECT_EQ(s.counters.exceptions, 5u);
    EXPECT_EQ(s.counters.exceptions_by_code[2], 5u);
    for (int i = 0; i < 3; ++i) {
        auto step = e.next(now);
        while (step.kind == PollEngine::Step::Kind::wait) step = e.next(now = step.wake);
        e.on_result(now, ModbusOutcome::exception, ModbusException::gateway_target_failed);
    }
    s = e.device_stats(0);
    EXPECT_EQ(s.breaker, BreakerState::open);
    EXPECT_EQ(s.counters.exceptions_by_code[0x0B], 3u);
}

TEST(PollEngine, EachOutcomeIsCounted) {
    const tp t0{};
    PollEngine e({device(1, 10ms, 0)}, t0, 1);
    tp now = t0;
    const ModbusOutcome outcomes[] = {ModbusOutcome::crc_error, ModbusOutcome::ok, ModbusOutcome::wrong_unit,
                                      ModbusOutcome::ok, ModbusOutcome::malformed, ModbusOutcome::truncated,
                                      ModbusOutcome::ok, ModbusOutcome::timeout, ModbusOutcome::ok};
    for (const auto o : outcomes) {
        auto step = e.next(now);
        while (step.kind == PollEngine::Step::Kind::wait) step = e.next(now = step.wake);
        e.on_result(now, o);
    }
    const auto c = e.device_stats(0).counters;
    EXPECT_EQ(c.requests, 9u);
    EXPECT_EQ(c.responses, 4u);
    EXPECT_EQ(c.crc_errors, 1u);
    EXPECT_EQ(c.wrong_unit, 1u);
    EXPECT_EQ(c.malformed, 1u);
    EXPECT_EQ(c.truncated, 1u);
    EXPECT_EQ(c.timeouts, 1u);
    EXPECT_EQ(e.device_stats(0).breaker, BreakerState::closed);
}

TEST(PollEngine, TransportDownIsNotTheDevicesFault) {
    const tp t0{};
    PollEngine e({device(1, 10ms, 2)}, t0, 1);
    tp now = t0;
    for (int i = 0; i < 10; ++i) {
        auto step = e.next(now);
        while (step.kind == PollEngine::Step::Kind::wait) step = e.next(now = step.wake);
        EXPECT_FALSE(step.retry);
        e.on_transport_down(now);
    }
    const auto s = e.device_stats(0);
    EXPECT_EQ(s.counters.io_errors, 10u);
    EXPECT_EQ(s.breaker, BreakerState::closed);
    EXPECT_FALSE(e.in_flight());
}

}  // namespace
}  // namespace outpost::ingest
