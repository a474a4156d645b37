#include "outpost/uplink/delivery_machine.hpp"

#include <algorithm>

#include "outpost/core/log.hpp"

namespace outpost::uplink {
namespace {

using std::chrono::milliseconds;

template <class... F>
struct Overloaded : F... {
    using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

}  // namespace

DeliveryMachine::DeliveryMachine(DeliveryOptions options, MessageSource& source)
    : options_(std::move(options)),
      source_(source),
      backoff_(options_.backoff_initial, options_.backoff_max, options_.seed),
      rng_(options_.seed ^ 0x9e3779b97f4a7c15ull),
      window_(std::max<std::size_t>(options_.window, 1)),
      batcher_(options_.batch, options_.gateway_id) {
    if (options_.addresses.empty()) options_.addresses.emplace_back("broker");
    options_.fetch_batch = std::max<std::size_t>(options_.fetch_batch, 1);
}

bool DeliveryMachine::drained() const {
    return state_ == State::connected && window_.empty() && pending_.empty() && ready_pos_ >= ready_.size() &&
           batcher_.empty() && source_.empty();  // parked readings are still in the source, unless expired
}

void DeliveryMachine::handle(const Event& e, Clock::time_point now, std::vector<Action>& out) {
    std::visit(Overloaded{
                   [&](const event::Start&) {
                       if (state_ == State::idle) connect(0, now, out);
                   },
                   [&](const event::ConnAck& a) { on_connack(a, now, out); },
                   [&](const event::Published& p) { on_published(p.mid, now); },
                   [&](const event::PublishRefused& r) { on_refused(r, now, out); },
                   [&](const event::Acked& a) { on_acked(a.mid, a.reason_code, now, out); },
                   [&](const event::Lost& l) {
                       if (state_ == State::connecting || state_ == State::connected) {
                           end_connection(l.error, l.detail, now, out);
                       }
                   },
                   [&](const event::OutboxChanged&) {
                       exhausted_ = false;
                       pump(now, out);
                   },
                   [&](const event::TimerFired&) { on_timer(now, out); },
                   [&](const event::Stop&) { on_stop(out); },
                   [&](const event::LinkUsage& u) { on_usage(u, now, out); },
               },
               e);
    arm(out);
}

void DeliveryMachine::connect(std::size_t address, Clock::time_point now, std::vector<Action>& out) {
    address_ = address % options_.addresses.size();
    state_ = State::connecting;
    connect_deadline_ = now + options_.connect_timeout;
    ++stats_.connect_attempts;
    stats_.address = address_;
    out.push_back(action::Connect{address_});
}

void DeliveryMachine::on_connack(const event::ConnAck& ack, Clock::time_point now, std::vector<Action>& out) {
    if (state_ != State::connecting) return;
    const int code = ack.reason_code;
    if (code >= 0x80) {
        end_connection(connack_error(code), "the broker refused the connection: " + reason_code_text(code), now, out);
        return;
    }
    state_ = State::connected;
    stats_.connected = true;
    ++stats_.connects;
    // More than the broker's Receive Maximum would wait inside libmosquitto, not on the wire: the
    // backlog stays in the outbox instead, and the window counts only what the broker can take.
    window_limit_ = window_.capacity();
    if (ack.receive_maximum > 0) window_limit_ = std::min<std::size_t>(window_limit_, ack.receive_maximum);
    stats_.window = window_limit_;
    failed_in_round_ = 0;
    connected_at_ = now;
    stable_ = false;
    stable_at_ = now + options_.stable_after;
    acked_this_connection_ = 0;
    failing_back_ = false;
    failback_at_ = address_ != 0 && options_.failback_after.count() > 0 ? now + options_.failback_after
                                                                         : Clock::time_point::max();
    // What the last connection left unacknowledged goes out again first: every priority from the start.
    cursor_.reset();
    cursor_.live_from = options_.live_first ? source_.next_seq() : 0;
    cursor_.lowest_priority = lowest_;
    ready_.clear();
    ready_pos_ = 0;
    exhausted_ = false;
    tokens_ = static_cast<double>(options_.max_bytes_per_s);
    refilled_ = now;
    nlohmann::json fields = {{"address", options_.addresses[address_]}, {"attempt", stats_.connect_attempts},
                             {"backoff_ceiling_ms", backoff_.ceiling().count()}, {"window", window_limit_}};
    if (ack.receive_maximum > 0) fields["broker_receive_maximum"] = ack.receive_maximum;
    core::log_info("uplink.connected", "connected to the broker", fields);
    // Once per limit, not at every reconnect of a flapping link.
    if (window_limit_ < window_.capacity() && window_limit_ != limit_logged_) {
        core::log_info("uplink.window_limited", "the broker takes fewer unacknowledged messages than the configured "
                       "window; the drain keeps to its limit (on a slow link, raise it on the broker for more "
                       "throughput, e.g. mosquitto's max_inflight_messages)",
                       {{"inflight_window", window_.capacity()}, {"broker_receive_maximum", ack.receive_maximum}});
    }
    limit_logged_ = window_limit_;
    out.push_back(action::PublishStatus{true});
    if (options_.health_interval.count() > 0) {
        out.push_back(action::PublishHealth{});
        next_health_ = now + options_.health_interval;
    }
    pump(now, out);
}

void DeliveryMachine::on_published(int mid, Clock::time_point now) {
    if (pending_.empty()) return;  // a Close came first: the shell should not have fed this
    auto p = std::move(pending_.front());
    pending_.pop_front();
    if (window_.empty()) {
        last_progress_ = now;
        progress_check_ = now + options_.progress_timeout;
    }
    window_.add(mid, p.seq, p.priority, p.stored_bytes);
    if (p.members.empty()) {
        ++stats_.published;
    } else {
        stats_.published += p.members.size();
        ++stats_.batches;
        batch_members_[mid] = std::move(p.members);
    }
    stats_.inflight = window_.size();
}

void DeliveryMachine::on_refused(const event::PublishRefused& r, Clock::time_point now, std::vector<Action>& out) {
    if (pending_.empty()) return;
    auto p = std::move(pending_.front());
    pending_.pop_front();
    inflight_bytes_ -= std::min<std::size_t>(inflight_bytes_, p.stored_bytes);
    if (is_per_message(r.error)) {
        if (p.members.empty()) p.members.push_back({p.seq, p.priority, p.stored_bytes});
        stats_.inflight_bytes = inflight_bytes_;
        stats_.rejected += p.members.size();
        for (const auto& m : p.members) out.push_back(action::Discard{m.seq, m.priority, r.error});
        core::log_error("uplink.unpublishable", "a message cannot be published; it is recorded as a loss",
                        {{"seq", p.seq}, {"readings", p.members.size()}, {"error", to_string(r.error)}, {"detail", r.detail}});
        pump(now, out);
        return;
    }
    // Out of memory, or the connection went: the message stays in the outbox for the next connection.
    if (state_ == State::connected) end_connection(r.error, r.detail, now, out);
}

void DeliveryMachine::on_acked(int mid, int reason, Clock::time_point now, std::vector<Action>& out) {
    if (state_ != State::connected) return;
    const auto entry = window_.release(mid);
    if (!entry) return;  // a status message, or a packet of an earlier connection
    stats_.inflight = window_.size();
    inflight_bytes_ -= std::min<std::size_t>(inflight_bytes_, entry->stored_bytes);
    stats_.inflight_bytes = inflight_bytes_;
    std::vector<InflightWindow::Entry> members;
    if (!batch_members_.empty()) {
        if (const auto it = batch_members_.find(mid); it != batch_members_.end()) {
            members = std::move(it->second);
            batch_members_.erase(it);
        }
    }
    if (members.empty()) members.push_back(*entry);
    if (reason < 0x80) {
        stats_.acknowledged += members.size();
        ++acked_this_connection_;
        last_progress_ = now;
        for (const auto& m : members) out.push_back(action::Acknowledge{m.seq, m.stored_bytes, m.priority});
    } else if (const auto error = puback_error(reason); is_per_message(error)) {
        stats_.rejected += members.size();
        last_progress_ = now;
        for (const auto& m : members) out.push_back(action::Discard{m.seq, m.priority, error});
        core::log_error("uplink.rejected", "the broker refused a message; it is recorded as a loss",
                        {{"seq", entry->seq}, {"readings", members.size()}, {"reason_code", reason},
                         {"reason", reason_code_text(reason)}});
    } else {
        // Busy or over quota: the message stays in the outbox; come back later.
        end_connection(error, "the broker did not take a message: " + reason_code_text(reason), now, out);
        return;
    }
    if (failing_back_ && window_.empty() && pending_.empty()) {
        fail_back(now, out);
        return;
    }
    pump(now, out);
}

void DeliveryMachine::on_timer(Clock::time_point now, std::vector<Action>& out) {
    switch (state_) {
        case State::waiting:
            if (now >= retry_at_) connect(address_, now, out);
            return;
        case State::connecting:
            if (now >= connect_deadline_) {
                end_connection(UplinkError::connect_timeout,
                               "no CONNACK within " + std::to_string(options_.connect_timeout.count()) + " ms", now, out);
            }
            return;
        case State::connected:
            break;
        case State::idle:
        case State::stopped:
            return;
    }
    // The check is armed when the window fills and moved on lazily, so an acknowledgement costs no
    // timer: at the check, a connection that acknowledged something since gets a new deadline.
    if (!window_.empty() && now >= progress_check_ && now < last_progress_ + options_.progress_timeout) {
        progress_check_ = last_progress_ + options_.progress_timeout;
    } else if (!window_.empty() && now >= progress_check_) {
        ++stats_.progress_timeouts;
        end_connection(UplinkError::progress_timeout,
                       std::to_string(window_.size()) + " messages in flight and nothing acknowledged for " +
                           std::to_string(options_.progress_timeout.count()) + " ms",
                       now, out);
        return;
    }
    if (!stable_ && now >= stable_at_) {
        if (acked_this_connection_ > 0 || window_.empty()) {
            stable_ = true;
            backoff_.reset();
            trouble_since_ = Clock::time_point::max();
        } else {
            stable_at_ = now + std::chrono::seconds(1);
        }
    }
    if (options_.health_interval.count() > 0 && now >= next_health_) {
        out.push_back(action::PublishHealth{});
        next_health_ = now + options_.health_interval;
    }
    if (now >= failback_at_) {
        if (!failing_back_) {
            // Stop sending and give what is in flight a chance to be acknowledged first.
            failing_back_ = true;
            failback_at_ = now + options_.progress_timeout;
            core::log_info("uplink.failback", "returning to the preferred broker address",
                           {{"from", options_.addresses[address_]}, {"to", options_.addresses[0]},
                            {"inflight", window_.size()}});
        }
        if ((window_.empty() && pending_.empty()) || now >= failback_at_) fail_back(now, out);
        return;
    }
    // Batches that fell due, and the end of a pacing wait.
    pump(now, out);
}

void DeliveryMachine::fail_back(Clock::time_point now, std::vector<Action>& out) {
    out.push_back(action::Close{true});
    forget_connection();
    ++stats_.failbacks;
    connect(0, now, out);
}

void DeliveryMachine::on_stop(std::vector<Action>& out) {
    if (state_ == State::stopped) return;
    if (state_ == State::connected) {
        out.push_back(action::PublishStatus{false});
        out.push_back(action::Close{true});
    } else if (state_ == State::connecting) {
        out.push_back(action::Close{false});
    }
    forget_connection();
    state_ = State::stopped;
}

void DeliveryMachine::forget_connection() {
    stats_.connected = false;
    stats_.window = 0;
    window_.clear();
    pending_.clear();
    ready_.clear();
    ready_pos_ = 0;
    batcher_.clear();
    batch_members_.clear();
    parked_.clear();
    inflight_bytes_ = 0;
    stats_.inflight_bytes = 0;
    paced_until_ = Clock::time_point::max();
    stats_.inflight = 0;
    failing_back_ = false;
    failback_at_ = Clock::time_point::max();
}

void DeliveryMachine::end_connection(UplinkError error, const std::string& detail, Clock::time_point now,
                                     std::vector<Action>& out) {
    const bool was_connected = state_ == State::connected;
    const auto inflight = window_.size();
    out.push_back(action::Close{false});
    forget_connection();
    stats_.last_error = static_cast<int>(error);
    if (was_connected) {
        ++stats_.disconnects;
    } else {
        ++stats_.connect_failures;
    }
    const auto failed_address = address_;
    if (trouble_since_ == Clock::time_point::max()) trouble_since_ = now;
    // An unreachable broker: keep the wait under half the outage so far (see the header).
    const auto limit = was_connected ? options_.backoff_max
                                     : std::chrono::duration_cast<milliseconds>(now - trouble_since_) / 2;
    milliseconds delay{};
    if (options_.addresses.size() > 1 && ++failed_in_round_ < options_.addresses.size()) {
        // Another address is left in this round: try it soon.
        address_ = (address_ + 1) % options_.addresses.size();
        delay = short_jitter();
    } else {
        failed_in_round_ = 0;
        address_ = 0;
        delay = reconnect_delay(error, limit);
    }
    if (error == UplinkError::server_moved && options_.addresses.size() > 1 && address_ == failed_address) {
        address_ = (address_ + 1) % options_.addresses.size();
    }
    state_ = State::waiting;
    retry_at_ = now + delay;
    stats_.address = address_;
    const nlohmann::json fields{{"error", to_string(error)}, {"reason", detail},
                              {"address", options_.addresses[failed_address]}, {"next_address", options_.addresses[address_]},
                              {"retry_in_ms", delay.count()}, {"inflight", inflight}};
    if (!is_transient(error)) {
        core::log_error(was_connected ? "uplink.disconnected" : "uplink.connect_failed",
                        "the broker refuses this gateway as configured; retrying slowly", fields);
    } else if (was_connected) {
        core::log_warn("uplink.disconnected", "lost the broker connection; messages stay in the outbox", fields);
    } else {
        core::log_warn("uplink.connect_failed", "could not connect to the broker", fields);
    }
}

milliseconds DeliveryMachine::reconnect_delay(UplinkError error, milliseconds limit) {
    if (!is_transient(error)) {
        // Only a person can fix this: try again at the cap, jittered over its upper half.
        const auto cap = options_.backoff_max.count();
        std::uniform_int_distribution<std::int64_t> pick(cap / 2, cap);
        return milliseconds{pick(rng_)};
    }
    const auto ceiling = std::min(backoff_.ceiling(), std::max(options_.backoff_initial, limit));
    const auto delay = backoff_.next(limit);
    switch (error) {
        case UplinkError::server_busy:
        case UplinkError::server_unavailable:
        case UplinkError::quota_exceeded:
        case UplinkError::connection_rate_exceeded:
            // The broker asked for less: the upper half of the range.
            return std::max(delay, ceiling / 2);
        default:
            return delay;
    }
}

milliseconds DeliveryMachine::short_jitter() {
    std::uniform_int_distribution<std::int64_t> pick(0, options_.backoff_initial.count());
    return milliseconds{pick(rng_)};
}

void DeliveryMachine::pump(Clock::time_point now, std::vector<Action>& out) {
    if (state_ != State::connected || failing_back_) return;
    if (batcher_.enabled()) batcher_.collect_due(now);
    while (window_.size() + pending_.size() < window_limit_) {
        if (options_.max_inflight_bytes > 0 && inflight_bytes_ >= options_.max_inflight_bytes) return;
        if (paced(now)) return;
        if (batcher_.enabled() && batcher_.next(lowest_, batch_)) {
            spend(batch_.topic.size() + batch_.payload.size());
            const auto first = batch_.members.front();
            const auto size = static_cast<std::uint32_t>(batch_.topic.size() + batch_.payload.size());
            inflight_bytes_ += size;
            stats_.inflight_bytes = inflight_bytes_;
            pending_.push_back({first.seq, first.priority, size, batch_.members});
            out.push_back(action::PublishBatch{std::move(batch_)});
            batch_ = {};
            continue;
        }
        if (ready_pos_ >= ready_.size()) {
            // Enough waits in open batches: fetch more only when one has gone.
            if (batcher_.buffered() >= batcher_.buffer_limit()) return;
            const auto version = source_.version();
            if (exhausted_ && version == exhausted_version_) return;
            if (source_.congested()) return;  // resumed by the OutboxChanged of the next commit
            ready_.clear();
            ready_pos_ = 0;
            if (source_.fetch(cursor_, std::min(options_.fetch_batch, window_limit_), ready_) == 0) {
                exhausted_ = true;
                exhausted_version_ = version;
                return;
            }
            exhausted_ = false;
        }
        auto& m = ready_[ready_pos_++];
        if (m.message.priority < lowest_) {
            parked_.push_back(std::move(m));  // fetched just before its priority was held
            continue;
        }
        if (batcher_.add(m, now)) continue;
        const auto stored = static_cast<std::uint32_t>(m.message.topic.size() + m.message.body.size());
        spend(stored + 64);  // the envelope and user properties around the body
        inflight_bytes_ += stored;
        stats_.inflight_bytes = inflight_bytes_;
        pending_.push_back({m.seq, m.message.priority, stored, {}});
        out.push_back(action::Publish{std::move(m)});
    }
}

bool DeliveryMachine::paced(Clock::time_point now) {
    if (options_.max_bytes_per_s == 0) return false;
    const auto rate = static_cast<double>(options_.max_bytes_per_s);
    tokens_ = std::min(rate, tokens_ + rate * std::chrono::duration<double>(now - refilled_).count());
    refilled_ = now;
    if (tokens_ >= 0) {
        paced_until_ = Clock::time_point::max();
        return false;
    }
    if (paced_until_ == Clock::time_point::max()) ++stats_.paced_waits;
    paced_until_ = now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(-tokens_ / rate)) +
                   std::chrono::milliseconds(1);
    return true;
}

void DeliveryMachine::spend(std::size_t bytes) {
    if (options_.max_bytes_per_s > 0) tokens_ -= static_cast<double>(bytes + wire_overhead_per_publish);
}

void DeliveryMachine::on_usage(const event::LinkUsage& u, Clock::time_point now, std::vector<Action>& out) {
    const auto& b = options_.budget;
    const auto reached = [&](std::uint64_t used, std::uint64_t budget) {
        return budget > 0 && static_cast<double>(used) >= static_cast<double>(budget) * (1.0 - b.reserve_fraction);
    };
    const int lowest = reached(u.day_bytes, b.daily_bytes) || reached(u.month_bytes, b.monthly_bytes)
                           ? std::clamp(b.always_from_priority, 0, outbox::priority_levels)
                           : 0;
    if (lowest == lowest_) return;
    if (lowest > lowest_) {
        core::log_warn("uplink.budget_hold", "the link's byte budget is running short: low priorities are held",
                       {{"held_below_priority", lowest}, {"day_bytes", u.day_bytes}, {"daily_budget", b.daily_bytes},
                        {"month_bytes", u.month_bytes}, {"monthly_budget", b.monthly_bytes}});
        batcher_.take_held(lowest, parked_);
    } else {
        core::log_info("uplink.budget_release", "a new budget period: held priorities go again",
                       {{"day_bytes", u.day_bytes}, {"month_bytes", u.month_bytes}});
    }
    lowest_ = lowest;
    stats_.held_below = lowest;
    cursor_.lowest_priority = lowest;
    if (lowest == 0) release_held();
    exhausted_ = false;
    pump(now, out);
}

void DeliveryMachine::release_held() {
    // What was fetched but not sent is read again: the cursor goes back, per priority and phase,
    // to just before the oldest of it (anything sent before it is older still, so nothing repeats).
    batcher_.take_held(outbox::priority_levels, parked_);
    for (; ready_pos_ < ready_.size(); ++ready_pos_) parked_.push_back(std::move(ready_[ready_pos_]));
    for (const auto& m : parked_) {
        const auto p = static_cast<std::size_t>(m.message.priority);
        auto& after = cursor_.live_from > 0 && m.seq < cursor_.live_from ? cursor_.backlog_after[p] : cursor_.after[p];
        after = std::min(after, m.seq - 1);
    }
    parked_.clear();
    ready_.clear();
    ready_pos_ = 0;
}

void DeliveryMachine::arm(std::vector<Action>& out) {
    auto at = Clock::time_point::max();
    switch (state_) {
        case State::waiting: at = retry_at_; break;
        case State::connecting: at = connect_deadline_; break;
        case State::connected:
            if (!window_.empty()) at = std::min(at, progress_check_);
            if (!stable_) at = std::min(at, stable_at_);
            at = std::min({at, batcher_.next_due(), paced_until_});
            if (options_.health_interval.count() > 0) at = std::min(at, next_health_);
            at = std::min(at, failback_at_);
            break;
        case State::idle:
        case State::stopped: break;
    }
    if (at != armed_) {
        armed_ = at;
        out.push_back(action::ArmTimer{at});
    }
}

}  // namespace outpost::uplink
