// Stores written before the keyed layout (outbox/src/row_key.hpp: seq as the row key, priority a
// column with an index) are converted at their first open: nothing they held is lost or renumbered,
// a conversion cut short resumes, and a damaged one is still salvaged.
#include "outpost/outbox/outbox.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <filesystem>
#include <set>
#include <tuple>

#include "private_mounts.hpp"
#include "process.hpp"
#include "site_reading.hpp"
#include "store_file.hpp"

using namespace outpost::outbox;
using outpost::core::Message;
using outpost::core::StoredMessage;
using outpost::test::page_size_of;
using outpost::test::scribble;
using outpost::test::site_reading;

namespace {

using Row = std::tuple<std::uint64_t, std::uint32_t, std::string>;  // seq, epoch, body

std::vector<Row> drain(Outbox& o) {
    DrainCursor cursor;
    std::vector<StoredMessage> all;
    while (o.fetch(cursor, 1000, all) > 0) {
    }
    std::vector<Row> rows;
    for (const auto& m : all) rows.emplace_back(m.seq, m.epoch, m.message.body);
    return rows;
}

constexpr const char* legacy_table =
    "CREATE TABLE legacy(seq INTEGER PRIMARY KEY, priority INTEGER NOT NULL, created_ns INTEGER NOT NULL, "
    "qos INTEGER NOT NULL, retain INTEGER NOT NULL, topic TEXT NOT NULL, body TEXT NOT NULL, crc INTEGER);";

// Rewrites a store in the legacy layout; rows with seq <= `converted_up_to` stay in the new
// layout, as in a conversion interrupted after its batches up to there.
void make_legacy(const outpost::test::TempDir& dir, const std::string& path, std::uint64_t converted_up_to = 0) {
    const std::string bound = std::to_string(converted_up_to);
    const std::string sql = std::string("BEGIN;") + legacy_table +
                            "INSERT INTO legacy SELECT seq,priority,created_ns,qos,retain,topic,body,crc FROM messages "
                            "WHERE seq>" + bound + ";" +
                            (converted_up_to > 0 ? "DELETE FROM messages WHERE seq>" + bound +
                                                       "; ALTER TABLE messages RENAME TO messages_converting;"
                                                 : std::string("DROP TABLE messages;")) +
                            "ALTER TABLE legacy RENAME TO messages;"
                            "CREATE INDEX messages_by_priority ON messages(priority, seq);"
                            "COMMIT; VACUUM; PRAGMA wal_checkpoint(TRUNCATE);";
    ASSERT_EQ(outpost::test::run({"sqlite3", path, sql}, dir.file("sqlite3.log")), 0);
}

std::int64_t query_int(const std::string& path, const char* sql) {
    sqlite3* db = nullptr;
    std::int64_t v = -1;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
            v = sqlite3_column_int64(st, 0);
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return v;
}

struct Quiet {
    Quiet() { testing::internal::CaptureStderr(); }
    ~Quiet() { log = testing::internal::GetCapturedStderr(); }
    std::string take() {
        log = testing::internal::GetCapturedStderr();
        testing::internal::CaptureStderr();
        return log;
    }
    std::string log;
};

}  // namespace

