#pragma once
// The disk outbox: SQLite in WAL mode, one writer connection, group commit.
//
// Messages are staged in memory, each given the next sequence number, and become durable
// ("accepted") at commit(). Acknowledged messages are removed at the next commit too, so a busy
// gateway does one transaction per commit interval for both. Quotas in rows and bytes are enforced
// at commit by evicting lowest priority first, oldest first within a priority; every eviction is
// written to the losses table (one record per priority and minute), counted and logged (at most a
// line a second). Messages older than their priority's TTL are never delivered: fetch() skips them
// and they are removed at commit, held priorities included (a sweep), on the record the same way.
// Nothing leaves the outbox silently.
//
// Sequence numbers: every store has an epoch, and (epoch, seq) never names two readings. A marker
// file beside the outbox (see seq_marker.hpp) remembers the numbers handed out, so numbering always
// continues from the highest value known; whenever continuity with the previous run cannot be
// proven (a damaged, emptied, deleted or rolled-back file) the epoch changes and what may have been
// lost is written as a loss record with its best known count and seq range.
//
// Damage: a file that fails its check at start, or a corruption error at any time (fetch, commit),
// moves the file aside as `<path>.corrupt-<time>`, creates a fresh store, copies into it every row
// that still reads with a valid checksum (keeping seq and epoch) and records the rest as lost. A
// background check covers a store that was shut down cleanly. Rows are checksummed: a row whose
// checksum does not match is never returned by fetch(); it is removed and recorded as lost.
//
// Thread: not thread-safe; one owner (the io_context thread). begin_commit()/collect_commit() run
// the transaction and its fsync (about 0.15 ms here, 1-20 ms on SD/eMMC) on the outbox's writer
// thread, while the owner stages, acknowledges and fetches (on a read-only connection of its own);
// commit() and the rest are synchronous. The background integrity check runs on a thread of its
// own, and its result is picked up by maintain().
#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <unordered_set>
#include <vector>

#include "outpost/core/message.hpp"
#include "outpost/outbox/seq_set.hpp"

