#include "outpost/outbox/outbox.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "outpost/core/log.hpp"
#include "outpost/outbox/outbox_error.hpp"
#include "sqlite.hpp"

namespace outpost::outbox {
namespace {

constexpr std::uint64_t row_overhead = 40;  // rowid, columns and index entry, roughly

std::uint64_t row_bytes(std::size_t payload) { return payload + row_overhead; }

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

constexpr const char* schema = R"sql(
CREATE TABLE IF NOT EXISTS messages(
  seq        INTEGER PRIMARY KEY,
  priority   INTEGER NOT NULL,
  created_ns INTEGER NOT NULL,
  qos        INTEGER NOT NULL,
  retain     INTEGER NOT NULL,
  topic      TEXT    NOT NULL,
  body       TEXT    NOT NULL);
CREATE INDEX IF NOT EXISTS messages_by_priority ON messages(priority, seq);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS losses(
  at_ns     INTEGER NOT NULL,
  reason    TEXT    NOT NULL,
  priority  INTEGER NOT NULL,
  count     INTEGER NOT NULL,
  first_seq INTEGER NOT NULL,
  last_seq  INTEGER NOT NULL);
)sql";

bool is_corruption(int code) { return (code & 0xFF) == SQLITE_CORRUPT || (code & 0xFF) == SQLITE_NOTADB; }

}  // namespace

struct Outbox::Impl {
    sql::Database db;
    sql::Statement insert, remove, fetch, evict_select, meta_set, meta_get, loss_insert;
    std::vector<LossRecord> unwritten_losses;  // written with the next successful commit

    void prepare() {
        insert = sql::Statement(db, "INSERT INTO messages(seq,priority,created_ns,qos,retain,topic,body) "
                                    "VALUES(?1,?2,?3,?4,?5,?6,?7)");
        remove = sql::Statement(db, "DELETE FROM messages WHERE seq=?1 RETURNING length(topic)+length(body)");
        fetch = sql::Statement(db, "SELECT seq,created_ns,qos,retain,topic,body FROM messages "
                                   "WHERE priority=?1 AND seq>?2 ORDER BY seq LIMIT ?3");
        evict_select = sql::Statement(db, "SELECT seq,priority,length(topic)+length(body) FROM messages "
                                          "ORDER BY priority,seq LIMIT ?1");
        meta_set = sql::Statement(db, "INSERT INTO meta(key,value) VALUES(?1,?2) "
                                      "ON CONFLICT(key) DO UPDATE SET value=excluded.value");
        meta_get = sql::Statement(db, "SELECT value FROM meta WHERE key=?1");
        loss_insert = sql::Statement(db, "INSERT INTO losses(at_ns,reason,priority,count,first_seq,last_seq) "
                                         "VALUES(?1,?2,?3,?4,?5,?6)");
    }

    std::optional<std::int64_t> get(std::string_view key) {
        meta_get.bind(1, key);
        std::optional<std::int64_t> v;
        if (meta_get.step() == SQLITE_ROW) v = meta_get.column_int(0);
        meta_get.reset();
        return v;
    }

    int set(std::string_view key, std::int64_t value) {
        meta_set.bind(1, key);
        meta_set.bind(2, value);
        const int rc = meta_set.step();
        meta_set.reset();
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
    }

    int write_loss(const LossRecord& l) {
        loss_insert.bind(1, l.at_ns);
        loss_insert.bind(2, l.reason);
        loss_insert.bind(3, l.priority);
        loss_insert.bind(4, l.count);
        loss_insert.bind(5, static_cast<std::int64_t>(l.first_seq));
        loss_insert.bind(6, static_cast<std::int64_t>(l.last_seq));
        const int rc = loss_insert.step();
        loss_insert.reset();
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
    }

