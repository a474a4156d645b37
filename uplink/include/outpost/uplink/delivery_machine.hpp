#pragma once
// The uplink's delivery state machine, Sans-I/O: events in (a connection attempt ended, CONNACK,
// a message went out as packet N, PUBACK, the outbox has more, the timer fired, stop), actions out
// (connect to address N, publish, acknowledge or discard in the outbox, arm the timer, close). It
// owns the in-flight window, the drain cursor, the reconnect backoff, the choice of broker address
// and every deadline (connect timeout, progress watchdog, backoff reset, failback, health period);
// the shell around it (uplink.hpp: libmosquitto and Asio) only executes actions and feeds events,
// and the transcript tests drive it with no broker, no socket and no clock.
//
// Policy, in short:
// - Reconnects wait a uniformly random time up to a ceiling that doubles with each failure, up to
//   the cap (full jitter). The ceiling falls back to the start only after a connection has stayed up
//   for `stable_after` and made progress (something acknowledged, or nothing to send), so a client
//   that keeps being thrown off (its id taken over by a twin, a broker that accepts and then drops
//   it) backs off further each time instead of reconnecting several times a second. While the
//   broker cannot be reached at all, the wait also stays under half the outage so far: failed
//   connects cost the broker nothing, a 10 s outage costs seconds, and a fleet's reconnects after a
//   broker restart spread over half its downtime (up to the cap).
// - A broker that refuses us as configured (not authorized, bad credentials, banned, TLS) is retried
//   at the cap; one that is busy or over quota is retried from the upper half of the ceiling.
// - Several addresses: a failure moves to the next one after a short jitter; a full round of failures
//   waits out the backoff and starts again from the first (preferred) address. After
//   `failback_after` on another address, the machine stops sending, lets the window empty (at most
//   `progress_timeout`), disconnects cleanly and tries the first address again.
// - Progress watchdog: with messages in flight and nothing acknowledged for `progress_timeout`, the
//   connection is declared dead, whatever the keepalive says.
// - After a CONNACK every priority is read again from the start of the outbox: what the last
//   connection left unacknowledged goes out first, before anything newer at the same priority.
// - A PUBACK refusing a message for good removes it with a loss record (Discard); one saying the
//   broker is busy or over quota keeps the message and restarts the link later. A message the
//   client cannot send as it is (too large, bad topic) is discarded; out of memory restarts the link.
//
// Contract with the shell: actions are executed in order. For every Publish action the shell feeds
// exactly one Published (with the packet id) or PublishRefused, in order, after the batch of actions
// and before any other event, unless a Close came first (then it feeds neither). Events from a connection the machine has closed
// must not be fed. Not thread-safe; one owner.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <random>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "outpost/core/backoff.hpp"
#include "outpost/core/message.hpp"
#include "outpost/outbox/outbox.hpp"
#include "outpost/uplink/batcher.hpp"
#include "outpost/uplink/inflight_window.hpp"
#include "outpost/uplink/message_source.hpp"
#include "outpost/uplink/uplink_error.hpp"