namespace outpost::outbox {

constexpr int priority_levels = 10;

struct OutboxOptions {
    std::string path;
    std::uint64_t max_rows = 2'000'000;
    std::uint64_t max_bytes = 512ull << 20;
    bool synchronous_full = true;      // fsync every commit (power-cut safe up to the last commit)
    std::size_t max_staged = 100'000;  // staged messages kept while commits fail (full disk)
    // A background integrity check this often (and once soon after a clean start); 0 = never. A
    // check that falls due while the writer thread is busy more than half the time waits, up to one
    // interval past its time (the check after an unclean stop never waits).
    std::chrono::seconds integrity_check_interval{3600};
    // Space kept in a file beside the outbox and given up when the disk is full, so that deletes of
    // acknowledged messages and loss records can still be written. 0 = none.
    std::uint64_t reserve_bytes = 8ull << 20;
    // How long a message of each priority may wait for delivery, counted from its created_ns; 0 =
    // for ever. An older one is never fetched: it is removed and recorded as lost ("expired_ttl").
    std::array<std::chrono::seconds, priority_levels> ttl{};
    // An eviction or expiry loss record of a priority is added to for this long after it is
    // written, then the next one starts: one record per window, not one per commit.
    std::chrono::seconds loss_window{60};
    // A reading published just before its TTL ran out may still wait for its acknowledgement: the
    // sweep removes an expired row only this long after its TTL, so a delivered one is not counted lost.
    std::chrono::seconds expiry_grace{60};
};

struct OutboxStats {
    std::uint64_t rows = 0;       // durable messages waiting for acknowledgement
    std::uint64_t bytes = 0;      // their approximate size (topic + body + row overhead)
    std::uint64_t next_seq = 1;
    std::uint32_t epoch = 0;      // the epoch new messages are numbered in
    std::uint64_t staged = 0;     // accepted into memory, not yet committed
    std::uint64_t committed = 0;  // messages made durable since start
    std::uint64_t removed = 0;    // acknowledged and deleted since start
    std::uint64_t commits = 0;
    std::uint64_t commit_failures = 0;
    std::uint64_t writer_busy_ns = 0;  // time the writer thread spent committing, since start
    std::array<std::uint64_t, priority_levels> evicted{};  // by priority, since start
    std::array<std::uint64_t, priority_levels> expired{};  // past their TTL and removed; by priority, since start
    std::uint64_t dropped_unwritable = 0;  // staged messages dropped because commits kept failing
    std::uint64_t dropped_at_shutdown = 0;  // staged messages that could not be committed at exit
    std::uint64_t discarded = 0;            // refused by the broker, removed with a loss record
    std::uint64_t corrupt_rows = 0;         // rows whose checksum did not match (never published)
    std::uint64_t quarantines = 0;          // damaged stores moved aside since start (at start too)
    std::uint64_t salvaged = 0;             // rows copied out of damaged stores into fresh ones
    std::uint64_t integrity_checks = 0;     // background checks completed
    std::uint64_t integrity_checks_deferred = 0;  // checks that waited for a busy writer before they ran
    std::uint64_t delivered_from_memory = 0;  // acknowledged while the store could not be written
    bool memory_only = false;               // the store cannot be written: readings are kept in memory
    bool quarantined_at_start = false;
    bool reserve_released = false;          // the disk filled up and the space reserve was used
};

struct LossRecord {
    std::int64_t at_ns = 0;
    // "evicted_quota", "dropped_unwritable", "dropped_at_shutdown", "quarantined", "rolled_back",
    // "store_missing", "checksum_mismatch", "rejected_by_broker", "unpublishable", "expired_ttl" (older
    // than its priority's TTL; like an eviction record, one per priority and minute, which grows during
    // that minute), "unconfirmed_last_commit" (the last commit before a crash is not in the file: most
    // likely never completed, possibly lost).
    std::string reason;
    int priority = -1;       // -1 when not known
    std::int64_t count = 0;  // best known count; for quarantined and rolled-back stores an upper bound
    std::uint64_t first_seq = 0;
    std::uint64_t last_seq = 0;
    std::int64_t id = 0;  // its row in the losses table, ascending in the order written (0: not read back)
};

// Per-priority position of a drain: the last sequence number handed out at each priority, in each
// phase. With live_from set, each priority drains in two FIFO phases: the readings numbered from
// live_from on ("live", e.g. since the connection came back) before the older ones ("backlog").
struct DrainCursor {
    std::array<std::uint64_t, priority_levels> after{};          // live phase (or the only phase when live_from == 0)
    std::array<std::uint64_t, priority_levels> backlog_after{};  // backlog phase: seqs below live_from
    // 0: one FIFO per priority; else, within each priority, seqs >= live_from are fetched before the older ones.
    std::uint64_t live_from = 0;
    int lowest_priority = 0;  // priorities below this are held: fetch() returns none of them
    // Positions only; keeps live_from and lowest_priority.
    void reset() noexcept {
        after.fill(0);
        backlog_after.fill(0);
    }
};

class Outbox {
public:
    // Opens or creates the outbox (directory 0700 if it creates it, files 0600). A damaged file is
    // quarantined as described above. A store that cannot be written (a read-only file, directory
    // or filesystem) starts in memory-only mode: new readings are numbered under an epoch of their
    // own, kept in memory up to max_staged and delivered from there, stored ones are delivered
    // read-only, and maintain() retries every 10 s. Throws OutboxError if the directory cannot be
    // created or the file cannot be used for another reason.
    explicit Outbox(OutboxOptions options);
    // close().
    ~Outbox();
    // Commits what is staged; what cannot be committed is written as loss records (using the space
    // reserve if the disk is full, or only logged if the store cannot be written at all), marks a
    // clean shutdown and closes the store. Idempotent, never throws; stats() stay readable.
    void close() noexcept;
    Outbox(const Outbox&) = delete;
    Outbox& operator=(const Outbox&) = delete;