TEST(OutboxLayout, ALegacyStoreIsConvertedOnceAndDeliversWhatItHeldInOrder) {
    outpost::test::TempDir dir;
    const auto path = dir.file("o.db");
    std::vector<Row> expected;
    OutboxStats before;
    {
        Outbox o({.path = path});
        // More than one conversion batch, three priorities interleaved, gaps from acknowledgements.
        for (int i = 0; i < 120'000; ++i) {
            o.stage(site_reading(static_cast<std::uint8_t>(2 + 3 * (i % 3)), std::to_string(i)));
            if (i % 10'000 == 0) {
                ASSERT_FALSE(o.commit());
            }
        }
        ASSERT_FALSE(o.commit());
        for (std::uint64_t s = 1; s <= 120'000; s += 7) o.acknowledge(s);
        ASSERT_FALSE(o.commit());
        expected = drain(o);
        before = o.stats();
    }
    make_legacy(dir, path);
    ASSERT_EQ(query_int(path, "SELECT count(*) FROM pragma_table_info('messages') WHERE name='key'"), 0);

    Quiet quiet;
    Outbox o({.path = path});
    const auto log = quiet.take();
    EXPECT_NE(log.find("outbox.converted"), std::string::npos) << log;
    EXPECT_EQ(o.stats().rows, before.rows);
    EXPECT_EQ(o.stats().bytes, before.bytes);
    EXPECT_EQ(o.stats().next_seq, before.next_seq);
    EXPECT_EQ(o.stats().epoch, before.epoch) << "a conversion is no discontinuity";
    EXPECT_FALSE(o.stats().quarantined_at_start);
    EXPECT_EQ(drain(o), expected);
    for (const auto& l : o.losses()) ADD_FAILURE() << l.reason << " " << l.count << " " << l.first_seq << "-" << l.last_seq;
    EXPECT_EQ(o.stage(site_reading(5, "new")), before.next_seq);
    ASSERT_FALSE(o.commit());
    const auto summary = inspect_outbox(path);
    EXPECT_EQ(summary.rows_by_priority[2] + summary.rows_by_priority[5] + summary.rows_by_priority[8], before.rows + 1);
    EXPECT_EQ(summary.oldest_seq, 2u);
    EXPECT_EQ(query_int(path, "SELECT count(*) FROM sqlite_master WHERE name='messages_by_priority'"), 0);

    // Everything acknowledged (sizes and priorities unknown here): the store empties exactly.
    for (const auto& [seq, epoch, body] : drain(o)) o.acknowledge(seq);
    ASSERT_FALSE(o.commit());
    EXPECT_EQ(o.stats().rows, 0u);
    EXPECT_EQ(o.stats().bytes, 0u);
    EXPECT_EQ(query_int(path, "SELECT count(*) FROM messages"), 0);
}

TEST(OutboxLayout, AConversionCutShortResumesWhereItStopped) {
    outpost::test::TempDir dir;
    const auto path = dir.file("o.db");
    std::vector<Row> expected;
    {
        Outbox o({.path = path});
        for (int i = 0; i < 1000; ++i) o.stage(site_reading(static_cast<std::uint8_t>(i % 10), std::to_string(i)));
        ASSERT_FALSE(o.commit());
        expected = drain(o);
    }
    make_legacy(dir, path, 400);
    ASSERT_EQ(query_int(path, "SELECT count(*) FROM messages_converting"), 400);
    ASSERT_EQ(query_int(path, "SELECT count(*) FROM messages"), 600);

    Quiet quiet;
    Outbox o({.path = path});
    EXPECT_EQ(o.stats().rows, 1000u);
    EXPECT_EQ(drain(o), expected);
    EXPECT_EQ(query_int(path, "SELECT count(*) FROM sqlite_master WHERE name='messages_converting'"), 0);
    EXPECT_EQ(query_int(path, "SELECT count(*) FROM messages"), 1000);
}

TEST(OutboxLayout, ADamagedLegacyStoreIsSalvagedFromItsOldLayout) {
    outpost::test::TempDir dir;
    const auto path = dir.file("o.db");
    std::uint32_t epoch = 0;
    {
        Outbox o({.path = path});
        for (int i = 0; i < 3000; ++i) o.stage(site_reading(5, std::to_string(i) + std::string(150, 'x')));
        ASSERT_FALSE(o.commit());
        epoch = o.stats().epoch;
    }
    make_legacy(dir, path);
    // Table pages (the index was built last, at the end of the file).
    const auto page = static_cast<std::streamoff>(page_size_of(path));
    scribble(path, page * 8, page * 2);

    Quiet quiet;
    Outbox o({.path = path});
    EXPECT_TRUE(o.stats().quarantined_at_start) << quiet.take();
    EXPECT_GT(o.stats().salvaged, 2000u);
    std::set<std::uint64_t> seen;
    for (const auto& [seq, e, body] : drain(o)) {
        EXPECT_TRUE(seen.insert(seq).second);
        EXPECT_EQ(e, epoch) << "a salvaged row keeps the epoch it was numbered in";
        EXPECT_EQ(body.find('\x13'), std::string::npos);
        EXPECT_EQ(body.substr(0, body.size() - 150), std::to_string(seq - 1));
    }
    std::int64_t lost = 0;
    for (const auto& l : o.losses()) {
        if (l.reason == "quarantined") lost += l.count;
    }
    EXPECT_EQ(static_cast<std::int64_t>(seen.size()) + lost, 3000) << "every row is salvaged or recorded";
}

TEST(OutboxLayout, ALegacyStoreThatCannotBeWrittenIsDeliveredReadOnlyAndConvertedLater) {
    outpost::test::TempDir dir;
    const auto sub = dir.file("ob");
    const auto path = sub + "/o.db";
    std::vector<Row> expected;
    {
        Outbox o({.path = path});
        for (int i = 0; i < 300; ++i) o.stage(site_reading(static_cast<std::uint8_t>(i % 4 == 0 ? 8 : 3), std::to_string(i)));
        ASSERT_FALSE(o.commit());
        expected = drain(o);
    }
    make_legacy(dir, path);
    if (std::string error; !outpost::test::make_read_only(sub, error)) {
        if (std::getenv("OUTPOST_REQUIRE_MOUNT")) FAIL() << error;
        GTEST_SKIP() << error;
    }
    const outpost::test::MountGuard unmount{sub};
    Quiet quiet;
    Outbox o({.path = path});
    ASSERT_TRUE(o.stats().memory_only);
    EXPECT_EQ(drain(o), expected) << "the old layout is read as it is";
    for (std::uint64_t s = 1; s <= 100; ++s) o.acknowledge(s);
    EXPECT_TRUE(o.commit()) << "nothing can be committed";

    ASSERT_EQ(::umount2(sub.c_str(), MNT_DETACH), 0) << std::strerror(errno);
    o.maintain(std::chrono::steady_clock::now() + std::chrono::seconds(11));
    ASSERT_FALSE(o.stats().memory_only);
    ASSERT_FALSE(o.commit());
    EXPECT_EQ(o.stats().rows, 200u);
    EXPECT_EQ(query_int(path, "SELECT count(*) FROM messages WHERE seq>100"), 200);
    EXPECT_EQ(query_int(path, "SELECT count(*) FROM pragma_table_info('messages') WHERE name='key'"), 1);
}

// A reader that holds its snapshot (as the background check does for its whole run) keeps the
// write-ahead log from starting over, so its file grows; once the reader is gone and the log
// starts over, the file is cut back to 16 MB instead of keeping its largest size.
TEST(OutboxLayout, TheLogFileIsCutBackAfterALongReaderLetsGo) {
    outpost::test::TempDir dir;
    const auto path = dir.file("o.db");
    Outbox o({.path = path});
    o.stage(site_reading(5));
    ASSERT_FALSE(o.commit());
    sqlite3* reader = nullptr;
    ASSERT_EQ(sqlite3_open_v2(path.c_str(), &reader, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* held = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(reader, "SELECT key FROM messages", -1, &held, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(held), SQLITE_ROW);  // the read transaction stays open from here
    const std::string body(400, 'b');
    for (int c = 0; c < 60; ++c) {  // about 30 MB of rows
        for (int i = 0; i < 1000; ++i) o.stage(site_reading(5, body));
        ASSERT_FALSE(o.commit());
    }
    const auto wal = path + "-wal";
    const auto grown = std::filesystem::file_size(wal);
    EXPECT_GT(grown, 24u << 20) << "the held snapshot kept the log from starting over";
    sqlite3_finalize(held);
    sqlite3_close(reader);
    // Commits go on: a checkpoint copies the log back, the log starts over and its file is cut.
    for (int c = 0; c < 10; ++c) {
        for (int i = 0; i < 1000; ++i) o.stage(site_reading(5, body));
        ASSERT_FALSE(o.commit());
    }
    EXPECT_LE(std::filesystem::file_size(wal), std::uintmax_t{16} << 20);
    EXPECT_EQ(o.stats().rows, 70'001u);
}

TEST(OutboxLayout, NewStoresHave16KiBPagesAndTheLogStartsOverAt4MB) {
    outpost::test::TempDir dir;
    const auto path = dir.file("o.db");
    Outbox o({.path = path});
    EXPECT_EQ(page_size_of(path), 16384u);
    const std::string body(400, 'b');
    std::uintmax_t largest = 0;
    for (int c = 0; c < 30; ++c) {  // about 13 MB of rows, 450 KB a commit
        for (int i = 0; i < 1000; ++i) o.stage(site_reading(5, body));
        ASSERT_FALSE(o.commit());
        largest = std::max(largest, std::filesystem::file_size(path + "-wal"));
    }
    // 4 MB and what the commit that crossed it wrote; 1000 pages (SQLite's default) would be 16 MB.
    EXPECT_GT(largest, std::uintmax_t{3} << 20);
    EXPECT_LT(largest, std::uintmax_t{6} << 20);
}

TEST(OutboxLayout, AStoreWithSmallerPagesKeepsThem) {
    outpost::test::TempDir dir;
    const auto path = dir.file("o.db");
    // A store as versions before 16 KiB pages wrote it.
    outpost::test::run({"sqlite3", path, "PRAGMA page_size=4096; PRAGMA journal_mode=WAL; CREATE TABLE t(a)"},
                       dir.file("sqlite3.log"));
    {
        Outbox o({.path = path});
        for (int i = 0; i < 3000; ++i) o.stage(site_reading(5));
        ASSERT_FALSE(o.commit());
    }
    EXPECT_EQ(page_size_of(path), 4096u);
    Outbox o({.path = path});
    EXPECT_EQ(o.stats().rows, 3000u);
    EXPECT_EQ(drain(o).size(), 3000u);
}
