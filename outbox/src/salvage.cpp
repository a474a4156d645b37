#include "salvage.hpp"

#include <algorithm>
#include <optional>
#include <vector>

#include "row_checksum.hpp"
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

}  // namespace

SalvageResult salvage_outbox(const std::string& damaged_path,
                             const std::function<void(const core::StoredMessage&)>& keep) noexcept {
    SalvageResult r;
    try {
        sql::Database db(damaged_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX);
        db.try_exec("PRAGMA busy_timeout=1000");
        if (const auto v = meta_value(db, "epoch"); v && *v > 0) r.epoch = static_cast<std::uint32_t>(*v);
        if (const auto v = meta_value(db, "next_seq"); v && *v > 0) r.next_seq = static_cast<std::uint64_t>(*v);
        if (const auto v = meta_value(db, "rows"); v && *v >= 0) r.rows = static_cast<std::uint64_t>(*v);
        std::vector<std::pair<std::uint64_t, std::uint32_t>> epochs;
        try {
            sql::Statement e(db, "SELECT first_seq,epoch FROM epochs ORDER BY first_seq");
            while (e.step() == SQLITE_ROW) {
                epochs.emplace_back(static_cast<std::uint64_t>(e.column_int(0)), static_cast<std::uint32_t>(e.column_int(1)));
            }
        } catch (...) {
        }
        auto epoch_of = [&](std::uint64_t seq) -> std::uint32_t {
            std::uint32_t found = r.epoch.value_or(0);
            for (const auto& [first, epoch] : epochs) {
                if (first <= seq) found = epoch;
            }
            return found;
        };
        const bool has_crc = [&] {
            try {
                sql::Statement q(db, "SELECT crc FROM messages LIMIT 0");
                return true;
            } catch (...) {
                return false;
            }
        }();
        sql::Statement q(db, has_crc ? "SELECT seq,priority,created_ns,qos,retain,topic,body,crc FROM messages "
                                       "WHERE seq>?1 ORDER BY seq LIMIT 256"
                                     : "SELECT seq,priority,created_ns,qos,retain,topic,body,NULL FROM messages "
                                       "WHERE seq>?1 ORDER BY seq LIMIT 256");
        // Walk the table in seq order, stepping over pages that cannot be read (below), up to the
        // highest seq the file may hold.
        const std::uint64_t horizon = std::max<std::uint64_t>(r.next_seq.value_or(0), 1) + (1u << 20);
        sql::Statement probe(db, "SELECT seq FROM messages WHERE seq>?1 ORDER BY seq LIMIT 1");
        auto readable_after = [&](std::uint64_t x) {
            probe.bind(1, static_cast<std::int64_t>(x));
            const int prc = probe.step();
            probe.reset();
            return prc == SQLITE_ROW || prc == SQLITE_DONE;
        };
        std::uint64_t after = 0;
        int failures = 0;
        for (;;) {
            q.bind(1, static_cast<std::int64_t>(after));
            int rc;
            std::size_t got = 0;
            while ((rc = q.step()) == SQLITE_ROW) {
                ++got;
                core::StoredMessage m;
                m.seq = static_cast<std::uint64_t>(q.column_int(0));
                after = m.seq;
                const auto priority = q.column_int(1);
                m.message.created_ns = q.column_int(2);
                const auto qos = q.column_int(3);
                m.message.retain = q.column_int(4) != 0;
                m.message.topic = std::string(q.column_text(5));
                m.message.body = std::string(q.column_text(6));
                const bool sane = priority >= 0 && priority <= 9 && qos >= 0 && qos <= 2 && !m.message.topic.empty();
                m.message.priority = static_cast<std::uint8_t>(std::clamp<std::int64_t>(priority, 0, 9));
                m.message.qos = static_cast<std::uint8_t>(std::clamp<std::int64_t>(qos, 0, 2));
                bool ok = sane;
                if (ok && has_crc && !q.column_is_null(7)) {
                    ok = static_cast<std::uint32_t>(q.column_int(7)) ==
                         row_checksum({m.seq, static_cast<int>(priority), m.message.created_ns, static_cast<int>(qos),
                                       m.message.retain, m.message.topic, m.message.body});
                }
                if (!ok) {
                    ++r.bad_rows;
                    continue;
                }
                m.epoch = epoch_of(m.seq);
                keep(m);
                if (r.min_seq == 0) r.min_seq = m.seq;
                r.max_seq = std::max(r.max_seq, m.seq);
                ++r.recovered;
            }
            q.reset();
            if (rc == SQLITE_DONE) {
                if (got == 0) {
                    r.complete = failures == 0;
                    break;
                }
                continue;
            }
            // A damaged page after `after`: find the first seq beyond it that reads. Probe ahead,
            // doubling the step, then bisect back between the last probe that failed and the first
            // that read, so the intact rows at the start of the next page are not skipped.
            ++failures;
            std::uint64_t failed_at = after;
            std::uint64_t step = 1;
            std::optional<std::uint64_t> reads_at;
            for (int attempt = 0; attempt < 48 && failed_at < horizon; ++attempt) {
                const std::uint64_t x = failed_at + step;
                if (readable_after(x)) {
                    reads_at = x;
                    break;
                }
                failed_at = x;
                step *= 2;
            }
            if (!reads_at || failures > 10000) break;
            std::uint64_t lo = failed_at, hi = *reads_at;
            while (hi - lo > 1) {
                const std::uint64_t mid = lo + (hi - lo) / 2;
                (readable_after(mid) ? hi : lo) = mid;
            }
            after = hi;
        }
    } catch (...) {
        // Too damaged to open: nothing to recover.
    }
    return r;
}

}  // namespace outpost::outbox