    // Stages a message for the next commit and returns its sequence number. O(1); at max_staged
    // the oldest staged message is dropped and recorded as a loss.
    std::uint64_t stage(core::Message message);
    // Marks a message acknowledged: it is deleted at the next commit and never fetched again.
    // Its priority and `stored_bytes` (topic plus body), as fetched, spare reading the row back;
    // without them the delete looks the row up at every priority.
    void acknowledge(std::uint64_t seq, int priority, std::uint32_t stored_bytes);
    void acknowledge(std::uint64_t seq);
    // Removes a message that will never be delivered (the broker refused it) and writes a loss
    // record with `reason`, at the next commit.
    void discard(std::uint64_t seq, int priority, std::string reason);
    // One transaction: staged inserts, acknowledged deletes, quota eviction, source positions. On
    // failure everything stays staged for the next attempt, and acknowledged deletes (with pending
    // loss records) are committed on their own so the outbox still drains and frees space.
    // A corruption error quarantines the store (see above) and the commit is retried once.
    std::error_code commit();
    // Only the acknowledged deletes and pending loss records, in their own transaction: for an
    // owner that backs off inserts after a failure but must keep the outbox draining.
    std::error_code commit_acknowledged();

    // The same commits without waiting: the transaction (and its fsync) runs on the outbox's
    // writer thread while the owner goes on staging, acknowledging and fetching. begin_commit()
    // starts one if none is in flight and there is something to commit (`acks_only`: deletes and
    // loss records only); collect_commit() returns its result once it has finished (nullopt
    // before), with the same effects as commit(). The listener is called on the writer thread when
    // a commit finishes: it should only wake the owner, which then calls collect_commit().
    bool begin_commit(bool acks_only = false);
    std::optional<std::error_code> collect_commit();
    bool commit_in_flight() const noexcept { return job_ != nullptr; }
    // Blocks until the commit in flight has finished (back-pressure on a source faster than the
    // disk); collect_commit() then returns its result.
    void wait_for_commit() const;
    void set_commit_listener(std::function<void()> listener);

    // Where a source (a replayed log) had got to, committed with the readings it produced.
    void set_position(const std::string& source, std::int64_t position);
    std::optional<std::int64_t> position(const std::string& source) const;

    // Housekeeping, to be called every second or so: starts the periodic integrity check and acts
    // on its result (a damaged store is quarantined).
    void maintain(std::chrono::steady_clock::time_point now);

    // Staged or on their way to the disk (in a commit in flight); acknowledged, not yet deleted.
    std::size_t staged() const noexcept;
    std::size_t pending_acks() const noexcept;

    // Appends up to `max` durable messages in delivery order that come after `cursor`, skipping
    // acknowledged ones, and advances the cursor. Delivery order: priority 9 first, down to
    // cursor.lowest_priority; within a priority FIFO, or with cursor.live_from set, first the seqs
    // from live_from on, then the older ones (each FIFO). Rows that fail their checksum are skipped
    // and recorded as lost; rows past their priority's TTL are skipped, and removed and recorded
    // at the next commit (staged ones in memory-only mode at once). A long run of skipped rows
    // ends a call early (fewer than `max`, possibly none, although more may follow: the next call
    // goes on from there).
    std::size_t fetch(DrainCursor& cursor, std::size_t max, std::vector<core::StoredMessage>& out);
    // The configured TTL of `priority`, nullopt if it has none: how long a message may wait in all,
    // counted from its created_ns (the uplink derives the MQTT message expiry from it).
    std::optional<std::chrono::seconds> ttl(int priority) const;

