#include "outpost/outbox/outbox_tools.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>

#include "loss_row.hpp"
#include "outpost/outbox/outbox_error.hpp"
#include "row_checksum.hpp"
#include "row_key.hpp"
#include "row_size.hpp"
#include "sqlite.hpp"
#include "store_lock.hpp"

namespace outpost::outbox {
namespace {

using Epochs = std::vector<std::pair<std::uint64_t, std::uint32_t>>;  // (first seq, epoch), ascending

sql::Database open_existing(const std::string& path, int flags) {
    if (!std::filesystem::exists(path)) throw OutboxError("no outbox at " + path, SQLITE_CANTOPEN);
    sql::Database db(path, flags | SQLITE_OPEN_NOMUTEX);
    db.exec("PRAGMA busy_timeout=2000");
    return db;
}

Epochs read_epochs(sql::Database& db) {
    Epochs out;
    if (db.try_exec("SELECT 1 FROM epochs LIMIT 0") == SQLITE_OK) {
        sql::Statement q(db, "SELECT first_seq,epoch FROM epochs ORDER BY first_seq");
        while (q.step() == SQLITE_ROW) {
            out.emplace_back(static_cast<std::uint64_t>(q.column_int(0)), static_cast<std::uint32_t>(q.column_int(1)));
        }
    }
    if (out.empty()) {
        // Stores older than the epochs table number everything in their one epoch.
        sql::Statement q(db, "SELECT value FROM meta WHERE key='epoch'");
        if (q.step() == SQLITE_ROW && q.column_int(0) > 0) out.emplace_back(1, static_cast<std::uint32_t>(q.column_int(0)));
    }
    return out;
}

std::uint32_t epoch_of(const Epochs& epochs, std::uint64_t seq) noexcept {
    const auto it = std::upper_bound(epochs.begin(), epochs.end(), seq,
                                     [](std::uint64_t s, const auto& e) { return s < e.first; });
    if (it == epochs.begin()) return epochs.empty() ? 0 : epochs.front().second;
    return std::prev(it)->second;
}

// The filter as a WHERE clause on one priority (?1) and its ORDER BY, so each query walks one
// key range in seq order (row_key.hpp): delivery order without a sort, whatever the size of the
// store. A store still in the legacy layout is read on its (priority, seq) index.
struct FilterSql {
    std::string where;
    std::string order;
};

FilterSql filter_sql(sql::Database& db) {
    if (db.has_column("messages", "key")) {
        return {"key BETWEEN (?1<<56)+?2 AND (?1<<56)+?3 AND created_ns<?4", " ORDER BY key"};
    }
    return {"priority=?1 AND seq BETWEEN ?2 AND ?3 AND created_ns<?4", " ORDER BY seq"};
}

void bind_filter(sql::Statement& st, int priority, const MessageFilter& f) {
    st.bind(1, priority);
    st.bind(2, static_cast<std::int64_t>(std::min<std::uint64_t>(f.from_seq, seq_mask)));
    st.bind(3, static_cast<std::int64_t>(std::min<std::uint64_t>(f.to_seq, seq_mask)));
    st.bind(4, f.created_before_ns.value_or(std::numeric_limits<std::int64_t>::max()));
}

bool wanted(int priority, const MessageFilter& f) { return !f.priority || *f.priority == priority; }

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

const char* to_string(RowCheck c) noexcept {
    switch (c) {
    case RowCheck::ok: return "ok";
    case RowCheck::mismatch: return "mismatch";
    case RowCheck::unchecked: return "unchecked";
    }
    return "?";
}

std::uint64_t read_messages(const std::string& path, const MessageFilter& filter,
                            const std::function<bool(const PeekedMessage&)>& each) {
    auto db = open_existing(path, SQLITE_OPEN_READONLY);
    // One read transaction: every priority is read from the same snapshot.
    db.exec("BEGIN");
    const auto epochs = read_epochs(db);
    const auto f = filter_sql(db);
    sql::Statement st(db, "SELECT seq,created_ns,qos,retain,topic,body,crc FROM messages WHERE " + f.where + f.order);
    std::uint64_t given = 0;
    for (int p = priority_levels - 1; p >= 0; --p) {
        if (!wanted(p, filter)) continue;
        bind_filter(st, p, filter);
        int rc;
        while ((rc = st.step()) == SQLITE_ROW) {
            PeekedMessage m;
            auto& s = m.stored;
            s.seq = static_cast<std::uint64_t>(st.column_int(0));
            s.epoch = epoch_of(epochs, s.seq);
            s.message.priority = static_cast<std::uint8_t>(p);
            s.message.created_ns = st.column_int(1);
            const auto qos = st.column_int(2);
            s.message.qos = static_cast<std::uint8_t>(std::clamp<std::int64_t>(qos, 0, 2));
            s.message.retain = st.column_int(3) != 0;
            s.message.topic = std::string(st.column_text(4));
            s.message.body = std::string(st.column_text(5));
            if (st.column_is_null(6)) {
                m.check = RowCheck::unchecked;
            } else {
                const auto crc = row_checksum({s.seq, p, s.message.created_ns, static_cast<int>(qos), s.message.retain,
                                               s.message.topic, s.message.body});
                m.check = static_cast<std::uint32_t>(st.column_int(6)) == crc ? RowCheck::ok : RowCheck::mismatch;
            }
            ++given;
            if (!each(m)) {
                st.reset();
                return given;
            }
        }
        st.reset();
        if (rc != SQLITE_DONE) {
            throw OutboxError("cannot read the outbox " + path + ": " + db.error_message(), rc);
        }
    }
    return given;
}

PurgeResult purge_messages(const std::string& path, const MessageFilter& filter, bool dry_run) {
    if (!std::filesystem::exists(path)) throw OutboxError("no outbox at " + path, SQLITE_CANTOPEN);
    // The gateway's lock first: no purge behind a running gateway's back (see the header). A dry
    // run changes nothing and reads a snapshot like peek, so it needs no lock.
    std::optional<StoreLock> lock;
    if (!dry_run) {
        lock.emplace(path);
        if (!lock->held()) {
            throw OutboxError("cannot take the lock " + StoreLock::path_for(path) +
                                  " (is the directory writable?); not purging without it",
                              SQLITE_CANTOPEN);
        }
    }
    auto db = open_existing(path, dry_run ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE);
    PurgeResult result;
    std::optional<sql::Transaction> tx;  // rolls back unless committed
    if (dry_run) {
        db.exec("BEGIN");
    } else {
        tx.emplace(db);
        if (tx->begin_result() != SQLITE_OK) {
            throw OutboxError("cannot begin a transaction on " + path + ": " + db.error_message(), tx->begin_result());
        }
    }
    const auto f = filter_sql(db);
    sql::Statement select(db, "SELECT seq,length(topic)+length(body) FROM messages WHERE " + f.where + f.order);
    sql::Statement remove(db, "DELETE FROM messages WHERE " + f.where);
    const auto at = now_ns();
    for (int p = priority_levels - 1; p >= 0; --p) {
        if (!wanted(p, filter)) continue;
        LossRecord record{at, "purged", p, 0, 0, 0};
        bind_filter(select, p, filter);
        int rc;
        while ((rc = select.step()) == SQLITE_ROW) {
            const auto seq = static_cast<std::uint64_t>(select.column_int(0));
            if (record.count == 0) record.first_seq = seq;
            record.last_seq = seq;
            ++record.count;
            result.bytes += static_cast<std::uint64_t>(select.column_int(1));
        }
        select.reset();
        if (rc != SQLITE_DONE) throw OutboxError("cannot read the outbox " + path + ": " + db.error_message(), rc);
        if (record.count == 0) continue;
        if (!dry_run) {
            bind_filter(remove, p, filter);
            rc = remove.step();
            remove.reset();
            if (rc != SQLITE_DONE) throw OutboxError("cannot delete from " + path + ": " + db.error_message(), rc);
            // Same transaction, same condition: the delete removed exactly what was counted.
            if (sqlite3_changes64(db.get()) != record.count) {
                throw OutboxError("the outbox changed during the purge; nothing was removed", SQLITE_BUSY);
            }
        }
        result.removed += static_cast<std::uint64_t>(record.count);
        result.records.push_back(std::move(record));
    }
    if (dry_run || result.removed == 0) return result;  // nothing committed
    sql::Statement loss(db, insert_loss_sql);
    for (const auto& r : result.records) {
        bind_loss(loss, r);
        const int rc = loss.step();
        loss.reset();
        if (rc != SQLITE_DONE) throw OutboxError("cannot write a loss record to " + path + ": " + db.error_message(), rc);
    }
    // The counts the gateway reads at start instead of counting every row.
    const auto removed_bytes = result.bytes + result.removed * row_overhead;
    const std::string adjust = "UPDATE meta SET value=max(0,value-" + std::to_string(result.removed) +
                               ") WHERE key='rows'; UPDATE meta SET value=max(0,value-" +
                               std::to_string(removed_bytes) + ") WHERE key='bytes';";
    db.exec(adjust);
    if (const int rc = tx->commit(); rc != SQLITE_OK) {
        throw OutboxError("cannot commit the purge to " + path + ": " + db.error_message(), rc);
    }
    return result;
}

}  // namespace outpost::outbox
