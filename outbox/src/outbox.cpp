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
namespace {

// The losses table is bounded: past this many records the oldest tenth is folded, one per reason.
constexpr std::uint64_t max_loss_records = 10'000;

// After an unclean stop, files up to this size are checked before use; bigger ones in the background.
constexpr std::uintmax_t sync_check_max_bytes = 16u << 20;

// A fetch() passes over at most about this many acknowledged or unusable rows before it returns
// what it has: one call stays short behind a long run of them.
constexpr std::size_t max_skipped_per_fetch = 4096;

// "No upper bound" for a seq range in SQL.
constexpr auto unbounded_seq = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

constexpr const char* expired_reason = "expired_ttl";

// A commit inserts its readings this many to a statement: one program start and one cursor for
// them all, which steps on from the row before instead of seeking while keys ascend (the writer
// 15% faster on ingest than with a statement a row: tools/bench.sh, 650-666k against 565-577k
// readings/s).
constexpr std::size_t rows_per_insert = 16;
constexpr int insert_columns = 7;
// Acknowledged runs at least this long are deleted with one ranged statement (below it the count
// that guards the range costs more than it saves).
constexpr std::size_t min_ranged_delete = 4;

// The log is checkpointed (and starts over) once it holds this much.
constexpr std::int64_t wal_restart_bytes = 4 << 20;

// Distinct topics kept for staged readings before the table is pruned to those still staged.
constexpr std::size_t max_topics = 65'536;

// The sweep of expired rows runs at most once a second and removes at most this many rows per
// commit (in batches), so a commit stays short whatever the backlog.
constexpr std::int64_t max_swept_per_commit = 20'000;
constexpr std::int64_t sweep_batch = 4096;

std::uint64_t row_bytes(std::size_t payload) { return payload + row_overhead; }

using core::wall_clock_ns;

// The tables besides `messages` (row_key.hpp).
constexpr const char* schema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS positions(source TEXT PRIMARY KEY, position INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS epochs(first_seq INTEGER PRIMARY KEY, epoch INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS losses(
  at_ns     INTEGER NOT NULL,
  reason    TEXT    NOT NULL,
  priority  INTEGER NOT NULL,
  count     INTEGER NOT NULL,
  first_seq INTEGER NOT NULL,
  last_seq  INTEGER NOT NULL);
)sql";

// A conversion from the legacy layout moves this many rows a transaction (a crash in between
// resumes it at the next open; freed pages are reused, so the file does not need twice the space).
constexpr std::int64_t conversion_batch = 50'000;

// Acknowledged numbers of one priority at most this far apart still make one ranged delete: the
// read that checks the range then meets at most this many rows per acknowledgement.
constexpr std::uint64_t max_ranged_gap = 64;

// "key IN (...)": the keys `seq` could have at any priority, for a row whose priority is unknown.
std::string keys_of_any_priority() {
    std::string in = "(?1";
    for (int p = 1; p < priority_levels; ++p) in += ",?1+" + std::to_string(row_key(p, 0));
    return in + ")";
}

struct OldestRow {
    std::uint64_t seq;
    std::int64_t created_ns;
};

// The row with the lowest seq, whatever its priority (one lookup per priority); nullopt if none.
std::optional<OldestRow> oldest_row(sql::Database& db, bool legacy) {
    std::optional<OldestRow> oldest;
    if (legacy) {
        sql::Statement q(db, "SELECT seq,created_ns FROM messages ORDER BY seq LIMIT 1");
        if (q.step() == SQLITE_ROW) oldest = OldestRow{static_cast<std::uint64_t>(q.column_int(0)), q.column_int(1)};
        return oldest;
    }
    sql::Statement q(db, "SELECT key,created_ns FROM messages WHERE key>=?1 AND key<?2 ORDER BY key LIMIT 1");
    for (int p = 0; p < priority_levels; ++p) {
        q.bind(1, row_key(p, 0));
        q.bind(2, row_key(p, seq_limit));
        if (q.step() == SQLITE_ROW) {
            const auto seq = seq_of_key(q.column_int(0));
            if (!oldest || seq < oldest->seq) oldest = OldestRow{seq, q.column_int(1)};
        }
        q.reset();
    }
    return oldest;
}

bool is_corruption(int code) noexcept {
    return (code & 0xFF) == SQLITE_CORRUPT || (code & 0xFF) == SQLITE_NOTADB;
}

// The store exists (or could) but cannot be written: a read-only file, directory or filesystem,
// or permissions. The gateway runs on from memory and retries; other errors stop the start.
bool is_unwritable(int code) noexcept {
    switch (code & 0xFF) {
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH:
    case SQLITE_IOERR:
        return true;
    default:
        return false;
    }
}

// A URI naming `path` for SQLite (`?`, `#` and `%` escaped).
std::string file_uri(const std::string& path, const char* query) {
    std::string uri = "file:";
    for (const char c : path) {
        if (c == '?' || c == '#' || c == '%') {
            char buf[4];
            std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
            uri += buf;
        } else {
            uri += c;
        }
    }
    return uri + "?" + query;
}

std::uint64_t checked_sub(std::uint64_t a, std::uint64_t b) noexcept { return a > b ? a - b : 0; }

// A scheduled background check waits while the writer thread is busy more than this share of the time.
constexpr double max_writer_share_for_check = 0.5;

// A next sequence number read back (marker, meta) at or beyond 2^56 is damage: no key can hold it.
// While running, and in memory-only mode, it is left out of the numbering, on the record: what this
// process numbered itself and every stored row are below 2^56, and the numbering goes on under a
// new epoch. (Opening a writable store at start-up refuses it instead: open_at_start.)
std::uint64_t sane_next_seq(std::uint64_t next, const char* from, const std::string& path) {
    if (next < seq_limit) return next;
    core::log_error("outbox.next_seq_damaged",
                    "a next sequence number beyond the 2^56 the outbox can number was read back; it is damaged and "
                    "left out of the numbering",
                    {{"path", path}, {"from", from}, {"value", next}});
    return 1;
}

std::uint32_t random_epoch(const std::vector<std::pair<std::uint64_t, std::uint32_t>>& taken) {
    std::random_device rd;
    for (;;) {
        // Below 2^31: any JSON or SQL consumer reads it as a plain integer.
        const std::uint32_t e = rd() & 0x7FFFFFFFu;
        if (e == 0) continue;
        if (std::none_of(taken.begin(), taken.end(), [e](const auto& t) { return t.second == e; })) return e;
    }
}

std::string reserve_path(const std::string& outbox_path) {
    const std::filesystem::path p(outbox_path);
    // Appended, not `"." + name`: GCC 12 warns falsely about that (-Wrestrict, its bug 105329).
    std::string name = ".";
    name += p.filename().string();
    name += ".reserve";
    return (p.parent_path() / name).string();
}

// Files private to the gateway's user: readings can be commercially sensitive.
void make_private(const std::string& path) noexcept {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) ::chmod(path.c_str(), st.st_mode & 0700);
}

// fsync the directory holding `path`, so a rename or a new file in it survives a power cut.
void sync_directory(const std::string& path) noexcept {
    const auto dir = std::filesystem::path(path).parent_path();
    const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
}

void prepare_directory(const std::string& path) {
    const auto dir = std::filesystem::path(path).parent_path();
    if (dir.empty() || std::filesystem::exists(dir)) return;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw OutboxError("cannot create the outbox directory " + dir.string() + ": " + ec.message(), SQLITE_CANTOPEN);
    ::chmod(dir.c_str(), 0700);
}

}  // namespace

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
        loss_insert = sql::Statement(db, "INSERT INTO losses(at_ns,reason,priority,count,first_seq,last_seq) "
                                         "VALUES(?1,?2,?3,?4,?5,?6)");
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
        loss_insert.bind(1, l.at_ns);
        loss_insert.bind(2, l.reason);
        loss_insert.bind(3, l.priority);
        loss_insert.bind(4, l.count);
        loss_insert.bind(5, static_cast<std::int64_t>(l.first_seq));
        loss_insert.bind(6, static_cast<std::int64_t>(l.last_seq));
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

Outbox::Outbox(OutboxOptions options) : options_(std::move(options)), impl_(std::make_unique<Impl>()) {
    any_ttl_ = std::any_of(options_.ttl.begin(), options_.ttl.end(), [](auto t) { return t.count() > 0; });
    prepare_directory(options_.path);  // a directory that cannot even be created is a start-up error
    impl_->lock = StoreLock(options_.path);  // one process per store (throws if another holds it)
    try {
        open_at_start();
    } catch (const OutboxError& e) {
        if (!is_unwritable(e.sqlite_code())) throw;
        start_memory_only(e.what());
    }
}

