// Rows leaving the store: acknowledged ones deleted in ranges, eviction over the quota, expiry
// past a TTL, and the loss records the last two write.
#include "outbox_impl.hpp"

namespace outpost::outbox {

namespace {

// Acknowledged runs at least this long are deleted with one ranged statement (below it the count
// that guards the range costs more than it saves).
constexpr std::size_t min_ranged_delete = 4;

// The sweep of expired rows runs at most once a second and removes at most this many rows per
// commit (in batches), so a commit stays short whatever the backlog.
constexpr std::int64_t max_swept_per_commit = 20'000;

constexpr std::int64_t sweep_batch = 4096;

// Acknowledged numbers of one priority at most this far apart still make one ranged delete: the
// read that checks the range then meets at most this many rows per acknowledgement.
constexpr std::uint64_t max_ranged_gap = 64;

}  // namespace

std::error_code Outbox::evict_over_quota(OutboxStats& st) {
    if (st.rows <= options_.max_rows && st.bytes <= options_.max_bytes) return {};
    auto& im = *impl_;
    // Large steps: down to 99% of the quota, so a full outbox under a saturated bus evicts about
    // once per 1% of the quota that arrives, not at every commit.
    const std::uint64_t target_rows = options_.max_rows - options_.max_rows / 100;
    const std::uint64_t target_bytes = options_.max_bytes - options_.max_bytes / 100;
    LossesByPriority evicted{};
    while (st.rows > target_rows || st.bytes > target_bytes) {
        const std::uint64_t excess_rows = checked_sub(st.rows, target_rows);
        const auto batch = static_cast<std::int64_t>(std::clamp<std::uint64_t>(excess_rows, 64, 4096));
        struct Victim {
            std::int64_t key;
            std::uint64_t seq;
            int priority;  // clamped: a damaged key may say anything
            std::int64_t payload;
        };
        std::vector<Victim> victims;
        im.evict_select.bind(1, batch);
        int rc;
        while ((rc = im.evict_select.step()) == SQLITE_ROW) {
            const auto key = im.evict_select.column_int(0);
            victims.push_back({key, seq_of_key(key), key < 0 ? 0 : std::min(priority_of_key(key), priority_levels - 1),
                               std::max<std::int64_t>(im.evict_select.column_int(1), 0)});
        }
        im.evict_select.reset();
        if (rc != SQLITE_DONE) return make_sqlite_error(rc);
        if (victims.empty()) break;
        // The first n victims bring the store down to its target. They were read just now, in key
        // order, in this transaction on the only write connection: the rows from the first key to
        // the n-th are exactly these, and one ranged DELETE takes them (one statement a row made
        // the writer 0.10-0.16 busier with the quota reached than without; 0.00-0.09 since). The
        // counts go into `st` first: a failure here fails the commit, which restores it.
        std::size_t n = 0;
        for (; n < victims.size() && (st.rows > target_rows || st.bytes > target_bytes); ++n) {
            const auto& v = victims[n];
            st.rows = checked_sub(st.rows, 1);
            st.bytes = checked_sub(st.bytes, row_bytes(static_cast<std::size_t>(v.payload)));
            ++st.evicted[static_cast<std::size_t>(v.priority)];
            count_loss(evicted[static_cast<std::size_t>(v.priority)], "evicted_quota", v.priority, v.seq);
        }
        if (const int drc = im.delete_between(victims.front().key, victims[n - 1].key); drc != SQLITE_OK) {
            return make_sqlite_error(drc);
        }
        // Anything else would leave the counts wrong: the file does not hold what it just said.
        if (sqlite3_changes(im.db.get()) != static_cast<int>(n)) return make_sqlite_error(SQLITE_CORRUPT);
    }
    const auto now = std::chrono::steady_clock::now();
    std::uint64_t total = 0;
    for (auto& l : evicted) {
        if (l.count == 0) continue;
        total += static_cast<std::uint64_t>(l.count);
        if (const int rc = write_coalesced(open_evictions_, l, now); rc != SQLITE_OK) return make_sqlite_error(rc);
    }
    evicted_since_log_ += total;
    std::uint64_t suppressed = 0;
    if (total > 0 && im.evict_log.allow(now, suppressed)) {
        core::log_warn("outbox.evicted", "outbox over its quota: evicted the oldest lowest-priority messages",
                       {{"count", evicted_since_log_}, {"evicted_total", std::accumulate(st.evicted.begin(), st.evicted.end(), std::uint64_t{0})},
                        {"max_rows", options_.max_rows}, {"max_bytes", options_.max_bytes}});
        evicted_since_log_ = 0;
    }
    return {};
}

int Outbox::write_coalesced(OpenLosses& open_records, const LossRecord& l, std::chrono::steady_clock::time_point now) {
    // One loss record per reason, priority and minute, not one per commit: `l` is added to the
    // priority's open record (in this same transaction), or opens a new one.
    auto& im = *impl_;
    auto& open = open_records[static_cast<std::size_t>(std::clamp(l.priority, 0, priority_levels - 1))];
    if (open.rowid != 0 && now - open.since < options_.loss_window) {
        im.loss_grow.bind(1, l.count);
        im.loss_grow.bind(2, static_cast<std::int64_t>(l.first_seq));
        im.loss_grow.bind(3, static_cast<std::int64_t>(l.last_seq));
        im.loss_grow.bind(4, l.at_ns);
        im.loss_grow.bind(5, open.rowid);
        const int rc = Impl::done(im.loss_grow);
        // A record folded away meanwhile (a bounded losses table) is replaced by a new one.
        if (rc != SQLITE_OK || sqlite3_changes(im.db.get()) > 0) return rc;
    }
    const int rc = im.write_loss(l);
    if (rc == SQLITE_OK) open = {sqlite3_last_insert_rowid(im.db.get()), now};
    return rc;
}

int Outbox::delete_acked_rows(Acks& acked, std::uint64_t& rows, std::uint64_t& bytes,
                              std::uint64_t& removed) {
    auto& im = *impl_;
    // Key order: by priority (unknown ones first, each looked up on its own), then seq. A drain
    // of one priority acknowledges in that order already (its PUBACKs come in publish order), and
    // a sorted deque costs one pass instead of an introsort.
    const auto key_less = [](const Ack& a, const Ack& b) {
        return a.priority != b.priority ? a.priority < b.priority : a.seq < b.seq;
    };
    if (!std::is_sorted(acked.begin(), acked.end(), key_less)) std::sort(acked.begin(), acked.end(), key_less);
    auto remove_one = [&](const Ack& a) {
        std::int64_t b = 0;
        const int rc = im.delete_acked(a.seq, a.priority, a.bytes, b);
        if (rc == SQLITE_OK && b >= 0) {
            ++removed;
            rows = checked_sub(rows, 1);
            bytes = checked_sub(bytes, row_bytes(static_cast<std::size_t>(b)));
        }
        return rc;
    };
    for (std::size_t i = 0; i < acked.size();) {
        // A run of one priority with known sizes and close numbers (other priorities' readings
        // between them take no key in this range): when the rows between its first and last key
        // are exactly its rows, one ranged DELETE takes them all. Read first: a row that is gone
        // (evicted or swept meanwhile) must not be subtracted twice, a row not acknowledged must stay.
        const bool sized = acked[i].bytes >= 0 && acked[i].priority >= 0;
        std::size_t end = i + 1;
        std::uint64_t payload = sized ? static_cast<std::uint64_t>(acked[i].bytes) : 0;
        bool consecutive = true;  // each number one above the one before (no gap, no repeat)
        while (sized && end < acked.size() && acked[end].priority == acked[i].priority &&
               acked[end].seq - acked[end - 1].seq <= max_ranged_gap && acked[end].bytes >= 0) {
            payload += static_cast<std::uint64_t>(acked[end].bytes);
            consecutive = consecutive && acked[end].seq == acked[end - 1].seq + 1;
            ++end;
        }
        const std::uint64_t n = end - i;
        if (n >= min_ranged_delete) {
            const auto key_at = [&](std::size_t k) { return row_key(acked[i + k].priority, acked[i + k].seq); };
            const std::int64_t first = key_at(0);
            const std::int64_t last = key_at(n - 1);
            bool exactly = false;
            if (const int rc = im.rows_are(first, last, n, key_at, consecutive, exactly); rc != SQLITE_OK) return rc;
            if (exactly) {
                if (const int rc = im.delete_between(first, last); rc != SQLITE_OK) return rc;
                removed += n;
                rows = checked_sub(rows, n);
                bytes = checked_sub(bytes, payload + n * row_overhead);
                i = end;
                continue;
            }
        }
        for (; i < end; ++i) {
            if (const int rc = remove_one(acked[i]); rc != SQLITE_OK) return rc;
        }
    }
    return SQLITE_OK;
}

int Outbox::delete_expired(const Job& j, std::uint64_t& rows, std::uint64_t& bytes, LossesByPriority& expired) {
    for (const auto& e : j.expired) {
        std::int64_t b = 0;
        if (const int rc = impl_->delete_acked(e.seq, e.priority, e.bytes, b); rc != SQLITE_OK) return rc;
        if (b < 0) continue;  // swept meanwhile: counted there
        rows = checked_sub(rows, 1);
        bytes = checked_sub(bytes, row_bytes(static_cast<std::size_t>(b)));
        count_loss(expired[static_cast<std::size_t>(e.priority)], expired_reason, e.priority, e.seq);
    }
    return SQLITE_OK;
}

int Outbox::sweep_expired(OutboxStats& st, LossesByPriority& expired) {
    // Expired rows that fetch() does not meet (held priorities, a drain that is behind) are
    // removed oldest first, in key order (priority, seq), up to the first row still
    // alive: created_ns grows with seq in practice, and a straggler is still caught by fetch().
    const auto now = std::chrono::steady_clock::now();
    if (!any_ttl_ || now < next_sweep_) return SQLITE_OK;
    next_sweep_ = now + std::chrono::seconds(1);
    auto& im = *impl_;
    const std::int64_t now_ns = wall_clock_ns();
    std::int64_t budget = max_swept_per_commit;
    struct Victim {
        std::uint64_t seq;
        std::int64_t payload;
    };
    std::vector<Victim> victims;
    for (int p = 0; p < priority_levels && budget > 0; ++p) {
        const std::int64_t before = expired_before(p, now_ns);
        // The sweep leaves an expired row to fetch() for options_.expiry_grace (see OutboxOptions).
        const std::int64_t grace_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.expiry_grace).count();
        if (before < std::numeric_limits<std::int64_t>::min() + grace_ns) continue;  // no TTL
        const std::int64_t cutoff = before - grace_ns;
        std::uint64_t after = 0;
        for (bool alive = false; !alive && budget > 0;) {
            const std::int64_t limit = std::min(budget, sweep_batch);
            victims.clear();
            auto& q = im.sweep_select;
            q.bind(1, row_key(p, after));
            q.bind(2, row_key(p, seq_limit));
            q.bind(3, limit);
            int rc;
            while ((rc = q.step()) == SQLITE_ROW && !(alive = q.column_int(1) >= cutoff)) {
                victims.push_back({seq_of_key(q.column_int(0)), std::max<std::int64_t>(q.column_int(2), 0)});
            }
            q.reset();
            if (rc != SQLITE_ROW && rc != SQLITE_DONE) return rc;
            for (const auto& v : victims) {
                std::int64_t b = 0;
                if (const int drc = im.delete_acked(v.seq, p, v.payload, b); drc != SQLITE_OK) return drc;
                if (b < 0) continue;
                st.rows = checked_sub(st.rows, 1);
                st.bytes = checked_sub(st.bytes, row_bytes(static_cast<std::size_t>(b)));
                count_loss(expired[static_cast<std::size_t>(p)], expired_reason, p, v.seq);
            }
            budget -= static_cast<std::int64_t>(victims.size());
            if (static_cast<std::int64_t>(victims.size()) < limit) break;
            after = victims.back().seq;
        }
    }
    return SQLITE_OK;
}

