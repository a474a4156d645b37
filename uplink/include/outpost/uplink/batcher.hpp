#pragma once
// Groups readings into batches for the delivery machine (Sans-I/O; the caller passes the time).
// A reading's group is its topic minus the last `group_levels` levels; a batch holds readings of
// one group, priority, QoS and epoch, in the order they were added (so per-topic order holds),
// and is ready when it is full (`max_readings`, or `max_bytes` of stored topic and body), when
// its first reading has waited `max_delay`, or when the readings held in all open batches reach
// the buffer limit (then the largest goes). Ready batches come out highest priority first.
// Not thread-safe; one owner.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "outpost/core/message.hpp"
#include "outpost/uplink/batch_encoder.hpp"
#include "outpost/uplink/inflight_window.hpp"

namespace outpost::uplink {

struct BatchOptions {
    bool enabled = false;
    BatchFormat format;
    std::size_t max_readings = 500;
    std::size_t max_bytes = 64 * 1024;
    std::chrono::milliseconds max_delay{5000};
    int unbatched_from_priority = 9;  // readings at or above this priority go one per message
    // Retained readings go one per message (retained) unless this is set: then they join batches
    // like the others and the broker keeps no last value for their topics.
    bool batch_retained = false;
    int group_levels = 1;
    std::string topic_suffix = "batch";
};

struct EncodedBatch {
    std::string topic;
    std::string payload;
    std::uint8_t qos = 1;
    std::uint8_t priority = 0;
    std::int64_t oldest_created_ns = 0;
    std::vector<InflightWindow::Entry> members;  // seq, priority, stored bytes of each reading
};

class Batcher {
public:
    using Clock = std::chrono::steady_clock;

    Batcher(BatchOptions options, std::string gateway);

    bool enabled() const noexcept { return options_.enabled; }
    // Takes `m` into a batch and returns true, or returns false (leaving `m` alone) when it goes
    // one per message: batching off, its priority, retained, too few topic levels, or a body the
    // format cannot carry.
    bool add(core::StoredMessage& m, Clock::time_point now);
    // Marks batches whose first reading has waited `max_delay` as ready.
    void collect_due(Clock::time_point now);
    // The next ready batch of priority `lowest` or more, encoded; false when none is ready.
    bool next(int lowest, EncodedBatch& out);
    // Removes the open batches of priorities below `lowest` and appends their readings to `out`.
    void take_held(int lowest, std::vector<core::StoredMessage>& out);
    // Forgets every open batch (the connection is gone; the outbox still has the readings).
    void clear();

    std::size_t buffered() const noexcept { return buffered_; }
    bool empty() const noexcept { return open_.empty(); }
    // When the next open batch that is not ready yet falls due; time_point::max() when none.
    Clock::time_point next_due() const;
    std::size_t buffer_limit() const noexcept { return limit_; }

private:
    struct Open {
        std::string key;
        std::size_t group_length = 0;
        std::uint8_t priority = 0;
        std::uint8_t qos = 1;
        std::uint32_t epoch = 0;
        std::vector<core::StoredMessage> messages;
        std::size_t bytes = 0;
        Clock::time_point due{};
        bool ready = false;
    };
    void make_ready(Open& b);
    void release(Open* b);

    BatchOptions options_;
    std::string gateway_;
    BatchEncoder encoder_;
    std::size_t limit_;
    std::vector<std::unique_ptr<Open>> open_;
    std::unordered_map<std::string, Open*> by_key_;
    std::vector<Open*> ready_;
    std::size_t buffered_ = 0;
    std::string key_;  // scratch
};

}  // namespace outpost::uplink