void Outbox::open_at_start() {
    std::error_code wal_ec;
    const bool wal_present = std::filesystem::file_size(options_.path + "-wal", wal_ec) > 0 && !wal_ec;
    impl_->marker = std::make_unique<SeqMarker>(options_.path);
    const auto mark = impl_->marker->previous();
    std::error_code size_ec;
    const auto size = std::filesystem::file_size(options_.path, size_ec);
    const bool file_missing = static_cast<bool>(size_ec);
    DbState db;
    try {
        db = open_store();
    } catch (const OutboxError& e) {
        if (!is_corruption(e.sqlite_code())) throw;
        quarantine(e.what(), true);
        db.checked = true;
    }
    if (!stats_.quarantined_at_start) {
        std::uint64_t next = db.next_seq;
        const char* discontinuity = nullptr;
        if (db.created) {
            if (mark) {
                next = std::max(next, mark->next_seq);
                discontinuity = file_missing ? "the outbox file is missing" : "the outbox file is empty";
                if (mark->rows > 0) {
                    add_loss({wall_clock_ns(), "store_missing", -1, static_cast<std::int64_t>(mark->rows),
                              checked_sub(mark->next_seq, mark->rows), mark->next_seq - 1});
                }
                core::log_error("outbox.store_missing",
                                "the outbox file is gone or empty although the sequence marker says it held "
                                "messages; they are recorded as lost and numbering continues",
                                {{"path", options_.path}, {"size", file_missing ? -1 : static_cast<std::int64_t>(size)},
                                 {"rows_expected", mark->rows}, {"next_seq", mark->next_seq}});
            } else if (impl_->marker->existed()) {
                discontinuity = "the sequence marker is unreadable";
            }
        } else if (mark) {
            if (mark->next_seq > db.next_seq && mark->committed_next_seq != 0 && db.next_seq == mark->committed_next_seq &&
                !db.clean && wal_present && db.epoch && *db.epoch == mark->epoch) {
                // After a crash the file is exactly as the last commit found it: that commit either
                // never reached the disk (its readings were never accepted) or its part of the -wal
                // was damaged afterwards. The two look alike, so its range goes on the record, as
                // unconfirmed rather than lost; the numbering (and the epoch) simply continue.
                const auto count = mark->next_seq - db.next_seq;
                add_loss({wall_clock_ns(), "unconfirmed_last_commit", -1, static_cast<std::int64_t>(count), db.next_seq,
                          mark->next_seq - 1});
                core::log_warn("outbox.last_commit_unconfirmed",
                               "the last commit before the crash is not in the file: it most likely never completed "
                               "(its readings were never accepted); its range is recorded in case it was lost",
                               {{"path", options_.path}, {"readings", count}, {"first_seq", db.next_seq},
                                {"last_seq", mark->next_seq - 1}});
                next = mark->next_seq;
            } else if (mark->next_seq > db.next_seq) {
                // A lost or garbled -wal, or a file restored from a copy: committed messages may be gone.
                discontinuity = "the outbox file was rolled back";
                // Numbers above the file's were handed out and are gone; and a file left half
                // checkpointed can miss rows below its own next_seq too, which the marker's row count
                // (as of the last insert commit) bounds.
                const std::uint64_t count = std::max(mark->next_seq - db.next_seq, checked_sub(mark->rows, stats_.rows));
                const std::uint64_t first =
                    std::max<std::uint64_t>(1, std::min(db.next_seq, checked_sub(mark->next_seq, mark->rows)));
                add_loss({wall_clock_ns(), "rolled_back", -1, static_cast<std::int64_t>(count), first, mark->next_seq - 1});
                core::log_error("outbox.rolled_back",
                                "the outbox file is older than the sequence marker (a lost -wal or a restored copy); "
                                "the numbers in between are recorded as possibly lost and numbering continues",
                                {{"path", options_.path}, {"file_next_seq", db.next_seq}, {"marker_next_seq", mark->next_seq}});
                next = mark->next_seq;
            } else if (db.epoch && *db.epoch != mark->epoch) {
                discontinuity = "the outbox file is not the one the sequence marker describes";
            }
        } else if (!db.clean) {
            discontinuity = "no sequence marker after an unclean shutdown";
        } else if (impl_->marker->existed()) {
            discontinuity = "the sequence marker is unreadable";
        }
        if (next >= seq_limit) {
            // Only damage gets here (2^56 numbers take 2,283 years at a million a second). Going on
            // would number readings no key can hold, going back could reuse a number: neither.
            throw OutboxError("outbox: the next sequence number recorded for " + options_.path + " or its marker " +
                                  impl_->marker->path() + " is " + std::to_string(next) +
                                  ", beyond the 2^56 the outbox can number: one of them is damaged. Move both "
                                  "aside (`outpost outbox export` still reads the file) and start again",
                              SQLITE_CORRUPT);
        }
        stats_.next_seq = next;
        if (!epochs_.empty() && !discontinuity) {
            stats_.epoch = epochs_.back().second;
        } else {
            start_epoch(epochs_.empty() && !discontinuity ? 1 : next, discontinuity);
        }
    }
    if (const int rc = impl_->set("clean_shutdown", 0); rc != SQLITE_OK) {
        throw OutboxError("outbox: cannot write to " + options_.path + ": " + impl_->db.error_message(), rc);
    }
    marker_next_seq_ = 0;
    if (const auto ec = write_marker_if_needed(stats_.next_seq, stats_.epoch, stats_.rows)) {
        throw OutboxError("outbox: cannot write the sequence marker " + impl_->marker->path() + ": " + ec.message(),
                          SQLITE_IOERR);
    }
    if (!unwritten_losses_.empty()) commit();
    // A store that opened without a check gets one soon, in the background.
    next_check_ = std::chrono::steady_clock::now() +
                  (db.checked ? options_.integrity_check_interval
                              : db.check_soon ? std::chrono::seconds(0) : std::chrono::seconds(10));
    check_now_ = db.check_soon;
    if (db.check_soon) maintain(std::chrono::steady_clock::now());
    refresh_reserve();
    core::log_info("outbox.open", "outbox ready",
                   {{"path", options_.path}, {"rows", stats_.rows}, {"bytes", stats_.bytes},
                    {"next_seq", stats_.next_seq}, {"epoch", stats_.epoch}, {"checked", db.checked},
                    {"checking_in_background", db.check_soon}});
}

void Outbox::start_memory_only(const std::string& why) {
    auto& im = *impl_;
    im.close_db();
    im.marker.reset();
    stats_.memory_only = true;
    // Numbering continues above everything that can still be read: the marker and the file.
    std::uint64_t next = 1;
    if (const auto mark = SeqMarker::read(options_.path)) next = std::max(next, sane_next_seq(mark->next_seq, "marker", options_.path));
    epochs_.clear();
    try {
        if (!open_read_only()) throw OutboxError("not readable", SQLITE_CANTOPEN);
        if (const auto v = im.get("next_seq")) {
            next = std::max(next, sane_next_seq(static_cast<std::uint64_t>(*v), "meta", options_.path));
        }
        sql::Statement top(im.db, "SELECT coalesce(max(seq),0), count(*) FROM messages");
        if (top.step() == SQLITE_ROW) {
            next = std::max(next, static_cast<std::uint64_t>(top.column_int(0)) + 1);
            stats_.rows = static_cast<std::uint64_t>(top.column_int(1));
        }
        im.read_epochs(epochs_);
        if (epochs_.empty()) {
            if (const auto e = im.get("epoch"); e && *e > 0) epochs_.emplace_back(1, static_cast<std::uint32_t>(*e));
        }
    } catch (const OutboxError&) {
        im.close_db();  // not even readable: new readings only
        epochs_.clear();
        stats_.rows = 0;
    }
    // New readings get an epoch of their own, recorded in the store once it can be written: no
    // (epoch, seq) they are published under can name another reading, whatever the file held.
    const auto epoch = random_epoch(epochs_);
    epochs_.emplace_back(next, epoch);
    memory_epoch_ = {next, epoch};
    stats_.next_seq = next;
    stats_.epoch = epoch;
    next_reserve_attempt_ = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    core::log_error("outbox.unavailable",
                    "the outbox cannot be written; new readings are kept in memory (up to max_staged, the oldest "
                    "dropped and counted) and delivered from there, stored messages are delivered read-only; "
                    "retrying every 10 s",
                    {{"path", options_.path}, {"error", why}, {"stored_readable", im.readable},
                     {"stored_rows", stats_.rows}, {"next_seq", next}, {"epoch", epoch}});
}

