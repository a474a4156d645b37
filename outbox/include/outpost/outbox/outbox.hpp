#pragma once
// The disk outbox: SQLite in WAL mode, one writer connection, group commit.
//
// Messages are staged in memory, each given the next durable sequence number, and become durable
// ("accepted") at commit(). Acknowledged messages are removed at the next commit too, so a busy
// gateway does one transaction per commit interval for both. Quotas in rows and bytes are enforced
// at commit by evicting lowest priority first, oldest first within a priority; every eviction is
// written to the losses table, counted and logged. Nothing leaves the outbox silently.
//
// Thread: not thread-safe; one owner (the io_context thread). All calls are synchronous and may
// block for an fsync (about 0.15 ms here, 1-20 ms on SD/eMMC).
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>
#include <unordered_set>
#include <vector>

#include "outpost/core/message.hpp"

namespace outpost::outbox {

constexpr int priority_levels = 10;

struct OutboxOptions {
    std::string path;
    std::uint64_t max_rows = 2'000'000;
    std::uint64_t max_bytes = 512ull << 20;
    bool synchronous_full = true;      // fsync every commit (power-cut safe up to the last commit)
    std::size_t max_staged = 100'000;  // staged messages kept while commits fail (full disk)
};

struct OutboxStats {
    std::uint64_t rows = 0;       // durable messages waiting for acknowledgement
    std::uint64_t bytes = 0;      // their approximate size (topic + body + row overhead)
    std::uint64_t next_seq = 1;
    std::uint64_t staged = 0;     // accepted into memory, not yet committed
    std::uint64_t committed = 0;  // messages made durable since start
    std::uint64_t removed = 0;    // acknowledged and deleted since start
    std::uint64_t commits = 0;
    std::uint64_t commit_failures = 0;
    std::array<std::uint64_t, priority_levels> evicted{};  // by priority, since start
    std::uint64_t dropped_unwritable = 0;
    std::uint64_t discarded = 0;  // refused by the broker, removed with a loss record  // staged messages dropped because commits kept failing
    bool quarantined_at_start = false;
};

struct LossRecord {
    std::int64_t at_ns = 0;
    std::string reason;  // "evicted_quota", "dropped_unwritable", "quarantined"
    int priority = -1;   // -1 when not known
    std::int64_t count = 0;  // -1 when not known (a quarantined file)
    std::uint64_t first_seq = 0;
    std::uint64_t last_seq = 0;
};

// Per-priority position of a drain: the last sequence number handed out at each priority.
struct DrainCursor {
    std::array<std::uint64_t, priority_levels> after{};
    void reset() noexcept { after.fill(0); }
};

class Outbox {
public:
    // Opens or creates the outbox. A file that fails its integrity check (run when the last
    // shutdown was not clean) or is not a database is renamed to `<path>.corrupt-<time>` and a fresh
    // one is created; that is logged and written as a loss record. Throws OutboxError otherwise.
    explicit Outbox(OutboxOptions options);
    ~Outbox();
    Outbox(const Outbox&) = delete;
    Outbox& operator=(const Outbox&) = delete;

    // Stages a message for the next commit and returns its sequence number.
    std::uint64_t stage(core::Message message);
    // Marks a message acknowledged: it is deleted at the next commit and never fetched again.
    void acknowledge(std::uint64_t seq);
    // Removes a message that will never be delivered (the broker refused it) and writes a loss
    // record with `reason`, at the next commit.
    void discard(std::uint64_t seq, int priority, std::string reason);
    // One transaction: staged inserts, acknowledged deletes, quota eviction. On failure everything
    // stays staged for the next attempt (up to max_staged, then the oldest are dropped and counted).
    std::error_code commit();

    std::size_t staged() const noexcept { return staged_.size(); }
    std::size_t pending_acks() const noexcept { return acked_.size(); }

    // Appends up to `max` durable messages in delivery order (priority 9 first, FIFO within a
    // priority) that come after `cursor`, skipping acknowledged ones; advances the cursor.
    std::size_t fetch(DrainCursor& cursor, std::size_t max, std::vector<core::StoredMessage>& out);

    const OutboxStats& stats() const noexcept { return stats_; }
    std::vector<LossRecord> losses(std::size_t max_records = 100) const;
    const std::string& path() const noexcept { return options_.path; }

private:
    struct Impl;
    void open();
    void quarantine(const std::string& why);
    void record_loss(const LossRecord& loss);
    std::error_code evict_over_quota();

    OutboxOptions options_;
    std::unique_ptr<Impl> impl_;
    std::vector<core::StoredMessage> staged_;
    std::vector<std::uint64_t> acked_;
    std::unordered_set<std::uint64_t> acked_set_;
    OutboxStats stats_;
};

// A read-only look at an outbox file, for `outpost outbox stats` while the gateway runs.
struct OutboxSummary {
    std::uint64_t rows = 0;
    std::uint64_t bytes = 0;
    std::uint64_t next_seq = 1;
    std::array<std::uint64_t, priority_levels> rows_by_priority{};
    std::uint64_t oldest_seq = 0;
    std::int64_t oldest_created_ns = 0;
    std::vector<LossRecord> losses;
};
// Throws OutboxError if the file cannot be read.
OutboxSummary inspect_outbox(const std::string& path);

}  // namespace outpost::outbox
