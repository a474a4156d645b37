#pragma once
// The outbox's insides, shared by its source files (outbox.cpp: staging and acknowledgements;
// outbox_open.cpp: opening, quarantine and closing; outbox_commit.cpp: the writer thread's
// commits; outbox_removal.cpp: acknowledged deletes, eviction and expiry; outbox_fetch.cpp: the
// drain's reads). Not installed: nothing outside outbox/src includes it.
#include "outpost/outbox/outbox.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <filesystem>
#include <limits>
#include <numeric>
#include <optional>
#include <random>

#include "commit_worker.hpp"
#include "integrity_checker.hpp"
#include "loss_row.hpp"
#include "loss_tally.hpp"
#include "outpost/core/log.hpp"
#include "outpost/outbox/outbox_error.hpp"
#include "outpost/core/wall_clock.hpp"
#include "row_checksum.hpp"
#include "row_key.hpp"
#include "row_size.hpp"
#include "salvage.hpp"
#include "seq_marker.hpp"
#include "sqlite.hpp"
#include "store_lock.hpp"

namespace outpost::outbox {

inline constexpr const char* expired_reason = "expired_ttl";

// A commit inserts its readings this many to a statement: one program start and one cursor for
// them all, which steps on from the row before instead of seeking while keys ascend (the writer
// 15% faster on ingest than with a statement a row: tools/bench.sh, 650-666k against 565-577k
// readings/s).
inline constexpr std::size_t rows_per_insert = 16;

inline constexpr int insert_columns = 7;

inline std::uint64_t row_bytes(std::size_t payload) { return payload + row_overhead; }

using core::wall_clock_ns;

// "key IN (...)": the keys `seq` could have at any priority, for a row whose priority is unknown.
inline std::string keys_of_any_priority() {
    std::string in = "(?1";
    for (int p = 1; p < priority_levels; ++p) in += ",?1+" + std::to_string(row_key(p, 0));
    return in + ")";
}

inline bool is_corruption(int code) noexcept {
    return (code & 0xFF) == SQLITE_CORRUPT || (code & 0xFF) == SQLITE_NOTADB;
}

inline std::uint64_t checked_sub(std::uint64_t a, std::uint64_t b) noexcept { return a > b ? a - b : 0; }

inline std::string reserve_path(const std::string& outbox_path) {
    const std::filesystem::path p(outbox_path);
    // Appended, not `"." + name`: GCC 12 warns falsely about that (-Wrestrict, its bug 105329).
    std::string name = ".";
    name += p.filename().string();
    name += ".reserve";
    return (p.parent_path() / name).string();
}

struct Outbox::DbState {
    bool created = false;  // the file was missing or empty: a new store
    bool clean = true;     // the last run shut down cleanly
    bool checked = false;  // an integrity check ran at open
    bool check_soon = false;  // an unclean stop and no check at open: check in the background now
    std::uint64_t next_seq = 1;
    std::optional<std::uint32_t> epoch;
};

struct Outbox::Impl {
    StoreLock lock;  // first: held until everything else has closed
    std::unique_ptr<SeqMarker> marker;
    IntegrityChecker checker;
    sql::Database db;
    sql::Statement insert, insert_many, remove, remove_any, remove_plain, remove_range, keys_range, count_range, fetch, evict_select, sweep_select, meta_set,
        meta_get, loss_insert, loss_grow, position_set, epoch_set;
    bool store_ok = false;  // open for writing
    bool readable = false;  // open read-only while the store cannot be written (memory-only mode)
    int runtime_quarantines = 0;
    std::chrono::steady_clock::time_point quarantine_window_start{};
    core::LogLimiter fetch_error_log;
    core::LogLimiter checksum_log;
    core::LogLimiter evict_log{1, std::chrono::seconds(1)};  // at most one eviction line a second
    core::LogLimiter expire_log{1, std::chrono::seconds(1)};
    // A second, read-only connection for fetch() and losses() on the owner's thread, while the
    // writer thread commits on `db` (WAL: readers and the writer do not block each other).
    sql::Database rdb;
    CommitWorker worker;  // last: its thread is joined before the connections close

    sql::Database& reader() { return rdb.get() ? rdb : db; }

    // Open read-only on a store in the legacy layout (row_key.hpp), which cannot be converted: only
    // fetch() and the meta reads are prepared, fetch() on seq bounds instead of keys.
    bool legacy = false;

