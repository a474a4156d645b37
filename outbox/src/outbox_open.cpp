// Opening the store (creating, converting, checking it), memory-only mode, quarantine of a
// damaged file, and closing.
#include "outbox_impl.hpp"

namespace outpost::outbox {

namespace {

// After an unclean stop, files up to this size are checked before use; bigger ones in the background.
constexpr std::uintmax_t sync_check_max_bytes = 16u << 20;

// The log is checkpointed (and starts over) once it holds this much.
constexpr std::int64_t wal_restart_bytes = 4 << 20;

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

}  // namespace

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
    // Debian builds SQLite with secure_delete on, which zeroes every deleted row and whole freed
    // pages: extra writes for every delivered row (flash wear), and CPU. FAST still zeroed each
    // deleted cell together with the free space it merged into, which grows as a drain empties a
    // page: a tenth of the CPU of a ranged delete (437 against 386 ns a row, measured on this
    // schema). Delivered readings stay in a page's free space until it is reused, in a file only
    // the gateway's user can read; salvage reads rows through SQLite, never free space.
    im.db.exec("PRAGMA secure_delete=OFF");
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

}  // namespace outpost::outbox