bool Outbox::open_read_only() noexcept {
    auto& im = *impl_;
    im.close_db();
    try {
        // Read-only and without locking (the file or its directory cannot be written, so there is
        // no -shm): what it holds can still be delivered; nothing in it is changed.
        im.db = sql::Database(file_uri(options_.path, "immutable=1"),
                              SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX);
        im.legacy = !im.db.has_column("messages", "key");  // cannot be converted while read-only
        im.prepare();
        im.readable = true;
    } catch (const std::exception&) {
        im.close_db();
    }
    return im.readable;
}

void Outbox::reopen() {
    auto& im = *impl_;
    auto marker = std::make_unique<SeqMarker>(options_.path);
    const auto mark = marker->previous();
    im.marker = std::move(marker);
    const auto db = open_store();
    std::uint64_t next = std::max({stats_.next_seq, sane_next_seq(db.next_seq, "meta", options_.path),
                                   mark ? sane_next_seq(mark->next_seq, "marker", options_.path) : std::uint64_t{1}});
    if (!staged_.empty()) next = std::max(next, staged_.back().seq + 1);
    stats_.next_seq = next;
    if (memory_epoch_) {
        // What was numbered in memory keeps its epoch (it may be in flight already); recorded now.
        adopt_epoch(memory_epoch_->first, memory_epoch_->second);
        memory_epoch_.reset();
    } else {
        start_epoch(next, "the outbox was reopened after a failure");
    }
    if (const int rc = im.set("clean_shutdown", 0); rc != SQLITE_OK) {
        throw OutboxError("outbox: cannot write to " + options_.path + ": " + im.db.error_message(), rc);
    }
    marker_next_seq_ = 0;
    if (const auto ec = write_marker_if_needed(stats_.next_seq, stats_.epoch, stats_.rows)) {
        throw OutboxError("outbox: cannot write the sequence marker: " + ec.message(), SQLITE_IOERR);
    }
    stats_.memory_only = false;
    next_check_ = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    core::log_info("outbox.reopened", "the outbox can be written again; what was kept in memory is committed now",
                   {{"path", options_.path}, {"rows", stats_.rows}, {"staged", staged_.size()},
                    {"next_seq", stats_.next_seq}, {"epoch", stats_.epoch}});
}