    void prepare() {
        meta_get = sql::Statement(db, "SELECT value FROM meta WHERE key=?1");
        // ?1 and ?2 are keys (seqs when legacy), ?4 the priority: one bounded range on one B-tree.
        fetch = sql::Statement(reader(), legacy ? "SELECT seq,created_ns,qos,retain,topic,body,crc FROM messages "
                                                  "WHERE priority=?4 AND seq>?1 AND seq<?2 ORDER BY seq LIMIT ?3"
                                                : "SELECT key,created_ns,qos,retain,topic,body,crc FROM messages "
                                                  "WHERE key>?1 AND key<?2 ORDER BY key LIMIT ?3");
        if (legacy) return;
        insert = sql::Statement(db, "INSERT INTO messages(key,created_ns,qos,retain,topic,body,crc) "
                                    "VALUES(?1,?2,?3,?4,?5,?6,?7)");
        // OR FAIL: a statement of several rows that may abort halfway keeps a journal of its own
        // to undo just itself (pages copied to a temporary file: ingest 30% slower than one row a
        // statement, measured). Any failure rolls the whole commit back here, so none is needed.
        std::string many = "INSERT OR FAIL INTO messages(key,created_ns,qos,retain,topic,body,crc) "
                           "VALUES(?,?,?,?,?,?,?)";
        for (std::size_t i = 1; i < rows_per_insert; ++i) many += ",(?,?,?,?,?,?,?)";
        insert_many = sql::Statement(db, many);
        remove = sql::Statement(db, "DELETE FROM messages WHERE key=?1 RETURNING length(topic)+length(body)");
        remove_any = sql::Statement(db, "DELETE FROM messages WHERE key IN " + keys_of_any_priority() +
                                            " RETURNING length(topic)+length(body)");
        remove_plain = sql::Statement(db, "DELETE FROM messages WHERE key=?1");
        remove_range = sql::Statement(db, "DELETE FROM messages WHERE key BETWEEN ?1 AND ?2");
        keys_range = sql::Statement(db, "SELECT key FROM messages WHERE key BETWEEN ?1 AND ?2");
        count_range = sql::Statement(db, "SELECT count(*) FROM messages WHERE key BETWEEN ?1 AND ?2");
        evict_select = sql::Statement(db, "SELECT key,length(topic)+length(body) FROM messages ORDER BY key LIMIT ?1");
        sweep_select = sql::Statement(db,
                                      "SELECT key,created_ns,length(topic)+length(body) FROM messages "
                                      "WHERE key>?1 AND key<?2 ORDER BY key LIMIT ?3");
        meta_set = sql::Statement(db, "INSERT INTO meta(key,value) VALUES(?1,?2) "
                                      "ON CONFLICT(key) DO UPDATE SET value=excluded.value");
        loss_insert = sql::Statement(db, insert_loss_sql);
        loss_grow = sql::Statement(db,
                                   "UPDATE losses SET count=count+?1, first_seq=min(first_seq,?2), "
                                   "last_seq=max(last_seq,?3), at_ns=?4 WHERE rowid=?5");
        position_set = sql::Statement(db, "INSERT INTO positions(source,position) VALUES(?1,?2) "
                                          "ON CONFLICT(source) DO UPDATE SET position=excluded.position");
        epoch_set = sql::Statement(db, "INSERT OR REPLACE INTO epochs(first_seq,epoch) VALUES(?1,?2)");
    }

    void close_db() noexcept {
        insert = {};
        insert_many = {};
        remove = {};
        remove_any = {};
        remove_plain = {};
        remove_range = {};
        keys_range = {};
        count_range = {};
        fetch = {};
        evict_select = {};
        sweep_select = {};
        meta_set = {};
        meta_get = {};
        loss_insert = {};
        loss_grow = {};
        position_set = {};
        epoch_set = {};
        rdb.close();
        db.close();
        store_ok = false;
        readable = false;
        legacy = false;
    }

    // The meta value, nullopt if absent; throws OutboxError on a read error (a damaged page).
    std::optional<std::int64_t> get(std::string_view key) {
        meta_get.bind(1, key);
        std::optional<std::int64_t> v;
        const int rc = meta_get.step();
        if (rc == SQLITE_ROW) v = meta_get.column_int(0);
        meta_get.reset();
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) throw OutboxError("outbox: cannot read its bookkeeping: " + db.error_message(), rc);
        return v;
    }