    const OutboxStats& stats() const noexcept { return stats_; }
    // When the oldest message waiting for delivery (stored or staged) was created (system clock,
    // ns); nullopt when none waits. One indexed read on the owner's read connection.
    std::optional<std::int64_t> oldest_created_ns() const;
    std::vector<LossRecord> losses(std::size_t max_records = 100) const;
    // Loss records written after record `after_id`, oldest first, with their ids. An eviction
    // record keeps growing for a minute after it is written (one record per priority and minute).
    std::vector<LossRecord> losses_after(std::int64_t after_id, std::size_t max_records) const;
    const std::string& path() const noexcept { return options_.path; }

private:
    struct Impl;
    struct DbState;
    struct Job;
    struct Range;
    struct Batch;
    struct OpenLoss {
        std::int64_t rowid = 0;  // the priority's loss record that this minute's losses add to
        std::chrono::steady_clock::time_point since{};
    };
    using OpenLosses = std::array<OpenLoss, priority_levels>;
    using LossesByPriority = std::array<LossRecord, priority_levels>;
    bool has_work() const noexcept;
    void run_job(Job& j);
    void settle();
    void drop_oldest_staged();
    DbState open_store();
    // Creates the messages table, or converts one in the legacy layout (outbox/src/row_key.hpp).
    void prepare_messages_table();
    void open_at_start();
    void start_memory_only(const std::string& why);
    bool open_read_only() noexcept;
    void reopen();
    void forget_delivered_from_memory();
    void fetch_range(const Range& r, std::uint64_t& after, Batch& b);
    void fetch_staged(const Range& r, std::uint64_t& after, Batch& b);
    std::int64_t expired_before(int priority, std::int64_t now_ns) const noexcept;
    bool expiry_pending() const noexcept;
    void flush_open_expired();
    void log_expired();
    void start_epoch(std::uint64_t first_seq, const char* why);
    // Records `epoch` as the one numbers from `first_seq` on carry, with the current next_seq.
    void adopt_epoch(std::uint64_t first_seq, std::uint32_t epoch);
    void quarantine(const std::string& why, bool at_start);
    void add_loss(LossRecord loss);
    std::error_code commit_once(Job& j);
    std::error_code commit_deletes_and_losses(Job& j);
    std::error_code evict_over_quota(OutboxStats& st);
    int write_coalesced(OpenLosses& open, const LossRecord& l, std::chrono::steady_clock::time_point now);
    int delete_expired(const Job& j, std::uint64_t& rows, std::uint64_t& bytes, LossesByPriority& expired);
    int sweep_expired(OutboxStats& st, LossesByPriority& expired);
    int write_expired(const LossesByPriority& expired);
    void forget_open_losses() noexcept;
    bool recover_if_damaged(int sqlite_code, const char* during);
    std::uint32_t epoch_of(std::uint64_t seq) const noexcept;
    void drop_staged_at_shutdown() noexcept;
    void flush_open_drops(bool now_or_never);
    void record_bad_row(std::uint64_t seq, int priority);
    std::error_code write_marker_if_needed(std::uint64_t next_seq, std::uint32_t epoch, std::uint64_t rows);
    void refresh_reserve() noexcept;

    // A staged reading, compact (up to two commit batches wait in memory under a saturated bus,
    // and RSS is a budget): its topic points into topics_, shared by every reading of that topic.
    struct Staged {
        std::uint64_t seq;
        std::int64_t created_ns;
        const std::string* topic;
        std::string body;
        std::uint8_t priority;
        std::uint8_t qos;
        bool retain;
        core::StoredMessage stored(std::uint32_t epoch) const;
    };
    // Topics of staged readings. Nodes never move, so the writer thread reads a committing
    // reading's topic while the owner adds others; pruned to those still staged when it grows
    // past max_topics and no commit is in flight.
    std::unordered_set<std::string> topics_;
    void prune_topics();