Outbox::DbState Outbox::open_store() {
    auto& im = *impl_;
    im.close_db();
    DbState state;
    std::error_code ec;
    state.created = !std::filesystem::exists(options_.path) || std::filesystem::file_size(options_.path, ec) == 0;
    if (!std::filesystem::exists(options_.path)) {
        // Create it private before SQLite does (SQLite would use 0644); -wal and -shm follow its mode.
        const int fd = ::open(options_.path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) ::close(fd);
    }
    make_private(options_.path);
    im.db = sql::Database(options_.path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX);
    im.db.exec("PRAGMA busy_timeout=2000");
    // 16 KiB pages for a new store (an existing one keeps its size): every page read, write,
    // log frame and checkpoint copy is a system call, and a drain deletes and a bus appends whole
    // pages of rows. Under a saturated bus the drain went from 430-540k to 570-830k readings/s.
    im.db.exec("PRAGMA page_size=16384");
    im.db.exec("PRAGMA journal_mode=WAL");
    // The log's file keeps its largest size until told otherwise, and a long reader (the background
    // check) lets it grow by hundreds of MB under a saturated bus: back to 16 MB when it starts over.
    im.db.exec("PRAGMA journal_size_limit=16777216");
    {
        // The log starts over after 4 MB whatever the page size (the default counts 1000 pages).
        sql::Statement q(im.db, "PRAGMA page_size");
        const std::int64_t page = q.step() == SQLITE_ROW ? std::max<std::int64_t>(q.column_int(0), 512) : 4096;
        im.db.exec("PRAGMA wal_autocheckpoint=" + std::to_string(std::max<std::int64_t>(wal_restart_bytes / page, 1)));
    }
    // 512 KiB of page cache: appends and a drain in key order touch few pages, and RSS is a budget.
    im.db.exec("PRAGMA cache_size=-512");
    im.db.exec(options_.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    // Debian builds SQLite with secure_delete on, which also zeroes whole freed pages: extra
    // writes for every delivered row (flash wear). FAST still clears deleted cells inside pages.
    im.db.exec("PRAGMA secure_delete=FAST");
    im.db.exec(schema);
    prepare_messages_table();
    im.rdb = sql::Database(options_.path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX);
    im.rdb.exec("PRAGMA busy_timeout=2000");
    im.rdb.exec("PRAGMA cache_size=-256");  // reads follow the drain: few pages, and RSS is a budget
    im.prepare();
    for (const char* suffix : {"-wal", "-shm"}) make_private(options_.path + suffix);

    state.clean = im.get("clean_shutdown").value_or(1) == 1;
    std::error_code size_ec;
    const auto file_size = std::filesystem::file_size(options_.path, size_ec);
    state.check_soon = !state.created && !state.clean;
    if (state.check_soon && !size_ec && file_size <= sync_check_max_bytes) {
        // The last run ended by a crash or power cut: check the file before trusting it. A small
        // file is checked here (milliseconds); a big one in the background, started at once, so
        // the first publish does not wait for it (rows are checksummed, damage met on the way is
        // quarantined like damage found by the check).
        sql::Statement check(im.db, "PRAGMA quick_check");
        std::string result;
        const int rc = check.step();
        if (rc == SQLITE_ROW) result = std::string(check.column_text(0));
        if (rc != SQLITE_ROW || result != "ok") {
            throw OutboxError("integrity check failed: " + (rc == SQLITE_ROW ? result : im.db.error_message()),
                              SQLITE_CORRUPT);
        }
        state.checked = true;
        state.check_soon = false;
    }
    state.next_seq = static_cast<std::uint64_t>(std::max<std::int64_t>(1, im.get("next_seq").value_or(1)));
    if (const auto e = im.get("epoch"); e && *e > 0) state.epoch = static_cast<std::uint32_t>(*e);
    if (const int rc = im.read_epochs(epochs_); rc != SQLITE_OK) {
        throw OutboxError("outbox: cannot read its epochs: " + im.db.error_message(), rc);
    }
    if (epochs_.empty() && state.epoch) epochs_.emplace_back(1, *state.epoch);
    const auto rows = im.get("rows");
    const auto bytes = im.get("bytes");
    stats_.rows = 0;
    stats_.bytes = 0;
    if (rows && bytes && *rows >= 0 && *bytes >= 0) {
        stats_.rows = static_cast<std::uint64_t>(*rows);
        stats_.bytes = static_cast<std::uint64_t>(*bytes);
    } else {
        sql::Statement count(im.db, "SELECT count(*), coalesce(sum(length(topic)+length(body)),0), coalesce(max(seq),0) "
                                    "FROM messages");
        const int rc = count.step();
        if (rc != SQLITE_ROW) throw OutboxError("outbox: cannot count its messages: " + im.db.error_message(), rc);
        stats_.rows = static_cast<std::uint64_t>(count.column_int(0));
        stats_.bytes = static_cast<std::uint64_t>(count.column_int(1)) + stats_.rows * row_overhead;
        state.next_seq = std::max(state.next_seq, static_cast<std::uint64_t>(count.column_int(2)) + 1);
    }
    forget_open_losses();
    {
        sql::Statement q(im.db, "SELECT count(*) FROM losses");
        im.loss_rows = q.step() == SQLITE_ROW ? static_cast<std::uint64_t>(q.column_int(0)) : 0;
    }
    {
        sql::Statement q(im.db, "SELECT source,position FROM positions");
        while (q.step() == SQLITE_ROW) positions_.try_emplace(std::string(q.column_text(0)), q.column_int(1));
    }
    im.store_ok = true;
    store_next_seq_ = state.next_seq;
    return state;
}

void Outbox::prepare_messages_table() {
    auto& db = impl_->db;
    const bool exists = db.has_column("messages", "topic");
    if (exists && db.has_column("messages", "key")) return;
    if (!exists) {
        // A new store, or a conversion that ended between its last batch and the rename.
        db.exec(db.has_column(converting_table, "key")
                    ? std::string("ALTER TABLE ") + converting_table + " RENAME TO messages"
                    : std::string("CREATE TABLE messages") + message_columns);
        return;
    }
    // The legacy layout: converted in place, lowest seqs first, conversion_batch rows a
    // transaction. A crash in between leaves both tables; the next open goes on from there.
    const auto started = std::chrono::steady_clock::now();
    // Stores written before rows were checksummed: their rows carry no checksum (NULL).
    if (!db.has_column("messages", "crc")) db.exec("ALTER TABLE messages ADD COLUMN crc INTEGER");
    db.exec(std::string("CREATE TABLE IF NOT EXISTS ") + converting_table + message_columns);
    auto fail = [&](const char* what, int rc) {
        throw OutboxError(std::string("outbox: cannot convert ") + options_.path + " to the current layout (" + what +
                              "): " + db.error_message(),
                          rc);
    };
    std::int64_t rows = 0;
    {
        sql::Statement q(db, "SELECT count(*) FROM messages");
        if (const int rc = q.step(); rc != SQLITE_ROW) fail("count", rc);
        rows = q.column_int(0);
    }
    core::log_info("outbox.converting",
                   "converting the outbox to the current layout (once, before the first delivery from it)",
                   {{"path", options_.path}, {"rows", rows}});
    {
        // A seq no key can hold (never written by the gateway): such a row cannot be delivered.
        sql::Statement q(db, "SELECT count(*), min(seq), max(seq) FROM messages WHERE seq<1 OR seq>=?1");
        q.bind(1, static_cast<std::int64_t>(seq_limit));
        if (const int rc = q.step(); rc != SQLITE_ROW) fail("check", rc);
        if (const auto n = q.column_int(0); n > 0) {
            add_loss({wall_clock_ns(), "checksum_mismatch", -1, n, static_cast<std::uint64_t>(std::max<std::int64_t>(q.column_int(1), 0)),
                      static_cast<std::uint64_t>(std::max<std::int64_t>(q.column_int(2), 0))});
        }
    }
    sql::Statement bound(db, "SELECT coalesce((SELECT seq FROM messages ORDER BY seq LIMIT 1 OFFSET ?1), "
                             "(SELECT max(seq) FROM messages))");
    // A priority out of range is clamped; the row's checksum then fails at its fetch (on the record).
    sql::Statement move(db, std::string("INSERT INTO ") + converting_table +
                                "(key,created_ns,qos,retain,topic,body,crc) "
                                "SELECT (min(max(priority,0),9)<<56)+seq,created_ns,qos,retain,topic,body,crc "
                                "FROM messages WHERE seq BETWEEN 1 AND min(?1,?2)");
    sql::Statement drop(db, "DELETE FROM messages WHERE seq<=?1");
    for (;;) {
        sql::Transaction tx(db);
        if (const int rc = tx.begin_result(); rc != SQLITE_OK) fail("begin", rc);
        bound.bind(1, conversion_batch - 1);
        if (const int rc = bound.step(); rc != SQLITE_ROW) fail("batch", rc);
        const bool done = bound.column_is_null(0);
        const std::int64_t last = done ? 0 : bound.column_int(0);
        bound.reset();
        if (done) break;
        move.bind(1, last);
        move.bind(2, static_cast<std::int64_t>(seq_mask));
        if (const int rc = Impl::done(move); rc != SQLITE_OK) fail("copy", rc);
        drop.bind(1, last);
        if (const int rc = Impl::done(drop); rc != SQLITE_OK) fail("copy", rc);
        if (const int rc = tx.commit(); rc != SQLITE_OK) fail("commit", rc);
    }
    {
        sql::Transaction tx(db);
        int rc = tx.begin_result();
        if (rc == SQLITE_OK) rc = db.try_exec("DROP TABLE messages");
        if (rc == SQLITE_OK) rc = db.try_exec((std::string("ALTER TABLE ") + converting_table + " RENAME TO messages").c_str());
        if (rc == SQLITE_OK) rc = tx.commit();
        if (rc != SQLITE_OK) fail("rename", rc);
    }
    core::log_info("outbox.converted", "the outbox is in the current layout",
                   {{"path", options_.path},
                    {"rows", rows},
                    {"ms", std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count()}});
}

void Outbox::start_epoch(std::uint64_t first_seq, const char* why) {
    settle();
    const auto epoch = random_epoch(epochs_);
    adopt_epoch(first_seq, epoch);
    if (why) {
        core::log_warn("outbox.new_epoch",
                       "continuity with the previous numbering cannot be proven; new messages carry a new epoch",
                       {{"reason", why}, {"epoch", epoch}, {"first_seq", first_seq}});
    }
}

void Outbox::adopt_epoch(std::uint64_t first_seq, std::uint32_t epoch) {
    while (!epochs_.empty() && epochs_.back().first >= first_seq) epochs_.pop_back();
    epochs_.emplace_back(first_seq, epoch);
    stats_.epoch = epoch;
    auto& im = *impl_;
    sql::Transaction tx(im.db);
    int rc = tx.begin_result();
    if (rc == SQLITE_OK) rc = im.write_epoch(first_seq, epoch);
    if (rc == SQLITE_OK) rc = im.set("epoch", epoch);
    if (rc == SQLITE_OK) rc = im.set("next_seq", static_cast<std::int64_t>(stats_.next_seq));
    if (rc == SQLITE_OK) rc = tx.commit();
    if (rc != SQLITE_OK) throw OutboxError("outbox: cannot record the epoch: " + im.db.error_message(), rc);
    store_next_seq_ = stats_.next_seq;
}

void Outbox::quarantine(const std::string& why, bool at_start) {
    settle();
    auto& im = *impl_;
    im.checker.stop();
    im.close_db();
    const auto stamp = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
    std::string target = options_.path + ".corrupt-" + stamp;
    for (int i = 1; std::filesystem::exists(target); ++i) target = options_.path + ".corrupt-" + stamp + "-" + std::to_string(i);
    std::error_code ec;
    std::filesystem::rename(options_.path, target, ec);
    if (ec) throw OutboxError("outbox is damaged (" + why + ") and cannot be moved aside: " + ec.message(), SQLITE_CORRUPT);
    for (const char* suffix : {"-wal", "-shm"}) {
        std::error_code ignored;
        std::filesystem::rename(options_.path + suffix, target + suffix, ignored);
    }
    ++stats_.quarantines;
    if (at_start) stats_.quarantined_at_start = true;
    const std::uint64_t rows_before = stats_.rows;
    const auto mark = im.marker->previous();
    const auto epochs_before = epochs_;
    auto state = open_store();  // a fresh, empty store

    sync_directory(options_.path);  // the rename and the fresh file survive a power cut

    // Copy every intact row into it, with its seq and epoch, committing every 10,000 rows: what
    // went in stays in even if the disk fills up before the end.
    std::uint64_t bytes = 0;
    std::uint64_t copied = 0;
    std::uint32_t fallback_epoch = !epochs_before.empty() ? epochs_before.back().second : (mark ? mark->epoch : 0);
    if (fallback_epoch == 0) fallback_epoch = random_epoch(epochs_before);  // a store from before epochs
    epochs_.clear();
    int rc = SQLITE_OK;
    std::uint64_t in_batch = 0;
    std::optional<sql::Transaction> tx;
    // The fresh store's epochs are the damaged file's (rows come in key order, not seq order, so
    // they are written first, not as rows come): a row keeps the epoch it was published under.
    auto copy_epochs = [&](const SalvageResult& found) {
        auto add = [&](std::uint64_t first, std::uint32_t epoch) {
            if (epoch == 0) epoch = fallback_epoch;
            first = std::max<std::uint64_t>(first, 1);
            if (!epochs_.empty() && epochs_.back().first == first) epochs_.pop_back();  // a later word on it
            if (epochs_.empty() || epochs_.back().second != epoch) epochs_.emplace_back(first, epoch);
        };
        add(1, found.epoch.value_or(0));  // below the file's first entry
        for (const auto& [first, epoch] : found.epochs) add(first, epoch);
        sql::Transaction etx(im.db);
        rc = etx.begin_result();
        for (const auto& [first, epoch] : epochs_) {
            if (rc == SQLITE_OK) rc = im.write_epoch(first, epoch);
        }
        if (rc == SQLITE_OK) rc = etx.commit();
    };
    const auto salvage = salvage_outbox(target, copy_epochs, [&](const core::StoredMessage& m) {
        if (rc != SQLITE_OK) return;
        if (!tx) {
            tx.emplace(im.db);
            rc = tx->begin_result();
            if (rc != SQLITE_OK) return;
        }
        if (rc == SQLITE_OK) rc = im.write_message(m);
        if (rc != SQLITE_OK) return;
        bytes += row_bytes(m.message.topic.size() + m.message.body.size());
        if (++in_batch == 10'000) {
            rc = tx->commit();
            tx.reset();
            if (rc == SQLITE_OK) {
                copied += in_batch;
                in_batch = 0;
            }
        }
    });
    if (tx && rc == SQLITE_OK) {
        rc = tx->commit();
        if (rc == SQLITE_OK) copied += in_batch;
    }
    tx.reset();  // rolls back an unfinished batch
    if (rc != SQLITE_OK) {
        core::log_error("outbox.salvage_incomplete",
                        "could not copy every readable row into the fresh store; the rest stays in the damaged file "
                        "and is recorded as lost",
                        {{"error", sqlite3_errstr(rc)}, {"copied", copied}, {"readable", salvage.recovered}});
        // Rows of the failed batch are not in the store: recount what is.
        sql::Statement count(im.db, "SELECT count(*), coalesce(sum(length(topic)+length(body)),0) FROM messages");
        if (count.step() == SQLITE_ROW) {
            copied = static_cast<std::uint64_t>(count.column_int(0));
            bytes = static_cast<std::uint64_t>(count.column_int(1)) + copied * row_overhead;
        }
        im.read_epochs(epochs_);
    }
    const std::uint64_t recovered = copied;
    stats_.rows = recovered;
    stats_.bytes = bytes;
    stats_.salvaged += recovered;

    // Continue numbering above everything known, under a new epoch.
    std::uint64_t next = std::max({stats_.next_seq, state.next_seq,
                                   sane_next_seq(salvage.next_seq.value_or(1), "damaged file's meta", options_.path),
                                   salvage.max_seq + 1,
                                   mark ? sane_next_seq(mark->next_seq, "marker", options_.path) : std::uint64_t{1}});
    if (!staged_.empty()) next = std::max(next, staged_.back().seq + 1);
    stats_.next_seq = next;
    const std::uint64_t known_rows = at_start ? std::max(salvage.rows.value_or(0), mark ? mark->rows : 0)
                                              : std::max(rows_before, salvage.rows.value_or(0));
    // Rows that failed their checksum are among the known rows: not counted twice.
    const std::uint64_t lost = std::max(checked_sub(known_rows, recovered), salvage.bad_rows);
    const std::uint64_t last = checked_sub(staged_.empty() ? next : staged_.front().seq, 1);
    const std::uint64_t lowest_possible = checked_sub(last + 1, std::max<std::uint64_t>(known_rows, 1));
    std::uint64_t first = salvage.min_seq ? std::min(salvage.min_seq, lowest_possible) : lowest_possible;
    if (first == 0) first = 1;
    const bool nothing_known = known_rows == 0 && !salvage.rows && !mark && recovered == 0;
    add_loss({wall_clock_ns(), "quarantined", -1, nothing_known ? -1 : static_cast<std::int64_t>(lost), first, last});
    start_epoch(staged_.empty() ? next : staged_.front().seq, "the outbox file was damaged and replaced");
    core::log_error("outbox.quarantined",
                    "the outbox file was damaged; it was moved aside, a fresh one created and every readable message "
                    "copied into it. The rest is recorded as lost.",
                    {{"path", options_.path}, {"moved_to", target}, {"reason", why}, {"salvaged", recovered},
                     {"unreadable_rows", salvage.bad_rows}, {"lost_estimate", lost}, {"next_seq", stats_.next_seq},
                     {"epoch", stats_.epoch}, {"while_running", !at_start}});
}

bool Outbox::recover_if_damaged(int sqlite_code, const char* during) {
    if (!is_corruption(sqlite_code)) return false;
    auto& im = *impl_;
    const auto now = std::chrono::steady_clock::now();
    if (now - im.quarantine_window_start > std::chrono::minutes(10)) {
        im.quarantine_window_start = now;
        im.runtime_quarantines = 0;
    }
    if (++im.runtime_quarantines > 3) {
        // Fresh stores keep breaking: the medium is failing. Keep what is in memory, keep reporting.
        return false;
    }
    try {
        quarantine(std::string("SQLite reported damage during ") + during + ": " + sqlite3_errstr(sqlite_code), false);
        if (const auto ec = write_marker_if_needed(stats_.next_seq, stats_.epoch, stats_.rows)) {
            core::log_error("outbox.marker_failed", "cannot write the sequence marker", {{"error", ec.message()}});
        }
        impl_->set("clean_shutdown", 0);
        return true;
    } catch (const std::exception& e) {
        core::log_error("outbox.recovery_failed", "could not replace the damaged outbox; will retry",
                        {{"error", e.what()}});
        return false;
    }
}

Outbox::~Outbox() { close(); }

void Outbox::close() noexcept {
    if (closed_) return;
    closed_ = true;
    try {
        settle();
        impl_->checker.stop();
        if (!impl_->store_ok) {
            forget_delivered_from_memory();
            if (!staged_.empty()) drop_staged_at_shutdown();
            flush_open_drops(true);
            flush_open_expired();
            // Nowhere durable to write them: the log is the record.
            for (const auto& l : unwritten_losses_) {
                core::log_error("outbox.loss_unrecorded",
                                "the outbox cannot be written; this loss record exists in this log only",
                                {{"reason", l.reason}, {"priority", l.priority}, {"count", l.count},
                                 {"first_seq", l.first_seq}, {"last_seq", l.last_seq}});
            }
            unwritten_losses_.clear();
            impl_->close_db();
            return;
        }
        if (!staged_.empty() || !acked_.empty() || !unwritten_losses_.empty() || expiry_pending()) {
            if (const auto ec = commit()) {
                drop_staged_at_shutdown();
                if (const auto ec2 = commit_acknowledged()) {
                    core::log_error("outbox.final_commit_failed",
                                    "could not write the loss records at shutdown; they are in this log only",
                                    {{"error", ec2.message()}});
                }
            }
        }
        if (impl_->set("clean_shutdown", 1) == SQLITE_OK) {
            // Fold the WAL back so the next start opens a compact file.
            impl_->db.try_exec("PRAGMA wal_checkpoint(TRUNCATE)");
        }
        impl_->close_db();
    } catch (...) {
        // Never throws; everything above reports through the log.
    }
}

void Outbox::drop_staged_at_shutdown() noexcept {
    LossesByPriority by_priority{};
    for (const auto& s : staged_) count_loss(by_priority[s.priority], "dropped_at_shutdown", s.priority, s.seq);
    stats_.dropped_at_shutdown += staged_.size();
    for (auto& l : by_priority) {
        if (l.count == 0) continue;
        core::log_error("outbox.dropped_at_shutdown", "staged messages could not be committed before exit",
                        {{"priority", l.priority}, {"count", l.count}, {"first_seq", l.first_seq}, {"last_seq", l.last_seq}});
        unwritten_losses_.push_back(std::move(l));
    }
    staged_.clear();
    stats_.staged = 0;
}

void Outbox::add_loss(LossRecord loss) {
    if (!unwritten_losses_.empty()) {
        auto& last = unwritten_losses_.back();
        if (last.reason == loss.reason && last.priority == loss.priority && last.last_seq + 1 == loss.first_seq &&
            last.count >= 0 && loss.count >= 0) {
            last.count += loss.count;
            last.last_seq = loss.last_seq;
            return;
        }
    }
    unwritten_losses_.push_back(std::move(loss));
}

void Outbox::flush_open_drops(bool now_or_never) {
    // Commits started without waiting come back-to-back while the disk is full: one record per
    // priority and second then, not one per attempt (each would take pages the disk lacks).
    const auto now = std::chrono::steady_clock::now();
    if (!now_or_never && now - last_drop_flush_ < std::chrono::seconds(1)) return;
    last_drop_flush_ = now;
    for (auto& drop : open_drops_) {
        if (drop.count == 0) continue;
        unwritten_losses_.push_back(std::move(drop));
        drop = {};
    }
}

void Outbox::record_bad_row(std::uint64_t seq, int priority) {
    ++stats_.corrupt_rows;
    mark_done(seq, priority, -1);
    add_loss({wall_clock_ns(), "checksum_mismatch", priority, 1, seq, seq});
}

std::error_code Outbox::write_marker_if_needed(std::uint64_t next_seq, std::uint32_t epoch, std::uint64_t rows) {
    // Only when numbers were handed out (or the epoch changed): a commit that only deletes costs
    // no extra fsync. `rows` is refreshed then, which is enough for a loss estimate.
    if (next_seq == marker_next_seq_ && epoch == marker_epoch_) return {};
    if (!impl_->marker) return std::make_error_code(std::errc::read_only_file_system);
    if (const auto ec = impl_->marker->write({epoch, next_seq, rows, store_next_seq_})) return ec;
    marker_next_seq_ = next_seq;
    marker_epoch_ = epoch;
    return {};
}

std::uint64_t Outbox::stage(core::Message message) {
    const std::uint64_t seq = stats_.next_seq++;
    if (message.priority >= priority_levels) message.priority = priority_levels - 1;
    const auto topic = topics_.insert(std::move(message.topic)).first;
    staged_.push_back({seq, message.created_ns, &*topic, std::move(message.body), message.priority, message.qos, message.retain});
    // Commits are failing and memory is finite: drop the oldest staged message, on the record.
    if (staged_.size() > options_.max_staged) drop_oldest_staged();
    stats_.staged = staged_.size();
    return seq;
}

void Outbox::mark_done(std::uint64_t seq, int priority, std::int64_t stored_bytes) {
    if (!acked_set_.insert(seq)) return;
    const bool known_priority = priority >= 0 && priority < priority_levels;
    // A size is only of use with its priority (the row's key); one beyond int32 is read back.
    const bool known_size = known_priority && stored_bytes >= 0 && stored_bytes <= std::numeric_limits<std::int32_t>::max();
    acked_.push_back({seq, known_size ? static_cast<std::int32_t>(stored_bytes) : -1, known_priority ? priority : -1});
}

void Outbox::acknowledge(std::uint64_t seq) { mark_done(seq, -1, -1); }

void Outbox::acknowledge(std::uint64_t seq, int priority, std::uint32_t stored_bytes) {
    mark_done(seq, priority, std::int64_t{stored_bytes});
}

void Outbox::discard(std::uint64_t seq, int priority, std::string reason) {
    mark_done(seq, priority, -1);
    ++stats_.discarded;
    add_loss({wall_clock_ns(), std::move(reason), std::clamp(priority, -1, priority_levels - 1), 1, seq, seq});
}

void Outbox::set_position(const std::string& source, std::int64_t position) {
    auto [it, inserted] = positions_.try_emplace(source, position);
    if (!inserted && it->second == position) return;  // no commit (and no fsync) for nothing
    it->second = position;
    positions_dirty_ = true;
}

std::optional<std::int64_t> Outbox::position(const std::string& source) const {
    const auto it = positions_.find(source);
    if (it == positions_.end()) return std::nullopt;
    return it->second;
}

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

core::StoredMessage Outbox::Staged::stored(std::uint32_t epoch) const {
    core::StoredMessage m;
    m.seq = seq;
    m.epoch = epoch;
    m.message.topic = *topic;
    m.message.body = body;
    m.message.created_ns = created_ns;
    m.message.priority = priority;
    m.message.qos = qos;
    m.message.retain = retain;
    return m;
}

void Outbox::prune_topics() {
    // The owner's thread, no commit in flight: nothing else reads the table. Rebuilt from what is
    // still staged, so a site whose topics keep changing does not grow it without bound.
    if (job_ || topics_.size() <= max_topics) return;
    std::unordered_set<std::string> kept;
    for (auto& s : staged_) s.topic = &*kept.insert(*s.topic).first;
    topics_.swap(kept);
}

std::size_t Outbox::staged() const noexcept { return staged_.size() + (job_ ? job_->staged.size() : 0); }
std::size_t Outbox::pending_acks() const noexcept {
    return acked_.size() + expired_.size() + (job_ ? job_->pending : 0);
}

bool Outbox::has_work() const noexcept {
    return !staged_.empty() || !acked_.empty() || !unwritten_losses_.empty() || positions_dirty_ || expiry_pending();
}

bool Outbox::begin_commit(bool acks_only) {
    if (job_ || !impl_->store_ok) return false;
    flush_open_drops(false);
    flush_open_expired();
    forget_delivered_from_memory();
    if (acks_only ? acked_.empty() && expired_.empty() && unwritten_losses_.empty() : !has_work()) return false;
    auto job = std::make_unique<Job>();
    job->acks_only = acks_only;
    job->hold_inserts = stats_.reserve_released && commit_failing_;
    if (!acks_only) {
        job->staged.swap(staged_);
        if (positions_dirty_) {
            job->positions = positions_;
            job->positions_dirty = true;
            positions_dirty_ = false;
        }
    }
    job->acked.swap(acked_);
    job->expired.swap(expired_);
    job->pending = job->acked.size() + job->expired.size();
    job->losses.swap(unwritten_losses_);
    job->st = stats_;
    job_ = std::move(job);
    impl_->worker.submit([this, j = job_.get()] { run_job(*j); });
    return true;
}

void Outbox::run_job(Job& j) {
    // The writer thread: only `j`, the write connection, the marker and the writer's own state.
    if (!j.acks_only) {
        j.ec = j.hold_inserts ? make_sqlite_error(SQLITE_FULL) : commit_once(j);
        if (!j.ec) return;
    }
    if (!j.acked.empty() || !j.expired.empty() || !j.losses.empty() || j.acks_only) {
        // Inserts fail (a full disk, most likely), but deletes free space and loss records must
        // reach the disk: commit them on their own.
        const auto ec = commit_deletes_and_losses(j);
        j.deletes_committed = !ec;
        if (j.acks_only) j.ec = ec;
    }
}

std::optional<std::error_code> Outbox::collect_commit() {
    if (!job_ || !impl_->worker.finished()) return std::nullopt;
    auto job = std::move(job_);
    auto& j = *job;
    const bool ok = !j.ec && !j.acks_only;
    if (ok || j.deletes_committed) {
        stats_.rows = j.st.rows;
        stats_.bytes = j.st.bytes;
        stats_.removed += j.removed;
        for (const auto& a : j.acked) acked_set_.erase(a.seq);
        for (const auto& e : j.expired) acked_set_.erase(e.seq);
        for (std::size_t p = 0; p < j.expired_removed.size(); ++p) {
            const auto n = static_cast<std::uint64_t>(j.expired_removed[p].count);
            stats_.expired[p] += n;
            expired_since_log_[p] += n;
        }
    } else {
        // Back in front of what arrived meanwhile: nothing is lost by a failed attempt.
        acked_.insert(acked_.begin(), j.acked.begin(), j.acked.end());
        expired_.insert(expired_.begin(), j.expired.begin(), j.expired.end());
        unwritten_losses_.insert(unwritten_losses_.begin(), std::make_move_iterator(j.losses.begin()),
                                 std::make_move_iterator(j.losses.end()));
    }
    if (j.st.reserve_released && !stats_.reserve_released) {
        stats_.reserve_released = true;
        next_reserve_attempt_ = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    }
    if (ok) {
        stats_.committed += j.staged.size();
        stats_.evicted = j.st.evicted;
        ++stats_.commits;
        commit_failing_ = false;
    } else if (!j.acks_only) {
        ++stats_.commit_failures;
        commit_failing_ = true;
        for (auto it = j.staged.rbegin(); it != j.staged.rend(); ++it) staged_.push_front(std::move(*it));
        while (staged_.size() > options_.max_staged) drop_oldest_staged();
        if (j.positions_dirty) positions_dirty_ = true;
    }
    stats_.staged = staged_.size();
    stats_.writer_busy_ns = static_cast<std::uint64_t>(impl_->worker.busy().count());
    const auto ec = j.ec;
    const bool acks_only = j.acks_only;
    job.reset();  // its readings (and their topics) are done with
    prune_topics();
    log_expired();
    if (ec) recover_if_damaged(ec.value(), acks_only ? "a delete" : "a commit");
    return ec;
}

void Outbox::settle() {
    if (!job_) return;
    impl_->worker.wait();
    collect_commit();
}

void Outbox::wait_for_commit() const {
    if (job_) impl_->worker.wait();
}

void Outbox::set_commit_listener(std::function<void()> listener) { impl_->worker.set_listener(std::move(listener)); }

std::error_code Outbox::commit_acknowledged() {
    settle();
    flush_open_drops(true);
    if (acked_.empty() && expired_.empty() && unwritten_losses_.empty()) return {};
    if (!impl_->store_ok) return make_sqlite_error(SQLITE_CANTOPEN);
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (!begin_commit(true)) return impl_->store_ok ? std::error_code{} : make_sqlite_error(SQLITE_CANTOPEN);
        impl_->worker.wait();
        const auto ec = collect_commit().value_or(std::error_code{});
        if (!ec || !is_corruption(ec.value()) || !impl_->store_ok) return ec;  // a damaged store was replaced: once more
    }
    return make_sqlite_error(SQLITE_CORRUPT);
}