namespace outpost::uplink {

using Clock = std::chrono::steady_clock;

// Byte budgets of a metered link. Usage comes from the shell (event::LinkUsage, measured on the
// socket). Once a budget's use reaches (1 - reserve_fraction) of it, priorities below
// `always_from_priority` are held (not fetched, not sent; the outbox's TTL expires them with loss
// records) until the next day or month; the higher priorities still go, past the budget if need be.
struct BudgetOptions {
    std::uint64_t daily_bytes = 0;    // 0: none
    std::uint64_t monthly_bytes = 0;  // 0: none
    double reserve_fraction = 0.1;
    int always_from_priority = 8;
};

struct DeliveryOptions {
    // Names of the broker addresses for logs ("host:port"); their number is the number of addresses.
    std::vector<std::string> addresses{"broker"};
    std::size_t window = 256;
    std::size_t fetch_batch = 512;
    std::chrono::milliseconds backoff_initial{500};
    std::chrono::milliseconds backoff_max{30'000};
    std::chrono::milliseconds connect_timeout{10'000};
    std::chrono::milliseconds stable_after{30'000};
    std::chrono::milliseconds progress_timeout{30'000};
    std::chrono::milliseconds failback_after{300'000};  // 0: stay on whichever address works
    std::chrono::milliseconds health_interval{60'000};  // 0: no health messages
    std::uint64_t seed = 1;
    std::string gateway_id = "gateway";  // in batch payloads
    BatchOptions batch;                  // off unless enabled
    // After each CONNACK, readings accepted from then on go before the stored backlog of their
    // priority (the outbox's live-first order); off: FIFO within each priority.
    bool live_first = false;
    // Pacing: at most this many bytes a second on average (payload, topic and an estimate of the
    // MQTT and TCP/IP overhead of the PUBLISH and its PUBACK), in bursts of up to a second's worth.
    std::uint64_t max_bytes_per_s = 0;  // 0: no cap
    // At most this many payload and topic bytes unacknowledged (at least one message goes): what a
    // new reading may queue behind in the socket on a slow link. 0: only the window counts.
    std::size_t max_inflight_bytes = 0;
    BudgetOptions budget;
};

// What a publish costs on the wire besides its topic and payload: MQTT fixed header, packet id and
// properties, TCP/IP headers of its segment, and the PUBACK with its own segment (an estimate; the
// shell measures the real figure on the socket).
constexpr std::size_t wire_overhead_per_publish = 120;

struct UplinkStats {
    std::uint64_t connect_attempts = 0;
    std::uint64_t connects = 0;
    std::uint64_t connect_failures = 0;
    std::uint64_t disconnects = 0;
    std::uint64_t published = 0;     // readings handed to the broker (resends included)
    std::uint64_t acknowledged = 0;  // readings acknowledged
    std::uint64_t batches = 0;       // batch messages published
    std::uint64_t paced_waits = 0;   // times the bandwidth cap made the drain wait
    int held_below = 0;              // priorities below this are held by a budget (0: none)
    std::uint64_t rejected = 0;  // refused by the broker or unpublishable, recorded as losses
    std::uint64_t payload_bytes = 0;
    std::uint64_t progress_timeouts = 0;
    std::uint64_t failbacks = 0;  // returns to the preferred address
    std::size_t inflight = 0;
    std::size_t inflight_bytes = 0;
    // Messages in flight at most on this connection: the configured window, or the broker's
    // Receive Maximum when that is smaller (0 while not connected).
    std::size_t window = 0;
    std::size_t address = 0;  // the address in use or being tried
    bool connected = false;
    int last_error = 0;  // UplinkError of the last failure, 0 before any
};

namespace event {
struct Start {};
struct ConnAck {
    int reason_code = 0;  // MQTT 5 numbering (3.1.1 return codes mapped by the shell)
    // The broker's Receive Maximum (MQTT 5 CONNACK property): how many QoS 1/2 messages it takes
    // unacknowledged. 0: not sent (MQTT 3.1.1, or no limit).
    std::uint16_t receive_maximum = 0;
};
struct Published {
    int mid = 0;  // the oldest Publish not yet reported went out as this packet id
};
struct PublishRefused {
    UplinkError error{};  // the oldest Publish not yet reported could not be queued
    std::string detail;
};
struct Acked {
    int mid = 0;
    int reason_code = 0;  // PUBACK/PUBCOMP reason; QoS 0 reports 0 once written
};
struct Lost {
    UplinkError error{};  // the connection attempt, or the connection, ended
    std::string detail;
};
struct OutboxChanged {};
struct TimerFired {};
struct Stop {};
// The link's use so far in the current day and month (bytes on the wire, both directions).
struct LinkUsage {
    std::uint64_t day_bytes = 0;
    std::uint64_t month_bytes = 0;
};
}  // namespace event
using Event = std::variant<event::Start, event::ConnAck, event::Published, event::PublishRefused, event::Acked,
                           event::Lost, event::OutboxChanged, event::TimerFired, event::Stop, event::LinkUsage>;

namespace action {
struct Connect {
    std::size_t address = 0;
};
struct Publish {
    core::StoredMessage message;
};
// Several readings in one message (batcher.hpp); acknowledged or refused together.
struct PublishBatch {
    EncodedBatch batch;
};
struct PublishStatus {
    bool online = true;  // retained birth ("online") after CONNACK; "offline" before a clean stop
};
struct PublishHealth {};
struct Acknowledge {
    std::uint64_t seq = 0;
    std::uint32_t stored_bytes = 0;
    std::uint8_t priority = 0;
};
struct Discard {
    std::uint64_t seq = 0;
    std::uint8_t priority = 0;
    UplinkError error{};
};
struct ArmTimer {
    Clock::time_point at{};  // replaces any earlier one; time_point::max(): none
};
struct Close {
    bool graceful = false;  // send DISCONNECT first
};
}  // namespace action
using Action = std::variant<action::Connect, action::Publish, action::PublishBatch, action::PublishStatus, action::PublishHealth,
                            action::Acknowledge, action::Discard, action::ArmTimer, action::Close>;

class DeliveryMachine {
public:
    enum class State { idle, waiting, connecting, connected, stopped };

    DeliveryMachine(DeliveryOptions options, MessageSource& source);

    // Appends the actions `e` calls for to `out` (which it does not clear).
    void handle(const Event& e, Clock::time_point now, std::vector<Action>& out);

    State state() const noexcept { return state_; }
    const UplinkStats& stats() const noexcept { return stats_; }
    const DeliveryOptions& options() const noexcept { return options_; }
    // Connected, nothing in flight, nothing left in the source.
    bool drained() const;
    // The ceiling the next reconnect delay is drawn from (for tests and logs).
    std::chrono::milliseconds backoff_ceiling() const noexcept { return backoff_.ceiling(); }

private:
    struct Pending {
        std::uint64_t seq;
        std::uint8_t priority;
        std::uint32_t stored_bytes;
        std::vector<InflightWindow::Entry> members;  // a batch's readings; empty for one reading
    };

    void connect(std::size_t address, Clock::time_point now, std::vector<Action>& out);
    void on_connack(const event::ConnAck& ack, Clock::time_point now, std::vector<Action>& out);
    void on_published(int mid, Clock::time_point now);
    void on_refused(const event::PublishRefused& e, Clock::time_point now, std::vector<Action>& out);
    void on_acked(int mid, int reason, Clock::time_point now, std::vector<Action>& out);
    void on_timer(Clock::time_point now, std::vector<Action>& out);
    void on_stop(std::vector<Action>& out);
    void end_connection(UplinkError error, const std::string& detail, Clock::time_point now, std::vector<Action>& out);
    std::chrono::milliseconds reconnect_delay(UplinkError error, std::chrono::milliseconds limit);
    std::chrono::milliseconds short_jitter();
    void fail_back(Clock::time_point now, std::vector<Action>& out);
    void forget_connection();
    void pump(Clock::time_point now, std::vector<Action>& out);
    void on_usage(const event::LinkUsage& u, Clock::time_point now, std::vector<Action>& out);
    void release_held();
    bool paced(Clock::time_point now);
    void spend(std::size_t bytes);
    void arm(std::vector<Action>& out);

    DeliveryOptions options_;
    MessageSource& source_;
    State state_ = State::idle;
    core::Backoff backoff_;
    std::mt19937_64 rng_;
    InflightWindow window_;
    std::size_t window_limit_ = 0;  // this connection's: window_'s capacity or the broker's Receive Maximum
    std::size_t limit_logged_ = 0;  // the last connection's, so a limit is explained once
    outbox::DrainCursor cursor_;
    std::vector<core::StoredMessage> ready_;
    std::size_t ready_pos_ = 0;
    bool exhausted_ = false;  // the source had nothing more; until OutboxChanged or its version changes
    std::uint64_t exhausted_version_ = 0;
    std::deque<Pending> pending_;  // Publish actions not yet reported by the shell
    Batcher batcher_;
    EncodedBatch batch_;  // scratch
    std::unordered_map<int, std::vector<InflightWindow::Entry>> batch_members_;  // in flight, by packet id
    std::vector<core::StoredMessage> parked_;  // fetched before their priority was held
    int lowest_ = 0;                           // priorities below are held by a budget
    std::size_t inflight_bytes_ = 0;           // of the window and of Publish actions not yet reported
    double tokens_ = 0;                        // pacing: bytes that may go now (negative: owed)
    Clock::time_point refilled_{};
    Clock::time_point paced_until_ = Clock::time_point::max();
    std::size_t address_ = 0;
    std::size_t failed_in_round_ = 0;

    Clock::time_point retry_at_{};
    Clock::time_point trouble_since_ = Clock::time_point::max();  // first failure since the last stable connection
    Clock::time_point connect_deadline_{};
    Clock::time_point connected_at_{};
    Clock::time_point last_progress_{};   // the window filled, or something was acknowledged
    Clock::time_point progress_check_{};  // when the progress watchdog looks next
    Clock::time_point stable_at_{};
    bool stable_ = false;
    std::uint64_t acked_this_connection_ = 0;
    Clock::time_point next_health_{};
    Clock::time_point failback_at_{};
    bool failing_back_ = false;
    Clock::time_point armed_ = Clock::time_point::max();

    UplinkStats stats_;
};

}  // namespace outpost::uplink