    static int done(sql::Statement& st) {
        const int rc = st.step();
        st.reset();
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
    }

    int set(std::string_view key, std::int64_t value) {
        meta_set.bind(1, key);
        meta_set.bind(2, value);
        return done(meta_set);
    }

    std::uint64_t loss_rows = 0;  // records in the losses table (approximately: rolled-back inserts count)

    // The oldest `n` loss records folded into one per reason (priority -1, counts summed, the seq
    // range spanning them), keeping the table bounded without dropping a loss from the record.
    int fold_oldest_losses(std::int64_t n) {
        struct Folded {
            std::int64_t rowid, at_ns, count, first_seq, last_seq;
            std::string reason;
        };
        std::vector<Folded> folded;
        {
            sql::Statement agg(db, "SELECT min(r), max(at_ns), reason, sum(max(count,0)), min(first_seq), max(last_seq) "
                                   "FROM (SELECT rowid AS r, at_ns, reason, count, first_seq, last_seq FROM losses "
                                   "ORDER BY rowid LIMIT ?1) GROUP BY reason");
            agg.bind(1, n);
            int rc;
            while ((rc = agg.step()) == SQLITE_ROW) {
                folded.push_back({agg.column_int(0), agg.column_int(1), agg.column_int(3), agg.column_int(4),
                                  agg.column_int(5), std::string(agg.column_text(2))});
            }
            if (rc != SQLITE_DONE) return rc;
        }
        sql::Statement del(db, "DELETE FROM losses WHERE rowid IN (SELECT rowid FROM losses ORDER BY rowid LIMIT ?1)");
        del.bind(1, n);
        if (const int rc = done(del); rc != SQLITE_OK) return rc;
        sql::Statement ins(db, "INSERT INTO losses(rowid,at_ns,reason,priority,count,first_seq,last_seq) "
                               "VALUES(?1,?2,?3,-1,?4,?5,?6)");
        for (const auto& f : folded) {
            ins.bind(1, f.rowid);
            ins.bind(2, f.at_ns);
            ins.bind(3, f.reason);
            ins.bind(4, f.count);
            ins.bind(5, f.first_seq);
            ins.bind(6, f.last_seq);
            if (const int rc = done(ins); rc != SQLITE_OK) return rc;
        }
        loss_rows = loss_rows > static_cast<std::uint64_t>(n) ? loss_rows - static_cast<std::uint64_t>(n) + folded.size() : folded.size();
        return SQLITE_OK;
    }

    int write_loss(const LossRecord& l) {
        bind_loss(loss_insert, l);
        const int rc = done(loss_insert);
        if (rc == SQLITE_OK) ++loss_rows;
        return rc;
    }

    // The epochs table, ascending by first seq, into `out`; returns SQLite's result code.
    int read_epochs(std::vector<std::pair<std::uint64_t, std::uint32_t>>& out) {
        out.clear();
        sql::Statement q(db, "SELECT first_seq,epoch FROM epochs ORDER BY first_seq");
        int rc;
        while ((rc = q.step()) == SQLITE_ROW) {
            out.emplace_back(static_cast<std::uint64_t>(q.column_int(0)), static_cast<std::uint32_t>(q.column_int(1)));
        }
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
    }

    int write_epoch(std::uint64_t first_seq, std::uint32_t epoch) {
        epoch_set.bind(1, static_cast<std::int64_t>(first_seq));
        epoch_set.bind(2, std::int64_t{epoch});
        return done(epoch_set);
    }

    int write_message(const core::StoredMessage& s) {
        const auto& m = s.message;
        return write_row({s.seq, m.priority, m.created_ns, m.qos, m.retain, m.topic, m.body});
    }

    static void bind_row(sql::Statement& st, int first, const RowFields& r) {
        st.bind(first, row_key(r.priority, r.seq));
        st.bind(first + 1, r.created_ns);
        st.bind(first + 2, r.qos);
        st.bind(first + 3, r.retain ? 1 : 0);
        st.bind(first + 4, r.topic);
        st.bind(first + 5, r.body);
        st.bind(first + 6, std::int64_t{row_checksum(r)});
    }

    int write_row(const RowFields& r) {
        bind_row(insert, 1, r);
        return done(insert);
    }

    // rows_per_insert rows with one statement.
    int write_rows(const RowFields* rows) {
        for (std::size_t i = 0; i < rows_per_insert; ++i) {
            bind_row(insert_many, static_cast<int>(i) * insert_columns + 1, rows[i]);
        }
        return done(insert_many);  // which clears the bindings: none points into a finished commit
    }