void Outbox::forget_delivered_from_memory() {
    if (!served_from_memory_) return;
    if (staged_.empty()) {
        served_from_memory_ = false;
        return;
    }
    if (acked_set_.empty()) return;
    const std::uint64_t first_staged = staged_.front().seq;
    const auto delivered = std::erase_if(staged_, [&](const Staged& m) { return acked_set_.count(m.seq) != 0; });
    if (delivered == 0) return;
    stats_.delivered_from_memory += delivered;
    // Acknowledgements of stored rows stay (they are deleted once the store can be written).
    std::erase_if(acked_, [&](const Ack& a) {
        if (a.seq < first_staged) return false;
        acked_set_.erase(a.seq);
        return true;
    });
    stats_.staged = staged_.size();
}

std::error_code Outbox::commit() {
    settle();
    flush_open_drops(true);
    if (!has_work()) return {};
    if (!impl_->store_ok) {
        if (stats_.memory_only) forget_delivered_from_memory();
        ++stats_.commit_failures;
        return make_sqlite_error(SQLITE_CANTOPEN);
    }
    std::error_code ec;
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (!begin_commit(false)) return {};
        impl_->worker.wait();
        ec = collect_commit().value_or(std::error_code{});
        if (!ec || !is_corruption(ec.value()) || !impl_->store_ok) break;  // a damaged store was replaced: once more
    }
    return ec;
}

