// The ceilings the benchmark compares Outpost against, measured in the same run:
//   bare_baselines sqlite N BATCH DB        bare SQLite batched inserts (WAL, synchronous=FULL),
//                                           the outbox's schema, rows like the gateway's
//   bare_baselines drain N WINDOW PORT DB   a bare single-threaded libmosquitto drain of an
//                                           N-row SQLite backlog at QoS 1 (external loop API,
//                                           a window of WINDOW in flight, batched deletes).
//                                           N = 0 drains the rows already in DB (a copy of
//                                           Outpost's own outbox: the same topics, payloads,
//                                           QoS and retain flags) in sequence order.
// Each prints one JSON line with its rate.
#include <poll.h>
#include <sqlite3.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

// Every bench reading has priority 5 (as the demo's pack voltage).
constexpr long priority_key = 5L << 56;
constexpr long seq_mask = (1L << 56) - 1;

void check(int rc, sqlite3* db, const char* what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        std::fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
        std::exit(1);
    }
}

sqlite3* open_db(const char* path) {
    sqlite3* db = nullptr;
    check(sqlite3_open(path, &db), db, "open");
    check(sqlite3_exec(db,
                       // Outpost creates its stores with 16 KiB pages and deletes without
                       // zeroing (outbox_open.cpp).
                       "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                       "PRAGMA secure_delete=OFF;"
                       // Outpost's schema (outbox/src/row_key.hpp): the key is priority * 2^56 + seq.
                       "CREATE TABLE IF NOT EXISTS messages(key INTEGER PRIMARY KEY,"
                       " created_ns INTEGER NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL,"
                       " topic TEXT NOT NULL, body TEXT NOT NULL, crc INTEGER,"
                       " seq INTEGER AS (key & 72057594037927935), priority INTEGER AS (key >> 56));",
                       nullptr, nullptr, nullptr),
          db, "schema");
    return db;
}

// Rows shaped like the demo's readings, 16 to a statement where the batch allows (as the outbox
// writes them: one program start and one cursor for 16 rows).
void insert_rows(sqlite3* db, long n, long batch) {
    constexpr int per_statement = 16;
    // OR FAIL, as the outbox: no journal of the statement's own (a failure ends the transaction).
    const char* columns = "INSERT OR FAIL INTO messages(key,created_ns,qos,retain,topic,body,crc) VALUES";
    std::string many = columns;
    for (int i = 0; i < per_statement; ++i) many += i ? ",(?,?,1,0,?,?,?)" : "(?,?,1,0,?,?,?)";
    sqlite3_stmt* one = nullptr;
    sqlite3_stmt* multi = nullptr;
    check(sqlite3_prepare_v2(db, (std::string(columns) + "(?,?,1,0,?,?,?)").c_str(), -1, &one, nullptr), db, "prepare");
    check(sqlite3_prepare_v2(db, many.c_str(), -1, &multi, nullptr), db, "prepare");
    const std::string topic = "site/bench-gw/bms/pack/pack_voltage";
    char bodies[per_statement][96];
    for (long i = 0; i < n; i += batch) {
        sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
        const long end = std::min(n, i + batch);
        for (long k = i; k < end;) {
            const bool whole = end - k >= per_statement;
            sqlite3_stmt* ins = whole ? multi : one;
            for (int r = 0; r < (whole ? per_statement : 1); ++r, ++k) {
                const int len = std::snprintf(bodies[r], sizeof bodies[r],
                                              "\"ts\":1700000000.%06ld,\"value\":%ld.%ld,\"unit\":\"V\"",
                                              k % 1000000, 700 + k % 100, k % 10);
                const int p = r * 5;
                sqlite3_bind_int64(ins, p + 1, priority_key + k + 1);
                sqlite3_bind_int64(ins, p + 2, 1700000000000000000 + k);
                sqlite3_bind_text(ins, p + 3, topic.data(), static_cast<int>(topic.size()), SQLITE_STATIC);
                sqlite3_bind_text(ins, p + 4, bodies[r], len, SQLITE_STATIC);
                // The same columns as Outpost's rows (it computes a CRC).
                sqlite3_bind_int64(ins, p + 5, 0x5EED0000L + k);
            }
            check(sqlite3_step(ins), db, "insert");
            sqlite3_reset(ins);
        }
        check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db, "commit");
    }
    sqlite3_finalize(one);
    sqlite3_finalize(multi);
}

int bench_sqlite(long n, long batch, const char* path) {
    sqlite3* db = open_db(path);
    const auto t0 = clock_type::now();
    insert_rows(db, n, batch);
    const double s = std::chrono::duration<double>(clock_type::now() - t0).count();
    sqlite3_close(db);
    std::printf("{\"bench\":\"bare_sqlite_insert\",\"rows\":%ld,\"batch\":%ld,\"seconds\":%.3f,\"per_s\":%.0f}\n", n,
                batch, s, static_cast<double>(n) / s);
    return 0;
}

struct Drain {
    std::deque<long> acked;
    long inflight = 0;
    bool connected = false;
};