    OutboxOptions options_;
    std::unique_ptr<Impl> impl_;
    std::deque<Staged> staged_;
    // The writer thread: inserts a commit's readings, counting them into `st`; SQLite's result code.
    int write_staged(const std::deque<Staged>& staged, OutboxStats& st);
    struct Ack {  // 16 bytes: tens of thousands may wait
        std::uint64_t seq;
        std::int32_t bytes;     // topic plus body; -1: not known, read back at the delete
        std::int32_t priority;  // -1: not known
    };
    // Blocks of 32, not one array: tens of thousands wait while a commit runs, and an array's
    // doubling would briefly hold them twice.
    using Acks = std::deque<Ack>;
    Acks acked_;
    // Marks `seq` done (acknowledged, discarded, damaged): never fetched again, deleted at the next
    // commit. Priority and size, when known (-1: not), spare reading the row back.
    void mark_done(std::uint64_t seq, int priority, std::int64_t stored_bytes);
    // Deletes acknowledged rows in key order, each run of them with no other row between with one statement.
    int delete_acked_rows(Acks& acked, std::uint64_t& rows, std::uint64_t& bytes, std::uint64_t& removed);
    SeqSet acked_set_;  // acknowledged or expired: never fetched again
    struct Expired {
        std::uint64_t seq;
        std::uint32_t bytes;  // topic plus body
        int priority;
    };
    std::vector<Expired> expired_;              // stored rows fetch() found past their TTL, for the next commit
    std::vector<LossRecord> unwritten_losses_;  // written with the next successful commit
    // Readings dropped at the staging cap, one open record per priority: O(1) memory whatever
    // the mix of priorities; moved to unwritten_losses_ at each commit attempt.
    LossesByPriority open_drops_{};
    // Staged readings that outlived their TTL in memory-only mode: recorded by the next commit.
    LossesByPriority open_expired_{};
    std::array<std::uint64_t, priority_levels> expired_since_log_{};  // not yet in a log line
    std::uint64_t marker_next_seq_ = 0;  // what the marker last recorded
    std::uint64_t store_next_seq_ = 0;   // the next_seq the store holds as of its last commit
    std::optional<std::pair<std::uint64_t, std::uint32_t>> memory_epoch_;  // (first seq, epoch) numbered in memory
    bool served_from_memory_ = false;  // fetch() handed out staged messages (memory-only mode)
    // Writer thread: the loss records still open for this minute's evictions and expiries, and
    // when the next sweep of expired rows is due.
    OpenLosses open_evictions_{};
    OpenLosses open_expiries_{};
    std::chrono::steady_clock::time_point next_sweep_{};
    bool any_ttl_ = false;
    std::uint64_t evicted_since_log_ = 0;
    std::chrono::steady_clock::time_point last_drop_flush_{};  // evictions not yet in a log line (at most one line a second)
    bool closed_ = false;
    std::uint32_t marker_epoch_ = 0;
    std::map<std::string, std::int64_t> positions_;
    bool positions_dirty_ = false;
    std::vector<std::pair<std::uint64_t, std::uint32_t>> epochs_;  // (first seq, epoch), ascending
    bool commit_failing_ = false;
    std::chrono::steady_clock::time_point next_check_{};
    // The writer thread's share of the last second or so spent committing (maintain() samples it):
    // a scheduled check waits while it is high.
    double writer_share_ = 0;
    std::chrono::steady_clock::time_point writer_sampled_at_{};
    std::uint64_t writer_busy_at_sample_ns_ = 0;
    bool check_now_ = false;       // the check after an unclean stop: never waits
    bool check_deferred_ = false;  // the due check has waited (counted once)
    std::chrono::steady_clock::time_point next_reserve_attempt_{};
    OutboxStats stats_;
    std::unique_ptr<Job> job_;  // the commit in flight on the writer thread
};

// A read-only look at an outbox file, for `outpost outbox stats` while the gateway runs.
struct OutboxSummary {
    std::uint64_t rows = 0;
    std::uint64_t bytes = 0;
    std::uint64_t next_seq = 1;
    std::uint32_t epoch = 0;
    std::optional<std::uint64_t> marker_next_seq;  // what the sequence marker beside it says
    std::array<std::uint64_t, priority_levels> rows_by_priority{};
    std::uint64_t oldest_seq = 0;
    std::int64_t oldest_created_ns = 0;
    std::vector<LossRecord> losses;
};
// Throws OutboxError if the file cannot be read.
OutboxSummary inspect_outbox(const std::string& path);

}  // namespace outpost::outbox