void Outbox::drop_oldest_staged() {
    const auto& old = staged_.front();
    if (acked_set_.erase(old.seq)) {  // delivered from memory already: not a loss
        ++stats_.delivered_from_memory;  // (its seq may stay in acked_: deleting nothing is harmless)
        staged_.pop_front();
        return;
    }
    // One record per priority covers every drop since the last commit attempt.
    count_loss(open_drops_[old.priority], "dropped_unwritable", old.priority, old.seq);
    ++stats_.dropped_unwritable;
    staged_.pop_front();
}

int Outbox::write_staged(const std::deque<Staged>& staged, OutboxStats& st) {
    auto& im = *impl_;
    // Key order (priority, then seq), so that SQLite's cursor steps on instead of seeking: staged
    // readings are in seq order, so one priority (the common case) is in key order already.
    // Otherwise a counting sort over the ten priorities (stage() clamps them), stable within each.
    std::vector<std::uint32_t> order;
    const bool in_key_order = std::is_sorted(staged.begin(), staged.end(),
                                             [](const Staged& a, const Staged& b) { return a.priority < b.priority; });
    if (!in_key_order) {
        std::array<std::uint32_t, priority_levels + 1> next{};
        for (const auto& s : staged) ++next[s.priority + 1u];
        std::partial_sum(next.begin(), next.end(), next.begin());
        order.resize(staged.size());
        for (std::uint32_t i = 0; i < staged.size(); ++i) order[next[staged[i].priority]++] = i;
    }
    std::array<RowFields, rows_per_insert> chunk;
    std::size_t held = 0;
    std::uint64_t held_bytes = 0;
    for (std::size_t i = 0; i < staged.size(); ++i) {
        const Staged& s = staged[in_key_order ? i : order[i]];
        chunk[held++] = {s.seq, s.priority, s.created_ns, s.qos, s.retain, *s.topic, s.body};
        held_bytes += row_bytes(s.topic->size() + s.body.size());
        if (held < rows_per_insert) continue;
        if (const int rc = im.write_rows(chunk.data()); rc != SQLITE_OK) return rc;
        st.rows += held;
        st.bytes += held_bytes;
        held = 0;
        held_bytes = 0;
    }
    for (std::size_t i = 0; i < held; ++i) {
        if (const int rc = im.write_row(chunk[i]); rc != SQLITE_OK) return rc;
        ++st.rows;
        st.bytes += row_bytes(chunk[i].topic.size() + chunk[i].body.size());
    }
    return SQLITE_OK;
}