    // Deletes a message that is done with (acknowledged, evicted, expired). Its size is known from
    // the fetch (no RETURNING, whose temporary B-tree cost more than the delete itself), unless
    // `known` is negative; its priority too, unless negative. Returns SQLITE_OK and the payload
    // size in `bytes` (-1 if the row was gone already).
    int delete_acked(std::uint64_t seq, int priority, std::int64_t known, std::int64_t& bytes) {
        if (priority < 0) return delete_any_priority(seq, bytes);
        return delete_row(row_key(priority, seq), known, bytes);
    }

    // The same by key (as read from the table).
    int delete_row(std::int64_t key, std::int64_t known, std::int64_t& bytes) {
        if (known < 0) return delete_key(key, bytes);
        remove_plain.bind(1, key);
        const int rc = done(remove_plain);
        bytes = rc == SQLITE_OK && sqlite3_changes(db.get()) > 0 ? known : -1;
        return rc;
    }

    // Whether the rows with keys in [first, last] are exactly the `n` keys `key_at(0..n-1)`
    // (ascending; `consecutive`: they are first, first + 1, ..., last); SQLITE_OK or the error.
    template <class KeyAt>
    int rows_are(std::int64_t first, std::int64_t last, std::size_t n, const KeyAt& key_at, bool consecutive,
                 bool& exactly) {
        if (consecutive) {
            // Every key from first to last is one of the n: counting the rows says whether all are
            // there, without handing each key back. A drain of one priority makes runs like this.
            count_range.bind(1, first);
            count_range.bind(2, last);
            const int rc = count_range.step();
            exactly = rc == SQLITE_ROW && count_range.column_int(0) == static_cast<std::int64_t>(n);
            count_range.reset();
            return rc == SQLITE_ROW ? SQLITE_OK : rc;
        }
        keys_range.bind(1, first);
        keys_range.bind(2, last);
        std::size_t i = 0;
        exactly = true;
        int rc;
        while ((rc = keys_range.step()) == SQLITE_ROW) {
            if (i == n || keys_range.column_int(0) != key_at(i)) {
                exactly = false;
                rc = SQLITE_DONE;
                break;
            }
            ++i;
        }
        keys_range.reset();
        exactly = exactly && i == n;
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
    }

    int delete_between(std::int64_t first, std::int64_t last) {
        remove_range.bind(1, first);
        remove_range.bind(2, last);
        return done(remove_range);
    }

    // Deletes one row; returns SQLITE_OK and its payload size in `bytes` (-1 if it was gone).
    int delete_key(std::int64_t key, std::int64_t& bytes) {
        remove.bind(1, key);
        bytes = -1;
        int rc = remove.step();
        if (rc == SQLITE_ROW) {
            bytes = remove.column_int(0);
            rc = remove.step();
        }
        remove.reset();
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
    }

    // The same for a seq whose priority is not known: its key at each priority (one lookup each).
    int delete_any_priority(std::uint64_t seq, std::int64_t& bytes) {
        remove_any.bind(1, row_key(0, seq));
        bytes = -1;
        int rc;
        while ((rc = remove_any.step()) == SQLITE_ROW) bytes = remove_any.column_int(0);
        remove_any.reset();
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
};

// What one commit carries to the writer thread, and what it brings back.
struct Outbox::Job {
    bool acks_only = false;
    // The disk is full and its reserve was given up for deletes and loss records: the inserts are
    // not tried (one that fitted would take that room), they fail as on a full disk.
    bool hold_inserts = false;
    std::deque<Staged> staged;
    Acks acked;
    std::size_t pending = 0;  // acked plus expired at submission (the io thread reads this, not the vectors)
    std::vector<LossRecord> losses;
    std::map<std::string, std::int64_t> positions;
    bool positions_dirty = false;
    OutboxStats st;  // a copy: the writer counts rows, bytes, evictions in it; applied on success
    std::error_code ec;
    bool deletes_committed = false;  // the main transaction failed, acks and losses went alone
    std::uint64_t removed = 0;
    std::vector<Expired> expired;        // rows fetch() found expired: deleted with the acknowledged ones
    LossesByPriority expired_removed{};  // what the committed transaction removed as expired, by priority
};

}  // namespace outpost::outbox
