#include "salvage.hpp"

#include <algorithm>
#include <optional>
#include <vector>

#include "row_checksum.hpp"
#include "row_key.hpp"
#include "sqlite.hpp"

namespace outpost::outbox {
namespace {

std::optional<std::int64_t> meta_value(sql::Database& db, const char* key) {
    try {
        sql::Statement q(db, "SELECT value FROM meta WHERE key=?1");
        q.bind(1, std::string_view(key));
        if (q.step() == SQLITE_ROW) return q.column_int(0);
    } catch (...) {
    }
    return std::nullopt;
}

bool has_column(sql::Database& db, const char* table, const char* column) {
    try {
        return db.has_column(table, column);
    } catch (...) {
        return false;
    }
}

// Walks one messages table in its key order (seq order when legacy), stepping over pages that
// cannot be read, and calls `row` for each row read: its seq, priority (as stored) and the rest.
struct TableWalk {
    sql::Database& db;
    std::string table;
    bool keyed;     // the current layout: key = priority * 2^56 + seq
    bool has_crc;   // legacy stores from before checksums have none
    std::uint64_t horizon;  // no key (or seq) at or above this
    SalvageResult& r;
    int failures = 0;

    template <class Row>
    void run(Row&& row) {
        const std::string cursor = keyed ? "key" : "seq";
        const std::string cols = keyed ? "key,key>>56" : "seq,priority";
        sql::Statement q(db, "SELECT " + cols + ",created_ns,qos,retain,topic,body," + (has_crc ? "crc" : "NULL") +
                                 " FROM " + table + " WHERE " + cursor + ">?1 ORDER BY " + cursor + " LIMIT 256");
        sql::Statement probe(db, "SELECT " + cursor + " FROM " + table + " WHERE " + cursor + ">?1 ORDER BY " + cursor +
                                     " LIMIT 1");
        auto readable_after = [&](std::uint64_t x) {
            probe.bind(1, static_cast<std::int64_t>(x));
            const int prc = probe.step();
            probe.reset();
            return prc == SQLITE_ROW || prc == SQLITE_DONE;
        };
        std::uint64_t after = 0;
        for (;;) {
            q.bind(1, static_cast<std::int64_t>(after));
            int rc;
            std::size_t got = 0;
            while ((rc = q.step()) == SQLITE_ROW) {
                ++got;
                const auto c = static_cast<std::uint64_t>(q.column_int(0));
                after = c;
                row(keyed ? seq_of_key(static_cast<std::int64_t>(c)) : c, q);
            }
            q.reset();
            if (rc == SQLITE_DONE) {
                if (got == 0) return;
                continue;
            }
            // A damaged page after `after`: find the first key beyond it that reads. Probe ahead,
            // doubling the step, then bisect back between the last probe that failed and the first
            // that read, so the intact rows at the start of the next page are not skipped.
            ++failures;
            std::uint64_t failed_at = after;
            std::uint64_t step = 1;
            std::optional<std::uint64_t> reads_at;
            for (int attempt = 0; attempt < 64 && failed_at < horizon; ++attempt) {
                const std::uint64_t x = failed_at + step;
                if (readable_after(x)) {
                    reads_at = x;
                    break;
                }
                failed_at = x;
                step *= 2;
            }
            if (!reads_at || failures > 10000) return;
            std::uint64_t lo = failed_at, hi = *reads_at;
            while (hi - lo > 1) {
                const std::uint64_t mid = lo + (hi - lo) / 2;
                (readable_after(mid) ? hi : lo) = mid;
            }
            after = hi;
        }
    }
};

}  // namespace

SalvageResult salvage_outbox(const std::string& damaged_path,
                             const std::function<void(const SalvageResult&)>& bookkeeping,
                             const std::function<void(const core::StoredMessage&)>& keep) noexcept {
    SalvageResult r;
    try {
        sql::Database db(damaged_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX);
        db.try_exec("PRAGMA busy_timeout=1000");
        if (const auto v = meta_value(db, "epoch"); v && *v > 0) r.epoch = static_cast<std::uint32_t>(*v);
        if (const auto v = meta_value(db, "next_seq"); v && *v > 0) r.next_seq = static_cast<std::uint64_t>(*v);
        if (const auto v = meta_value(db, "rows"); v && *v >= 0) r.rows = static_cast<std::uint64_t>(*v);
        try {
            sql::Statement e(db, "SELECT first_seq,epoch FROM epochs ORDER BY first_seq");
            while (e.step() == SQLITE_ROW) {
                r.epochs.emplace_back(static_cast<std::uint64_t>(e.column_int(0)), static_cast<std::uint32_t>(e.column_int(1)));
            }
        } catch (...) {
        }
        bookkeeping(r);
        auto epoch_of = [&](std::uint64_t seq) -> std::uint32_t {
            std::uint32_t found = r.epoch.value_or(0);
            for (const auto& [first, epoch] : r.epochs) {
                if (first <= seq) found = epoch;
            }
            return found;
        };
        auto take = [&](std::uint64_t seq, sql::Statement& q) {
            core::StoredMessage m;
            m.seq = seq;
            const auto priority = q.column_int(1);
            m.message.created_ns = q.column_int(2);
            const auto qos = q.column_int(3);
            m.message.retain = q.column_int(4) != 0;
            m.message.topic = std::string(q.column_text(5));
            m.message.body = std::string(q.column_text(6));
            const bool sane = priority >= 0 && priority <= 9 && qos >= 0 && qos <= 2 && !m.message.topic.empty() &&
                              seq > 0 && seq < seq_limit;
            m.message.priority = static_cast<std::uint8_t>(std::clamp<std::int64_t>(priority, 0, 9));
            m.message.qos = static_cast<std::uint8_t>(std::clamp<std::int64_t>(qos, 0, 2));
            bool ok = sane;
            if (ok && !q.column_is_null(7)) {
                ok = static_cast<std::uint32_t>(q.column_int(7)) ==
                     row_checksum({m.seq, static_cast<int>(priority), m.message.created_ns, static_cast<int>(qos),
                                   m.message.retain, m.message.topic, m.message.body});
            }
            if (!ok) {
                ++r.bad_rows;
                return;
            }
            m.epoch = epoch_of(m.seq);
            keep(m);
            if (r.min_seq == 0 || m.seq < r.min_seq) r.min_seq = m.seq;
            r.max_seq = std::max(r.max_seq, m.seq);
            ++r.recovered;
        };
        // The table named messages, and the one a conversion was filling (both hold rows then).
        int failures = 0;
        bool read_any = false;
        for (const char* table : {"messages", converting_table}) {
            if (!has_column(db, table, "topic")) continue;
            const bool keyed = has_column(db, table, "key");
            const std::uint64_t horizon = keyed ? static_cast<std::uint64_t>(row_key(9, seq_limit))
                                                : std::max<std::uint64_t>(r.next_seq.value_or(0), 1) + (1u << 20);
            TableWalk walk{db, table, keyed, has_column(db, table, "crc"), horizon, r};
            walk.run(take);
            failures += walk.failures;
            read_any = true;
        }
        r.complete = read_any && failures == 0;
    } catch (...) {
        // Too damaged to open: nothing to recover.
    }
    return r;
}

}  // namespace outpost::outbox
