#pragma once
// The delivery machine's test rig: an outbox fake and a shell that plays its part of the contract,
// so that each test reads as a transcript of events in and actions out.
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "outpost/uplink/delivery_machine.hpp"

namespace outpost::test {

using namespace outpost::uplink;
using namespace std::chrono_literals;
using Lines = std::vector<std::string>;

// An outbox fake: messages by seq, delivery order priority 9 first then FIFO; acknowledged and
// discarded messages are removed when the rig applies those actions.
class FakeSource final : public MessageSource {
public:
    void add(std::uint64_t seq, std::uint8_t priority = 5, std::uint8_t qos = 1) {
        add_reading(seq, "t/" + std::to_string(seq), "\"value\":" + std::to_string(seq), priority, qos);
    }
    void add_reading(std::uint64_t seq, std::string topic, std::string body, std::uint8_t priority = 5,
                     std::uint8_t qos = 1, bool retain = false) {
        core::StoredMessage m;
        m.seq = seq;
        m.epoch = 7;
        m.message.topic = std::move(topic);
        m.message.body = std::move(body);
        m.message.priority = priority;
        m.message.qos = qos;
        m.message.retain = retain;
        rows_[seq] = m;
        ++version_;
    }
    void remove(std::uint64_t seq) { rows_.erase(seq); }
    std::size_t fetch(outbox::DrainCursor& cursor, std::size_t max, std::vector<core::StoredMessage>& out) override {
        ++fetches;
        std::size_t n = 0;
        // The outbox's order: priority 9 first; within one, live (seq >= live_from) before backlog.
        for (int p = outbox::priority_levels - 1; p >= cursor.lowest_priority && n < max; --p) {
            const auto i = static_cast<std::size_t>(p);
            for (const bool live : {true, false}) {
                if (!live && cursor.live_from == 0) break;
                auto& after = live ? cursor.after[i] : cursor.backlog_after[i];
                for (const auto& [seq, m] : rows_) {
                    if (n == max) break;
                    if (m.message.priority != p || seq <= after || (seq >= cursor.live_from) != live) continue;
                    out.push_back(m);
                    after = seq;
                    ++n;
                }
            }
        }
        return n;
    }
    std::uint64_t next_seq() const override { return rows_.empty() ? 1 : rows_.rbegin()->first + 1; }
    bool empty() const override { return rows_.empty(); }
    std::uint64_t version() const override { return version_; }
    std::size_t size() const { return rows_.size(); }
    int fetches = 0;

private:
    std::map<std::uint64_t, core::StoredMessage> rows_;
    std::uint64_t version_ = 0;
};

inline DeliveryOptions opts(std::size_t window = 3, std::size_t addresses = 1) {
    DeliveryOptions o;
    o.addresses.clear();
    for (std::size_t i = 0; i < addresses; ++i) o.addresses.push_back("b" + std::to_string(i));
    o.window = window;
    o.backoff_initial = 500ms;
    o.backoff_max = 8000ms;
    o.connect_timeout = 10s;
    o.stable_after = 30s;
    o.progress_timeout = 20s;
    o.failback_after = 300s;
    o.health_interval = 0ms;
    o.seed = 42;
    return o;
}

// Feeds events, plays the shell's part of the contract (each Publish goes out as packet id = seq,
// acknowledged and discarded messages leave the source) and writes the actions as lines.
struct Rig {
    explicit Rig(DeliveryOptions o) : machine(std::move(o), source) {}

    Lines feed(const Event& e) {
        std::vector<Action> acts;
        machine.handle(e, now, acts);
        Lines lines;
        std::vector<Event> reports;  // what the shell reports after the batch
        for (auto& a : acts) {
            lines.push_back(describe(a));
            std::optional<std::uint64_t> mid;
            if (const auto* p = std::get_if<action::Publish>(&a)) mid = p->message.seq;
            if (const auto* b = std::get_if<action::PublishBatch>(&a)) {
                mid = b->batch.members.front().seq;
                batches.push_back(b->batch);
            }
            if (mid) {
                if (refuse_next) {
                    reports.push_back(event::PublishRefused{*refuse_next, "scripted"});
                    refuse_next.reset();
                } else {
                    reports.push_back(event::Published{static_cast<int>(*mid)});
                }
            }
            if (const auto* k = std::get_if<action::Acknowledge>(&a)) source.remove(k->seq);
            if (const auto* d = std::get_if<action::Discard>(&a)) source.remove(d->seq);
            if (const auto* t = std::get_if<action::ArmTimer>(&a)) timer = t->at;
        }
        for (const auto& r : reports) {
            const auto more = feed(r);
            lines.insert(lines.end(), more.begin(), more.end());
        }
        return lines;
    }
    Lines start() { return feed(event::Start{}); }
    Lines connack(int code = 0, std::uint16_t receive_maximum = 0) { return feed(event::ConnAck{code, receive_maximum}); }
    Lines ack(std::uint64_t seq, int reason = 0) { return feed(event::Acked{static_cast<int>(seq), reason}); }
    Lines lost(UplinkError e) { return feed(event::Lost{e, "scripted"}); }
    // Moves the clock to the armed timer and fires it.
    Lines fire() {
        EXPECT_NE(timer, Clock::time_point::max()) << "no timer armed";
        now = timer;
        return feed(event::TimerFired{});
    }
    Lines at(Clock::duration d) {
        now += d;
        return feed(event::TimerFired{});
    }
    Clock::duration armed_in() const { return timer - now; }

    std::string describe(const Action& a) const {
        if (const auto* c = std::get_if<action::Connect>(&a)) return "connect " + std::to_string(c->address);
        if (const auto* p = std::get_if<action::Publish>(&a)) return "publish " + std::to_string(p->message.seq);
        if (const auto* b = std::get_if<action::PublishBatch>(&a)) {
            std::string line = "batch " + b->batch.topic;
            for (const auto& m : b->batch.members) line += " " + std::to_string(m.seq);
            return line;
        }
        if (const auto* s = std::get_if<action::PublishStatus>(&a)) return s->online ? "status online" : "status offline";
        if (std::holds_alternative<action::PublishHealth>(a)) return "health";
        if (const auto* k = std::get_if<action::Acknowledge>(&a)) return "ack " + std::to_string(k->seq);
        if (const auto* d = std::get_if<action::Discard>(&a)) {
            return "discard " + std::to_string(d->seq) + " " + to_string(d->error);
        }
        if (std::holds_alternative<action::ArmTimer>(a)) return "timer";
        if (const auto* c = std::get_if<action::Close>(&a)) return c->graceful ? "close graceful" : "close";
        return "?";
    }

    FakeSource source;
    DeliveryMachine machine;
    Clock::time_point now{std::chrono::hours(1)};
    Clock::time_point timer = Clock::time_point::max();
    std::optional<UplinkError> refuse_next;
    std::vector<EncodedBatch> batches;  // every batch published, in order
};

inline Lines without_timer(Lines l) {
    std::erase(l, "timer");
    return l;
}


}  // namespace outpost::test