int bench_drain(long n, long window, int port, const char* path) {
    sqlite3* db = open_db(path);
    if (n > 0) {
        insert_rows(db, n, 10000);  // the backlog (not timed)
    } else {
        sqlite3_stmt* count = nullptr;
        sqlite3_prepare_v2(db, "SELECT count(*) FROM messages", -1, &count, nullptr);
        if (sqlite3_step(count) == SQLITE_ROW) n = sqlite3_column_int64(count, 0);
        sqlite3_finalize(count);
    }
    mosquitto_lib_init();
    Drain d;
    mosquitto* m = mosquitto_new("bare-drain", true, &d);
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_connect_callback_set(m, [](mosquitto*, void* o, int rc) { static_cast<Drain*>(o)->connected = rc == 0; });
    mosquitto_publish_callback_set(m, [](mosquitto*, void* o, int mid) {
        auto* dd = static_cast<Drain*>(o);
        dd->acked.push_back(mid);
        --dd->inflight;
    });
    const auto t0 = clock_type::now();
    if (mosquitto_connect(m, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS) {
        std::fprintf(stderr, "connect failed\n");
        return 1;
    }
    sqlite3_stmt* sel = nullptr;
    sqlite3_stmt* del = nullptr;
    check(sqlite3_prepare_v2(db, "SELECT key,topic,body,qos,retain FROM messages WHERE key>?1 ORDER BY key LIMIT ?2",
                             -1, &sel, nullptr), db, "prepare");
    check(sqlite3_prepare_v2(db, "DELETE FROM messages WHERE key=?1", -1, &del, nullptr), db, "prepare");
    // The outbox's epoch goes into every payload and user property, as Outpost sends it.
    std::string epoch = "0";
    {
        sqlite3_stmt* ep = nullptr;
        if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key='epoch'", -1, &ep, nullptr) == SQLITE_OK &&
            sqlite3_step(ep) == SQLITE_ROW) {
            epoch = std::to_string(sqlite3_column_int64(ep, 0));
        }
        sqlite3_finalize(ep);
    }
    std::vector<long> mid_to_key(65536, 0);
    long cursor = 0, sent = 0, deleted = 0;
    std::vector<long> to_delete;
    std::string payload;
    auto last_commit = clock_type::now();
    while (deleted < n) {
        if (d.connected && d.inflight < window && sent < n) {
            sqlite3_bind_int64(sel, 1, cursor);
            sqlite3_bind_int64(sel, 2, window - d.inflight);
            while (sqlite3_step(sel) == SQLITE_ROW) {
                const long key = sqlite3_column_int64(sel, 0);
                const long seq = key & seq_mask;
                cursor = key;
                payload = "{\"gw\":\"bench-gw\",\"ep\":" + epoch + ",\"seq\":" + std::to_string(seq) + "," +
                          reinterpret_cast<const char*>(sqlite3_column_text(sel, 2)) + "}";
                // The same MQTT 5 user properties as Outpost: gateway id, sequence number, epoch.
                mosquitto_property* props = nullptr;
                mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, "gw", "bench-gw");
                mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, "seq", std::to_string(seq).c_str());
                mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, "ep", epoch.c_str());
                int mid = 0;
                mosquitto_publish_v5(m, &mid, reinterpret_cast<const char*>(sqlite3_column_text(sel, 1)),
                                     static_cast<int>(payload.size()), payload.data(), sqlite3_column_int(sel, 3),
                                     sqlite3_column_int(sel, 4) != 0, props);
                mosquitto_property_free_all(&props);
                mid_to_key[static_cast<std::size_t>(mid)] = key;
                ++d.inflight;
                ++sent;
            }
            sqlite3_reset(sel);
        }
        pollfd p{mosquitto_socket(m), static_cast<short>(POLLIN | (mosquitto_want_write(m) ? POLLOUT : 0)), 0};
        ::poll(&p, 1, 100);
        if (p.revents & POLLIN) mosquitto_loop_read(m, 1);
        if (p.revents & POLLOUT) mosquitto_loop_write(m, 1);
        mosquitto_loop_misc(m);
        while (!d.acked.empty()) {
            to_delete.push_back(mid_to_key[static_cast<std::size_t>(d.acked.front())]);
            d.acked.pop_front();
        }
        if (!to_delete.empty() && (to_delete.size() >= 1000 || clock_type::now() - last_commit > std::chrono::milliseconds(200) ||
                                   deleted + static_cast<long>(to_delete.size()) >= n)) {
            sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
            for (long key : to_delete) {
                sqlite3_bind_int64(del, 1, key);
                sqlite3_step(del);
                sqlite3_reset(del);
            }
            sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
            deleted += static_cast<long>(to_delete.size());
            to_delete.clear();
            last_commit = clock_type::now();
        }
    }
    const double s = std::chrono::duration<double>(clock_type::now() - t0).count();
    mosquitto_disconnect(m);
    mosquitto_destroy(m);
    sqlite3_finalize(sel);
    sqlite3_finalize(del);
    sqlite3_close(db);
    std::printf("{\"bench\":\"bare_mosquitto_drain\",\"messages\":%ld,\"window\":%ld,\"seconds\":%.3f,\"per_s\":%.0f}\n",
                n, window, s, static_cast<double>(n) / s);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    // As the outbox does (outbox/src/sqlite.cpp): no memory statistics, no global mutex per allocation.
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if (argc == 5 && std::strcmp(argv[1], "sqlite") == 0) return bench_sqlite(std::atol(argv[2]), std::atol(argv[3]), argv[4]);
    if (argc == 6 && std::strcmp(argv[1], "drain") == 0) {
        return bench_drain(std::atol(argv[2]), std::atol(argv[3]), std::atoi(argv[4]), argv[5]);
    }
    std::fprintf(stderr, "usage: bare_baselines sqlite N BATCH DB | drain N WINDOW PORT DB\n");
    return 2;
}