std::error_code Outbox::commit_once(Job& j) {
    auto& im = *impl_;
    auto& st = j.st;
    sql::Transaction tx(im.db);
    if (tx.begin_result() != SQLITE_OK) return make_sqlite_error(tx.begin_result());
    const auto before = st;
    auto fail = [&](int rc) {
        forget_open_losses();  // records opened in this transaction are rolled back with it
        st = before;
        j.removed = 0;
        j.expired_removed = {};
        return std::error_code(rc & 0xFF, sqlite_category());
    };
    if (const int rc = write_staged(j.staged, st); rc != SQLITE_OK) return fail(rc);
    if (const int rc = delete_acked_rows(j.acked, st.rows, st.bytes, j.removed); rc != SQLITE_OK) return fail(rc);
    if (const int rc = delete_expired(j, st.rows, st.bytes, j.expired_removed); rc != SQLITE_OK) return fail(rc);
    for (const auto& loss : j.losses) {
        if (const int rc = im.write_loss(loss); rc != SQLITE_OK) return fail(rc);
    }
    if (j.positions_dirty) {
        for (const auto& [source, pos] : j.positions) {
            im.position_set.bind(1, source);
            im.position_set.bind(2, pos);
            if (const int rc = Impl::done(im.position_set); rc != SQLITE_OK) return fail(rc);
        }
    }
    // Expired rows go before the quota evicts anything that could still be delivered.
    if (const int rc = sweep_expired(st, j.expired_removed); rc != SQLITE_OK) return fail(rc);
    if (const int rc = write_expired(j.expired_removed); rc != SQLITE_OK) return fail(rc);
    if (const auto ec = evict_over_quota(st)) return fail(ec.value());
    if (im.loss_rows > max_loss_records) {
        if (const int rc = im.fold_oldest_losses(static_cast<std::int64_t>(max_loss_records / 10)); rc != SQLITE_OK) {
            return fail(rc);
        }
    }
    int rc = im.set("next_seq", static_cast<std::int64_t>(st.next_seq));
    if (rc == SQLITE_OK) rc = im.set("rows", static_cast<std::int64_t>(st.rows));
    if (rc == SQLITE_OK) rc = im.set("bytes", static_cast<std::int64_t>(st.bytes));
    if (rc != SQLITE_OK) return fail(rc);
    // The marker first: it must never say less than what the file holds.
    if (write_marker_if_needed(st.next_seq, st.epoch, st.rows)) return fail(SQLITE_IOERR);
    if (rc = tx.commit(); rc != SQLITE_OK) return fail(rc);
    store_next_seq_ = st.next_seq;
    return {};
}

std::error_code Outbox::commit_deletes_and_losses(Job& j) {
    auto& im = *impl_;
    auto& st = j.st;
    for (int attempt = 0; attempt < 2; ++attempt) {
        int rc = SQLITE_OK;
        std::uint64_t rows = st.rows, bytes = st.bytes, removed = 0;
        LossesByPriority expired{};
        {
            sql::Transaction tx(im.db);
            rc = tx.begin_result();
            if (rc == SQLITE_OK) rc = delete_acked_rows(j.acked, rows, bytes, removed);
            if (rc == SQLITE_OK) rc = delete_expired(j, rows, bytes, expired);
            if (rc == SQLITE_OK) rc = write_expired(expired);
            for (auto it = j.losses.begin(); rc == SQLITE_OK && it != j.losses.end(); ++it) {
                rc = im.write_loss(*it);
            }
            // Staged numbers are handed out: the file and the marker must remember them too.
            if (rc == SQLITE_OK) rc = im.set("next_seq", static_cast<std::int64_t>(st.next_seq));
            if (rc == SQLITE_OK) rc = im.set("rows", static_cast<std::int64_t>(rows));
            if (rc == SQLITE_OK) rc = im.set("bytes", static_cast<std::int64_t>(bytes));
            if (rc == SQLITE_OK && write_marker_if_needed(st.next_seq, st.epoch, rows)) rc = SQLITE_IOERR;
            if (rc == SQLITE_OK) rc = tx.commit();
        }
        if (rc == SQLITE_OK) {
            store_next_seq_ = st.next_seq;
            st.rows = rows;
            st.bytes = bytes;
            j.removed = removed;
            j.expired_removed = expired;
            return {};
        }
        forget_open_losses();  // records opened in the rolled-back transaction
        // The disk is full: give up the reserve so deletes and loss records can be written.
        const auto reserve = reserve_path(options_.path);
        if ((rc & 0xFF) != SQLITE_FULL || attempt > 0 || !std::filesystem::exists(reserve)) {
            return std::error_code(rc & 0xFF, sqlite_category());
        }
        std::error_code ignored;
        std::filesystem::remove(reserve, ignored);
        st.reserve_released = true;
        core::log_warn("outbox.reserve_released", "the disk is full; the space reserve was released for deletes and "
                       "loss records", {{"path", reserve}});
    }
    return make_sqlite_error(SQLITE_FULL);
}

void Outbox::refresh_reserve() noexcept {
    if (options_.reserve_bytes == 0) return;
    const auto path = reserve_path(options_.path);
    std::error_code ec;
    if (std::filesystem::exists(path, ec) && std::filesystem::file_size(path, ec) >= options_.reserve_bytes) return;
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return;
    const int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(options_.reserve_bytes));
    ::close(fd);
    if (rc != 0) ::unlink(path.c_str());  // not enough room yet: try again later
}

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
        // the n-th are exactly these, and one ranged DELETE takes them (a statement per row cost
        // the writer a third of its time under a saturated bus with the quota reached).
        std::size_t n = 0;
        for (std::uint64_t rows = st.rows, bytes = st.bytes;
             n < victims.size() && (rows > target_rows || bytes > target_bytes); ++n) {
            rows = checked_sub(rows, 1);
            bytes = checked_sub(bytes, row_bytes(static_cast<std::size_t>(victims[n].payload)));
        }
        if (const int drc = im.delete_between(victims.front().key, victims[n - 1].key); drc != SQLITE_OK) {
            return make_sqlite_error(drc);
        }
        // Anything else would leave the counts wrong: the file does not hold what it just said.
        if (sqlite3_changes(im.db.get()) != static_cast<int>(n)) return make_sqlite_error(SQLITE_CORRUPT);
        for (std::size_t i = 0; i < n; ++i) {
            const auto& v = victims[i];
            st.rows = checked_sub(st.rows, 1);
            st.bytes = checked_sub(st.bytes, row_bytes(static_cast<std::size_t>(v.payload)));
            ++st.evicted[static_cast<std::size_t>(v.priority)];
            count_loss(evicted[static_cast<std::size_t>(v.priority)], "evicted_quota", v.priority, v.seq);
        }
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
    // Key order: by priority (unknown ones first, each looked up on its own), then seq.
    std::sort(acked.begin(), acked.end(),
              [](const Ack& a, const Ack& b) { return a.priority != b.priority ? a.priority < b.priority : a.seq < b.seq; });
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

