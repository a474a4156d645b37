#include "outpost/ingest/modbus/poll_engine.hpp"

namespace outpost::ingest {

PollEngine::PollEngine(std::vector<ModbusDeviceOptions> devices, time_point start, std::uint64_t seed) {
    devices_.reserve(devices.size());
    std::size_t total = 0;
    for (auto& options : devices) {
        devices_.push_back(Device{std::move(options), CircuitBreaker({}, 0), {}, 0, SIZE_MAX});
        Device& d = devices_.back();
        d.breaker = CircuitBreaker(d.options.breaker, seed + devices_.size() * 7919);
    }
    std::vector<std::vector<PlannedRead>> plans;
    for (const auto& d : devices_) {
        plans.push_back(plan_reads(d.options.limits, d.options.ranges));
        total += plans.back().size();
    }
    // Stagger the first polls over 50 ms; the scheduler keeps each read's phase from then on.
    const auto spread = std::chrono::milliseconds{50};
    std::size_t n = 0;
    for (std::size_t dev = 0; dev < devices_.size(); ++dev) {
        for (const auto& plan : plans[dev]) {
            const auto offset = total > 1 ? spread * static_cast<long>(n) / static_cast<long>(total) : spread * 0;
            const std::size_t index = scheduler_.add(dev, plan, start + offset);
            auto& fastest = devices_[dev].fastest_read;
            if (fastest == SIZE_MAX || plan.period < scheduler_.entry(fastest).plan.period) fastest = index;
            ++n;
        }
    }
}

PollEngine::Step PollEngine::next(time_point now) {
    Step step;
    if (retry_pending_) {
        retry_pending_ = false;
        in_flight_ = true;
        const auto& entry = scheduler_.entry(current_);
        step.kind = Step::Kind::send;
        step.device = entry.device;
        step.read = entry.plan.read;
        step.response_timeout = devices_[entry.device].options.response_timeout;
        step.retry = true;
        return step;
    }
    for (;;) {
        const auto index = scheduler_.next(now);
        if (!index) {
            step.kind = Step::Kind::wait;
            step.wake = scheduler_.next_due();
            return step;
        }
        const auto& entry = scheduler_.entry(*index);
        Device& d = devices_[entry.device];
        if (!d.breaker.allow(now)) {
            scheduler_.defer(*index, d.breaker.retry_at());
            continue;
        }
        scheduler_.started(*index, now);
        current_ = *index;
        attempt_ = 0;
        in_flight_ = true;
        step.kind = Step::Kind::send;
        step.device = entry.device;
        step.read = entry.plan.read;
        step.response_timeout = d.options.response_timeout;
        return step;
    }
}

void PollEngine::on_result(time_point now, ModbusOutcome outcome, ModbusException exception, std::int64_t response_ns) {
    if (!in_flight_) return;
    in_flight_ = false;
    Device& d = devices_[scheduler_.entry(current_).device];
    ++d.counters.requests;
    d.counters.count(outcome, exception);
    const bool alive = outcome == ModbusOutcome::ok ||
                       (outcome == ModbusOutcome::exception && !is_gateway_failure(exception));
    if (alive) {
        d.breaker.on_success();
        if (outcome == ModbusOutcome::ok) d.last_response_ns = response_ns;
        return;
    }
    // A probe of a half-open breaker gets no retries: one timeout per backoff period is the cost.
    if (attempt_ < d.options.retries && d.breaker.state() == BreakerState::closed) {
        ++attempt_;
        ++d.counters.retries;
        retry_pending_ = true;
        return;
    }
    d.breaker.on_failure(now);
}

void PollEngine::on_transport_down(time_point) {
    if (!in_flight_) return;
    in_flight_ = false;
    retry_pending_ = false;
    Device& d = devices_[scheduler_.entry(current_).device];
    ++d.counters.requests;
    d.counters.count(ModbusOutcome::io_error, {});
}

ModbusDeviceStats PollEngine::device_stats(std::size_t index) const {
    const Device& d = devices_.at(index);
    ModbusDeviceStats s;
    s.name = d.options.name;
    s.unit = d.options.limits.unit;
    s.counters = d.counters;
    s.breaker = d.breaker.state();
    s.breaker_opens = d.breaker.opens();
    s.consecutive_failures = d.breaker.consecutive_failures();
    if (d.fastest_read != SIZE_MAX) {
        const auto& e = scheduler_.entry(d.fastest_read);
        s.configured_period = e.plan.period;
        s.achieved_period = e.achieved;
    }
    s.last_response_ns = d.last_response_ns;
    return s;
}

ModbusCounters PollEngine::line_counters() const {
    ModbusCounters sum;
    for (const auto& d : devices_) {
        const auto& c = d.counters;
        sum.requests += c.requests;
        sum.responses += c.responses;
        sum.exceptions += c.exceptions;
        sum.timeouts += c.timeouts;
        sum.truncated += c.truncated;
        sum.crc_errors += c.crc_errors;
        sum.wrong_unit += c.wrong_unit;
        sum.malformed += c.malformed;
        sum.io_errors += c.io_errors;
        sum.retries += c.retries;
        for (std::size_t i = 0; i < sum.exceptions_by_code.size(); ++i) sum.exceptions_by_code[i] += c.exceptions_by_code[i];
    }
    return sum;
}

}  // namespace outpost::ingest
