// The drain's reads: the rows after a cursor, in delivery order, checked against their
// checksums and TTLs.
#include "outbox_impl.hpp"

namespace outpost::outbox {

namespace {

// A fetch() passes over at most about this many acknowledged or unusable rows before it returns
// what it has: one call stays short behind a long run of them.
constexpr std::size_t max_skipped_per_fetch = 4096;

// "No upper bound" for a seq range in SQL.
constexpr auto unbounded_seq = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

}  // namespace

std::uint32_t Outbox::epoch_of(std::uint64_t seq) const noexcept {
    if (epochs_.size() == 1 || (!epochs_.empty() && seq >= epochs_.back().first)) return epochs_.back().second;
    const auto it = std::upper_bound(epochs_.begin(), epochs_.end(), seq,
                                     [](std::uint64_t s, const auto& e) { return s < e.first; });
    return it == epochs_.begin() ? (epochs_.empty() ? 0 : epochs_.front().second) : std::prev(it)->second;
}

// One FIFO run of a drain: the rows of one priority with from < seq < below.
struct Outbox::Range {
    int priority = 0;
    std::int64_t expired_before = 0;  // rows created before this have outlived their TTL
    std::uint64_t from = 0;
    std::uint64_t below = unbounded_seq;
};

// One fetch() call.
struct Outbox::Batch {
    std::vector<core::StoredMessage>& out;
    std::size_t max = 0;
    std::size_t got = 0;
    std::size_t skipped = 0;  // acknowledged, damaged or expired rows passed over
    bool stop = false;        // a read error, a replaced store, or too many rows skipped
};

void Outbox::fetch_staged(const Range& r, std::uint64_t& after, Batch& b) {
    // Memory-only mode: staged messages are delivered from memory (seq order, after the cursor).
    auto it = std::upper_bound(staged_.begin(), staged_.end(), std::max(after, r.from),
                               [](std::uint64_t seq, const Staged& m) { return seq < m.seq; });
    bool expired = false;
    while (it != staged_.end() && it->seq < r.below && b.got < b.max) {
        if (it->priority != r.priority || acked_set_.count(it->seq)) {
            ++it;
            continue;
        }
        after = it->seq;
        if (it->created_ns < r.expired_before) {
            // Past its TTL: dropped from memory, on the record with the next commit that can be written.
            const auto p = static_cast<std::size_t>(r.priority);
            count_loss(open_expired_[p], expired_reason, r.priority, it->seq);
            ++stats_.expired[p];
            ++expired_since_log_[p];
            expired = true;
            it = staged_.erase(it);
            continue;
        }
        served_from_memory_ = true;
        b.out.push_back(it->stored(epoch_of(it->seq)));
        ++b.got;
        ++it;
    }
    if (expired) {
        stats_.staged = staged_.size();
        log_expired();
    }
}

void Outbox::fetch_range(const Range& r, std::uint64_t& after, Batch& b) {
    auto& im = *impl_;
    if (!im.store_ok && !im.readable) return fetch_staged(r, after, b);
    auto& st = im.fetch;
    const int p = r.priority;
    for (;;) {
        const std::size_t limit = b.max - b.got;
        // Keys of this priority's range, or (legacy, read-only) its seqs.
        const std::uint64_t from = std::min(std::max(after, r.from), seq_limit);
        const std::uint64_t below = std::min(r.below, seq_limit);
        st.bind(1, im.legacy ? static_cast<std::int64_t>(from) : row_key(p, from));
        st.bind(2, im.legacy ? static_cast<std::int64_t>(below) : row_key(p, below));
        st.bind(3, static_cast<std::int64_t>(limit));
        st.bind(4, p);
        std::size_t rows = 0;
        int rc;
        while ((rc = st.step()) == SQLITE_ROW) {
            ++rows;
            const auto seq = im.legacy ? static_cast<std::uint64_t>(st.column_int(0)) : seq_of_key(st.column_int(0));
            after = seq;
            if (acked_set_.count(seq)) {
                ++b.skipped;
                continue;
            }
            const auto qos = st.column_int(2);
            const RowFields row{.seq = seq,
                                .priority = p,
                                .created_ns = st.column_int(1),
                                .qos = static_cast<int>(qos),
                                .retain = st.column_int(3) != 0,
                                .topic = st.column_text(4),
                                .body = st.column_text(5)};
            if (!st.column_is_null(6) && static_cast<std::uint32_t>(st.column_int(6)) != row_checksum(row)) {
                // Damaged in place: never publish it; remove it and put it on the record.
                record_bad_row(seq, p);
                ++b.skipped;
                std::uint64_t suppressed = 0;
                if (im.checksum_log.allow(std::chrono::steady_clock::now(), suppressed)) {
                    core::log_error("outbox.checksum_mismatch",
                                    "a stored message does not match its checksum; it is not published and is "
                                    "recorded as lost",
                                    {{"seq", seq}, {"priority", p}, {"suppressed_since_last", suppressed}});
                }
                continue;
            }
            if (row.created_ns < r.expired_before) {
                // Past its TTL: never published; deleted and recorded at the next commit.
                acked_set_.insert(seq);
                expired_.push_back({seq, static_cast<std::uint32_t>(row.topic.size() + row.body.size()), p});
                ++b.skipped;
                continue;
            }
            auto& m = b.out.emplace_back();
            m.seq = seq;
            m.epoch = epoch_of(seq);
            m.message.priority = static_cast<std::uint8_t>(p);
            m.message.created_ns = row.created_ns;
            m.message.qos = static_cast<std::uint8_t>(std::clamp<std::int64_t>(qos, 0, 2));
            m.message.retain = row.retain;
            m.message.topic = std::string(row.topic);
            m.message.body = std::string(row.body);
            ++b.got;
        }
        st.reset();
        if (rc != SQLITE_DONE) {
            b.stop = true;
            if (im.store_ok && recover_if_damaged(rc, "a fetch")) return;  // the cursor stays valid: seqs are kept
            std::uint64_t suppressed = 0;
            if (im.fetch_error_log.allow(std::chrono::steady_clock::now(), suppressed)) {
                core::log_error("outbox.fetch_failed", "could not read from the outbox; will retry",
                                {{"error", sqlite3_errstr(rc)}, {"suppressed_since_last", suppressed}});
            }
            return;
        }
        if (rows < limit || b.got == b.max) break;
        // Skipped rows took places in the LIMIT and more of this range may follow: read on rather
        // than hand out lower priorities (or newer staged readings) before them; past the bound,
        // the next call goes on from here.
        if (b.skipped >= max_skipped_per_fetch) {
            b.stop = true;
            return;
        }
    }
    if (stats_.memory_only && b.got < b.max) fetch_staged(r, after, b);
}

std::size_t Outbox::fetch(DrainCursor& cursor, std::size_t max, std::vector<core::StoredMessage>& out) {
    if (!impl_->store_ok && !stats_.memory_only) return 0;
    Batch b{out, max};
    const std::int64_t now_ns = any_ttl_ ? wall_clock_ns() : 0;
    const std::uint64_t live_from = cursor.live_from;
    for (int p = priority_levels - 1; p >= std::max(cursor.lowest_priority, 0) && b.got < max && !b.stop; --p) {
        const auto i = static_cast<std::size_t>(p);
        const std::int64_t expired = expired_before(p, now_ns);
        // The live phase first (with live_from 0, every seq), then the backlog below live_from.
        fetch_range({p, expired, live_from > 0 ? live_from - 1 : 0}, cursor.after[i], b);
        if (live_from > 0 && b.got < max && !b.stop) {
            fetch_range({p, expired, 0, live_from}, cursor.backlog_after[i], b);
        }
    }
    return b.got;
}

}  // namespace outpost::outbox