void Outbox::maintain(std::chrono::steady_clock::time_point now) {
    auto& im = *impl_;
    if (!im.store_ok) {
        // A replacement failed earlier: try to open the store again, every 10 s.
        if (now < next_reserve_attempt_) return;
        next_reserve_attempt_ = now + std::chrono::seconds(10);
        try {
            reopen();
        } catch (const OutboxError& e) {
            if (is_corruption(e.sqlite_code()) && im.marker) {
                try {
                    quarantine(e.what(), false);
                    memory_epoch_.reset();
                    stats_.memory_only = false;
                    im.set("clean_shutdown", 0);
                    write_marker_if_needed(stats_.next_seq, stats_.epoch, stats_.rows);
                    return;
                } catch (const std::exception&) {
                }
            }
            if (stats_.memory_only && !im.readable) open_read_only();
            std::uint64_t suppressed = 0;
            if (im.fetch_error_log.allow(now, suppressed)) {
                core::log_error("outbox.unavailable", "the outbox cannot be opened; readings stay in memory",
                                {{"error", e.what()}});
            }
            return;
        } catch (const std::exception& e) {
            std::uint64_t suppressed = 0;
            if (im.fetch_error_log.allow(now, suppressed)) {
                core::log_error("outbox.unavailable", "the outbox cannot be opened; readings stay in memory",
                                {{"error", e.what()}});
            }
            return;
        }
    }
    if (const auto result = im.checker.poll()) {
        ++stats_.integrity_checks;
        if (*result) {
            try {
                quarantine(**result, false);
                im.set("clean_shutdown", 0);
                write_marker_if_needed(stats_.next_seq, stats_.epoch, stats_.rows);
            } catch (const std::exception& e) {
                core::log_error("outbox.recovery_failed", "could not replace the damaged outbox; will retry",
                                {{"error", e.what()}});
            }
        }
    }
    // Sampled on the real clock: `now` may be a test's.
    if (const auto real = std::chrono::steady_clock::now(); real - writer_sampled_at_ >= std::chrono::seconds(1)) {
        const auto busy = static_cast<std::uint64_t>(im.worker.busy().count());
        if (writer_sampled_at_ != std::chrono::steady_clock::time_point{}) {
            writer_share_ = static_cast<double>(busy - writer_busy_at_sample_ns_) /
                            static_cast<double>(std::chrono::nanoseconds(real - writer_sampled_at_).count());
        }
        writer_sampled_at_ = real;
        writer_busy_at_sample_ns_ = busy;
    }
    // A scheduled check is maintenance. Its read transaction holds the write-ahead log for the
    // whole check, and it takes a core: under a saturated bus a check of 15M rows took 4 s, the
    // log grew by 200 MB meanwhile, and ingest and the drain shared what was left. So while the
    // writer is busy more than half the time, a due check waits, up to one interval past its time.
    const bool due = options_.integrity_check_interval.count() > 0 && now >= next_check_ && !im.checker.running();
    if (due && !check_now_ && writer_share_ > max_writer_share_for_check &&
        now < next_check_ + options_.integrity_check_interval) {
        if (!check_deferred_) ++stats_.integrity_checks_deferred;
        check_deferred_ = true;
    } else if (due) {
        check_now_ = false;
        check_deferred_ = false;
        next_check_ = now + options_.integrity_check_interval;
        try {
            im.checker.start(options_.path);
        } catch (const std::system_error& e) {
            core::log_warn("outbox.check_not_started", "could not start the background integrity check",
                           {{"error", e.what()}});
        }
    }
    // Inserts wait for this (see Job::hold_inserts): the reserve back means the disk has room again.
    if (stats_.reserve_released && now >= next_reserve_attempt_) {
        next_reserve_attempt_ = now + std::chrono::seconds(10);
        refresh_reserve();
        std::error_code ec;
        if (std::filesystem::exists(reserve_path(options_.path), ec)) stats_.reserve_released = false;
    }
}

std::optional<std::int64_t> Outbox::oldest_created_ns() const {
    auto& im = *impl_;
    if (im.store_ok || im.readable) {
        if (const auto row = oldest_row(im.reader(), im.legacy)) return row->created_ns;
    }
    if (!staged_.empty()) return staged_.front().created_ns;
    return std::nullopt;
}

std::vector<LossRecord> Outbox::losses(std::size_t max_records) const {
    std::vector<LossRecord> out;
    if (!impl_->store_ok && !impl_->readable) return out;
    sql::Statement q(impl_->reader(), "SELECT at_ns,reason,priority,count,first_seq,last_seq FROM losses "
                                "ORDER BY rowid DESC LIMIT ?1");
    q.bind(1, static_cast<std::int64_t>(max_records));
    while (q.step() == SQLITE_ROW) {
        out.push_back({q.column_int(0), std::string(q.column_text(1)), static_cast<int>(q.column_int(2)),
                       q.column_int(3), static_cast<std::uint64_t>(q.column_int(4)),
                       static_cast<std::uint64_t>(q.column_int(5))});
    }
    return out;
}

std::vector<LossRecord> Outbox::losses_after(std::int64_t after_id, std::size_t max_records) const {
    std::vector<LossRecord> out;
    if (!impl_->store_ok && !impl_->readable) return out;
    sql::Statement q(impl_->reader(), "SELECT at_ns,reason,priority,count,first_seq,last_seq,rowid FROM losses "
                                      "WHERE rowid > ?1 ORDER BY rowid LIMIT ?2");
    q.bind(1, after_id);
    q.bind(2, static_cast<std::int64_t>(max_records));
    while (q.step() == SQLITE_ROW) {
        out.push_back({q.column_int(0), std::string(q.column_text(1)), static_cast<int>(q.column_int(2)),
                       q.column_int(3), static_cast<std::uint64_t>(q.column_int(4)),
                       static_cast<std::uint64_t>(q.column_int(5)), q.column_int(6)});
    }
    return out;
}

OutboxSummary inspect_outbox(const std::string& path) {
    if (!std::filesystem::exists(path)) throw OutboxError("no outbox at " + path, SQLITE_CANTOPEN);
    sql::Database db(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX);
    db.exec("PRAGMA busy_timeout=2000");
    OutboxSummary s;
    sql::Statement meta(db, "SELECT key,value FROM meta");
    while (meta.step() == SQLITE_ROW) {
        const auto key = meta.column_text(0);
        const auto value = static_cast<std::uint64_t>(meta.column_int(1));
        if (key == "next_seq") s.next_seq = value;
        if (key == "rows") s.rows = value;
        if (key == "bytes") s.bytes = value;
        if (key == "epoch") s.epoch = static_cast<std::uint32_t>(value);
    }
    if (const auto mark = SeqMarker::read(path)) s.marker_next_seq = mark->next_seq;
    sql::Statement by_priority(db, "SELECT priority,count(*) FROM messages GROUP BY priority");
    while (by_priority.step() == SQLITE_ROW) {
        const auto p = by_priority.column_int(0);
        if (p >= 0 && p < priority_levels) {
            s.rows_by_priority[static_cast<std::size_t>(p)] = static_cast<std::uint64_t>(by_priority.column_int(1));
        }
    }
    if (const auto row = oldest_row(db, !db.has_column("messages", "key"))) {
        s.oldest_seq = row->seq;
        s.oldest_created_ns = row->created_ns;
    }
    sql::Statement losses(db, "SELECT at_ns,reason,priority,count,first_seq,last_seq FROM losses ORDER BY rowid");
    while (losses.step() == SQLITE_ROW) {
        s.losses.push_back({losses.column_int(0), std::string(losses.column_text(1)),
                            static_cast<int>(losses.column_int(2)), losses.column_int(3),
                            static_cast<std::uint64_t>(losses.column_int(4)),
                            static_cast<std::uint64_t>(losses.column_int(5))});
    }
    return s;
}

}  // namespace outpost::outbox