int Outbox::write_expired(const LossesByPriority& expired) {
    const auto now = std::chrono::steady_clock::now();
    for (const auto& l : expired) {
        if (l.count == 0) continue;
        if (const int rc = write_coalesced(open_expiries_, l, now); rc != SQLITE_OK) return rc;
    }
    return SQLITE_OK;
}

void Outbox::forget_open_losses() noexcept {
    open_evictions_.fill({});
    open_expiries_.fill({});
}

std::optional<std::chrono::seconds> Outbox::ttl(int priority) const {
    if (priority < 0 || priority >= priority_levels) return std::nullopt;
    const auto t = options_.ttl[static_cast<std::size_t>(priority)];
    if (t.count() <= 0) return std::nullopt;
    return t;
}

std::int64_t Outbox::expired_before(int priority, std::int64_t now_ns) const noexcept {
    constexpr std::int64_t never = std::numeric_limits<std::int64_t>::min();
    const auto t = ttl(priority);
    // A TTL beyond what nanoseconds since the epoch can hold (292 years) expires nothing.
    if (!t || t->count() > std::numeric_limits<std::int64_t>::max() / 1'000'000'000) return never;
    return now_ns - t->count() * 1'000'000'000;
}

bool Outbox::expiry_pending() const noexcept {
    return !expired_.empty() ||
           std::any_of(open_expired_.begin(), open_expired_.end(), [](const LossRecord& l) { return l.count > 0; });
}

void Outbox::flush_open_expired() {
    // Once per commit (or at close), not once per attempt while the store cannot be written: one
    // record per priority covers a whole spell in memory-only mode.
    for (auto& l : open_expired_) {
        if (l.count == 0) continue;
        unwritten_losses_.push_back(std::move(l));
        l = {};
    }
}

void Outbox::log_expired() {
    std::uint64_t count = 0;
    for (const auto n : expired_since_log_) count += n;
    std::uint64_t suppressed = 0;
    if (count == 0 || !impl_->expire_log.allow(std::chrono::steady_clock::now(), suppressed)) return;
    auto by_priority = nlohmann::json::object();
    for (int p = priority_levels - 1; p >= 0; --p) {
        if (const auto n = expired_since_log_[static_cast<std::size_t>(p)]) by_priority[std::to_string(p)] = n;
    }
    core::log_warn(
        "outbox.expired", "messages older than their priority's TTL were removed without being delivered",
        {{"count", count},
         {"by_priority", by_priority},
         {"expired_total", std::accumulate(stats_.expired.begin(), stats_.expired.end(), std::uint64_t{0})}});
    expired_since_log_.fill(0);
}

}  // namespace outpost::outbox