    // Deletes one message; returns SQLITE_OK and its payload size in `bytes` (-1 if it was gone).
    int delete_seq(std::uint64_t seq, std::int64_t& bytes) {
        remove.bind(1, static_cast<std::int64_t>(seq));
        bytes = -1;
        int rc = remove.step();
        if (rc == SQLITE_ROW) {
            bytes = remove.column_int(0);
            rc = remove.step();
        }
        remove.reset();
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
};

Outbox::Outbox(OutboxOptions options) : options_(std::move(options)), impl_(std::make_unique<Impl>()) {
    try {
        open();
    } catch (const OutboxError& e) {
        if (!is_corruption(e.sqlite_code())) throw;
        quarantine(e.what());
        open();
    }
    if (stats_.quarantined_at_start) {
        LossRecord loss{now_ns(), "quarantined", -1, -1, 0, stats_.next_seq - 1};
        impl_->unwritten_losses.push_back(loss);
        commit();
    }
}

void Outbox::open() {
    impl_ = std::make_unique<Impl>();
    auto& db = impl_->db;
    const bool existed = std::filesystem::exists(options_.path);
    if (const auto dir = std::filesystem::path(options_.path).parent_path(); !existed && !dir.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);
        if (ec) throw OutboxError("cannot create the outbox directory " + dir.string() + ": " + ec.message(), SQLITE_CANTOPEN);
    }
    db = sql::Database(options_.path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX);
    db.exec("PRAGMA busy_timeout=2000");
    db.exec("PRAGMA journal_mode=WAL");
    db.exec(options_.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    db.exec(schema);
    impl_->prepare();

    const bool clean = impl_->get("clean_shutdown").value_or(1) == 1;
    if (existed && !clean) {
        // The last run ended by a crash or power cut: check the file before trusting it.
        sql::Statement check(db, "PRAGMA quick_check");
        std::string result;
        const int rc = check.step();
        if (rc == SQLITE_ROW) result = std::string(check.column_text(0));
        if (rc != SQLITE_ROW || result != "ok") {
            throw OutboxError("integrity check failed: " + (rc == SQLITE_ROW ? result : db.error_message()),
                              SQLITE_CORRUPT);
        }
    }
    stats_.next_seq = static_cast<std::uint64_t>(std::max<std::int64_t>(1, impl_->get("next_seq").value_or(1)));
    const auto rows = impl_->get("rows");
    const auto bytes = impl_->get("bytes");
    if (rows && bytes) {
        stats_.rows = static_cast<std::uint64_t>(*rows);
        stats_.bytes = static_cast<std::uint64_t>(*bytes);
    } else {
        sql::Statement count(db, "SELECT count(*), coalesce(sum(length(topic)+length(body)),0), coalesce(max(seq),0) "
                                 "FROM messages");
        if (count.step() == SQLITE_ROW) {
            stats_.rows = static_cast<std::uint64_t>(count.column_int(0));
            stats_.bytes = static_cast<std::uint64_t>(count.column_int(1)) + stats_.rows * row_overhead;
            stats_.next_seq = std::max(stats_.next_seq, static_cast<std::uint64_t>(count.column_int(2)) + 1);
        }
    }
    const int rc = impl_->set("clean_shutdown", 0);
    if (rc != SQLITE_OK) throw OutboxError("outbox: cannot write to " + options_.path + ": " + db.error_message(), rc);
    core::log_info("outbox.open", "outbox ready",
                   {{"path", options_.path}, {"rows", stats_.rows}, {"bytes", stats_.bytes},
                    {"next_seq", stats_.next_seq}, {"checked", existed && !clean}});
}

void Outbox::quarantine(const std::string& why) {
    impl_.reset();
    const auto stamp = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
    const std::string target = options_.path + ".corrupt-" + stamp;
    std::error_code ec;
    std::filesystem::rename(options_.path, target, ec);
    if (ec) throw OutboxError("outbox is damaged (" + why + ") and cannot be moved aside: " + ec.message(), SQLITE_CORRUPT);
    for (const char* suffix : {"-wal", "-shm"}) {
        std::error_code ignored;
        std::filesystem::rename(options_.path + suffix, target + suffix, ignored);
    }
    stats_.quarantined_at_start = true;
    core::log_error("outbox.quarantined",
                    "the outbox file was damaged; it was moved aside and a fresh one created. Messages in it "
                    "were not delivered by this run; recover them with sqlite3's .recover if needed.",
                    {{"path", options_.path}, {"moved_to", target}, {"reason", why}});
}

Outbox::~Outbox() {
    if (!impl_) return;
    if (!staged_.empty() || !acked_.empty() || !impl_->unwritten_losses.empty()) {
        if (const auto ec = commit()) {
            core::log_error("outbox.final_commit_failed", "could not commit at shutdown; staged messages lost",
                            {{"staged", staged_.size()}, {"error", ec.message()}});
        }
    }
    if (impl_->set("clean_shutdown", 1) == SQLITE_OK) {
        // Fold the WAL back so the next start opens a compact file.
        impl_->db.try_exec("PRAGMA wal_checkpoint(TRUNCATE)");
    }
}

std::uint64_t Outbox::stage(core::Message message) {
    const std::uint64_t seq = stats_.next_seq++;
    if (message.priority >= priority_levels) message.priority = priority_levels - 1;
    staged_.push_back({seq, std::move(message)});
    stats_.staged = staged_.size();
    if (staged_.size() > options_.max_staged) {
        // Commits are failing and memory is finite: drop the oldest staged message, on the record.
        const auto& old = staged_.front();
        LossRecord loss{now_ns(), "dropped_unwritable", old.message.priority, 1, old.seq, old.seq};
        if (!impl_->unwritten_losses.empty() && impl_->unwritten_losses.back().reason == loss.reason &&
            impl_->unwritten_losses.back().last_seq + 1 == old.seq) {
            ++impl_->unwritten_losses.back().count;
            impl_->unwritten_losses.back().last_seq = old.seq;
        } else {
            impl_->unwritten_losses.push_back(loss);
        }
        ++stats_.dropped_unwritable;
        staged_.erase(staged_.begin());
        stats_.staged = staged_.size();
    }
    return seq;
}

void Outbox::acknowledge(std::uint64_t seq) {
    if (acked_set_.insert(seq).second) acked_.push_back(seq);
}

void Outbox::discard(std::uint64_t seq, int priority, std::string reason) {
    acknowledge(seq);
    ++stats_.discarded;
    impl_->unwritten_losses.push_back({now_ns(), std::move(reason), priority, 1, seq, seq});
}

std::error_code Outbox::commit() {
    if (staged_.empty() && acked_.empty() && impl_->unwritten_losses.empty()) return {};
    auto& im = *impl_;
    sql::Transaction tx(im.db);
    if (tx.begin_result() != SQLITE_OK) {
        ++stats_.commit_failures;
        return make_sqlite_error(tx.begin_result());
    }
    std::uint64_t rows = stats_.rows;
    std::uint64_t bytes = stats_.bytes;
    auto fail = [this](int rc) {
        ++stats_.commit_failures;
        return make_sqlite_error(rc);
    };
    for (const auto& s : staged_) {
        const auto& m = s.message;
        im.insert.bind(1, static_cast<std::int64_t>(s.seq));
        im.insert.bind(2, m.priority);
        im.insert.bind(3, m.created_ns);
        im.insert.bind(4, m.qos);
        im.insert.bind(5, m.retain ? 1 : 0);
        im.insert.bind(6, m.topic);
        im.insert.bind(7, m.body);
        const int rc = im.insert.step();
        im.insert.reset();
        if (rc != SQLITE_DONE) return fail(rc);
        ++rows;
        bytes += row_bytes(m.topic.size() + m.body.size());
    }
    std::uint64_t removed = 0;
    for (const auto seq : acked_) {
        std::int64_t b = 0;
        if (const int rc = im.delete_seq(seq, b); rc != SQLITE_OK) return fail(rc);
        if (b >= 0) {
            ++removed;
            --rows;
            bytes -= std::min(bytes, row_bytes(static_cast<std::size_t>(b)));
        }
    }
    for (const auto& loss : im.unwritten_losses) {
        if (const int rc = im.write_loss(loss); rc != SQLITE_OK) return fail(rc);
    }
    const auto previous_rows = stats_.rows;
    const auto previous_bytes = stats_.bytes;
    stats_.rows = rows;
    stats_.bytes = bytes;
    auto evicted_before = stats_.evicted;
    if (const auto ec = evict_over_quota()) {
        stats_.rows = previous_rows;
        stats_.bytes = previous_bytes;
        stats_.evicted = evicted_before;
        ++stats_.commit_failures;
        return ec;
    }
    int rc = im.set("next_seq", static_cast<std::int64_t>(stats_.next_seq));
    if (rc == SQLITE_OK) rc = im.set("rows", static_cast<std::int64_t>(stats_.rows));
    if (rc == SQLITE_OK) rc = im.set("bytes", static_cast<std::int64_t>(stats_.bytes));
    if (rc == SQLITE_OK) rc = tx.commit();
    if (rc != SQLITE_OK) {
        stats_.rows = previous_rows;
        stats_.bytes = previous_bytes;
        stats_.evicted = evicted_before;
        return fail(rc);
    }
    stats_.committed += staged_.size();
    stats_.removed += removed;
    ++stats_.commits;
    staged_.clear();
    stats_.staged = 0;
    acked_.clear();
    acked_set_.clear();
    im.unwritten_losses.clear();
    return {};
}

std::error_code Outbox::evict_over_quota() {
    auto& im = *impl_;
    while (stats_.rows > options_.max_rows || stats_.bytes > options_.max_bytes) {
        const std::uint64_t excess_rows = stats_.rows > options_.max_rows ? stats_.rows - options_.max_rows : 0;
        const auto batch = static_cast<std::int64_t>(std::max<std::uint64_t>(std::min<std::uint64_t>(excess_rows, 4096), 64));
        struct Victim {
            std::uint64_t seq;
            int priority;
            std::uint64_t bytes;
        };
        std::vector<Victim> victims;
        im.evict_select.bind(1, batch);
        int rc;
        while ((rc = im.evict_select.step()) == SQLITE_ROW) {
            victims.push_back({static_cast<std::uint64_t>(im.evict_select.column_int(0)),
                               static_cast<int>(im.evict_select.column_int(1)),
                               row_bytes(static_cast<std::size_t>(im.evict_select.column_int(2)))});
        }
        im.evict_select.reset();
        if (rc != SQLITE_DONE) return make_sqlite_error(rc);
        if (victims.empty()) break;
        std::vector<LossRecord> losses;
        for (const auto& v : victims) {
            if (stats_.rows <= options_.max_rows && stats_.bytes <= options_.max_bytes) break;
            std::int64_t b = 0;
            if (const int drc = im.delete_seq(v.seq, b); drc != SQLITE_OK) return make_sqlite_error(drc);
            --stats_.rows;
            stats_.bytes -= std::min(stats_.bytes, v.bytes);
            ++stats_.evicted[static_cast<std::size_t>(v.priority)];
            if (!losses.empty() && losses.back().priority == v.priority) {
                ++losses.back().count;
                losses.back().last_seq = v.seq;
            } else {
                losses.push_back({now_ns(), "evicted_quota", v.priority, 1, v.seq, v.seq});
            }
        }
        for (const auto& loss : losses) {
            if (const int lrc = im.write_loss(loss); lrc != SQLITE_OK) return make_sqlite_error(lrc);
            core::log_warn("outbox.evicted", "outbox over its quota: evicted the oldest lowest-priority messages",
                           {{"priority", loss.priority}, {"count", loss.count}, {"first_seq", loss.first_seq},
                            {"last_seq", loss.last_seq}, {"max_rows", options_.max_rows},
                            {"max_bytes", options_.max_bytes}});
        }
    }
    return {};
}

std::size_t Outbox::fetch(DrainCursor& cursor, std::size_t max, std::vector<core::StoredMessage>& out) {
    auto& st = impl_->fetch;
    std::size_t got = 0;
    for (int p = priority_levels - 1; p >= 0 && got < max; --p) {
        auto& after = cursor.after[static_cast<std::size_t>(p)];
        st.bind(1, p);
        st.bind(2, static_cast<std::int64_t>(after));
        st.bind(3, static_cast<std::int64_t>(max - got));
        while (st.step() == SQLITE_ROW) {
            const auto seq = static_cast<std::uint64_t>(st.column_int(0));
            after = seq;
            if (acked_set_.count(seq)) continue;
            core::StoredMessage m;
            m.seq = seq;
            m.message.priority = static_cast<std::uint8_t>(p);
            m.message.created_ns = st.column_int(1);
            m.message.qos = static_cast<std::uint8_t>(st.column_int(2));
            m.message.retain = st.column_int(3) != 0;
            m.message.topic = std::string(st.column_text(4));
            m.message.body = std::string(st.column_text(5));
            out.push_back(std::move(m));
            ++got;
        }
        st.reset();
    }
    return got;
}

std::vector<LossRecord> Outbox::losses(std::size_t max_records) const {
    std::vector<LossRecord> out;
    sql::Statement q(impl_->db, "SELECT at_ns,reason,priority,count,first_seq,last_seq FROM losses "
                                "ORDER BY rowid DESC LIMIT ?1");
    q.bind(1, static_cast<std::int64_t>(max_records));
    while (q.step() == SQLITE_ROW) {
        out.push_back({q.column_int(0), std::string(q.column_text(1)), static_cast<int>(q.column_int(2)),
                       q.column_int(3), static_cast<std::uint64_t>(q.column_int(4)),
                       static_cast<std::uint64_t>(q.column_int(5))});
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
    }
    sql::Statement by_priority(db, "SELECT priority,count(*) FROM messages GROUP BY priority");
    while (by_priority.step() == SQLITE_ROW) {
        const auto p = by_priority.column_int(0);
        if (p >= 0 && p < priority_levels) {
            s.rows_by_priority[static_cast<std::size_t>(p)] = static_cast<std::uint64_t>(by_priority.column_int(1));
        }
    }
    sql::Statement oldest(db, "SELECT seq,created_ns FROM messages ORDER BY seq LIMIT 1");
    if (oldest.step() == SQLITE_ROW) {
        s.oldest_seq = static_cast<std::uint64_t>(oldest.column_int(0));
        s.oldest_created_ns = oldest.column_int(1);
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
