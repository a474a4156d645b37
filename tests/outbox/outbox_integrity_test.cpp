// The promise when the storage itself fails: a sequence number never names two readings, damage is
// found and handled at any time, and what cannot be saved is on the record.
#include "outpost/outbox/outbox.hpp"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "outpost/outbox/outbox_error.hpp"
#include "../../outbox/src/seq_marker.hpp"
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
namespace fs = std::filesystem;

namespace {


std::vector<StoredMessage> drain(Outbox& o) {
    DrainCursor cursor;
    std::vector<StoredMessage> all;
    while (o.fetch(cursor, 500, all) > 0) {
    }
    return all;
}

void fill(Outbox& o, int n, std::uint8_t priority = 5) {
    for (int i = 0; i < n; ++i) o.stage(site_reading(priority, "\"value\":" + std::to_string(i) + std::string(150, 'x')));
    ASSERT_FALSE(o.commit());
}

// A run that ends without its destructor, as after kill -9 or a power cut of the process.
void crash_after(const std::string& path, int messages) {
    const pid_t child = fork();
    if (child == 0) {
        auto* o = new Outbox({.path = path});
        for (int i = 0; i < messages; ++i) o->stage(site_reading(5));
        _exit(o->commit() ? 1 : 0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_EQ(WEXITSTATUS(status), 0);
}

std::int64_t lost_count(const std::vector<LossRecord>& losses, const std::string& reason) {
    std::int64_t n = 0;
    for (const auto& l : losses) {
        if (l.reason == reason) n += l.count;
    }
    return n;
}

// A store with `n` readings, then changed behind the gateway's back with the sqlite3 shell (an
// edit SQLite itself cannot see as damage). Returns the file's path.
std::string stored_then_edited(const outpost::test::TempDir& dir, int n, const std::string& sql) {
    const auto path = dir.file("o.db");
    {
        Outbox o({.path = path});
        fill(o, n);
    }
    EXPECT_EQ(outpost::test::run({"sqlite3", path, sql}, dir.file("sqlite3.log")), 0)
        << outpost::test::read_file(dir.file("sqlite3.log"));
    return path;
}

struct Quiet {
    Quiet() { testing::internal::CaptureStderr(); }
    ~Quiet() { log = testing::internal::GetCapturedStderr(); }
    std::string log;
};

}  // namespace

TEST(OutboxSequence, AnEmptiedFileIsNoticedRecordedAndNumberingContinues) {
    outpost::test::TempDir dir;
    const auto path = dir.file("o.db");
    std::uint32_t first_epoch = 0;
    {
        Outbox o({.path = path});
        fill(o, 500);
        first_epoch = o.stats().epoch;
    }
    fs::resize_file(path, 0);
    testing::internal::CaptureStderr();
    Outbox o({.path = path});
    const auto log = testing::internal::GetCapturedStderr();
    EXPECT_NE(log.find("outbox.store_missing"), std::string::npos) << log;
    EXPECT_EQ(o.stats().next_seq, 501u);
    EXPECT_NE(o.stats().epoch, first_epoch) << "continuity cannot be proven: a new epoch";
    EXPECT_EQ(lost_count(o.losses(), "store_missing"), 500);
    EXPECT_EQ(o.stage(site_reading(5)), 501u);
}

TEST(OutboxSequence, ADeletedFileIsNoticedToo) {
    outpost::test::TempDir dir;
    const auto path = dir.file("o.db");
    {
        Outbox o({.path = path});
        fill(o, 300);
        for (std::uint64_t s = 1; s <= 100; ++s) o.acknowledge(s);
        ASSERT_FALSE(o.commit());
    }
    fs::remove(path);
    Quiet quiet;
    Outbox o({.path = path});
    EXPECT_EQ(o.stats().next_seq, 301u);
    const auto losses = o.losses();
    ASSERT_EQ(losses.size(), 1u);
    EXPECT_EQ(losses[0].reason, "store_missing");
    // The marker's row count is refreshed when numbers are handed out, not at every delete (no
    // fsync for a delete-only commit): the count is an upper bound of what was waiting.
    EXPECT_GE(losses[0].count, 200);
    EXPECT_LE(losses[0].count, 300);
    EXPECT_EQ(losses[0].last_seq, 300u);
}

TEST(OutboxSequence, ARolledBackFileContinuesAboveWhatWasHandedOut) {
    outpost::test::TempDir dir;
    const auto path = dir.file("o.db");
    std::uint32_t epoch = 0;
    {
        Outbox o({.path = path});
        fill(o, 100);
    }
    fs::copy_file(path, dir.file("old.db"));
    {
        Outbox o({.path = path});
        fill(o, 250);
        epoch = o.stats().epoch;
    }
    fs::copy_file(dir.file("old.db"), path, fs::copy_options::overwrite_existing);
    Quiet quiet;
    Outbox o({.path = path});
    EXPECT_EQ(o.stats().next_seq, 351u);
    EXPECT_NE(o.stats().epoch, epoch);
    const auto losses = o.losses();
    ASSERT_EQ(losses.size(), 1u);
    EXPECT_EQ(losses[0].reason, "rolled_back");
    EXPECT_LE(losses[0].first_seq, 101u) << "the range covers every number that may be gone";
    EXPECT_EQ(losses[0].last_seq, 350u);
    EXPECT_EQ(losses[0].count, 250);
    // Old rows keep the epoch they were numbered in; new ones carry the new epoch.
    o.stage(site_reading(5));
    ASSERT_FALSE(o.commit());
    const auto all = drain(o);
    ASSERT_EQ(all.size(), 101u);
    EXPECT_EQ(all.front().epoch, epoch);
    EXPECT_EQ(all.back().seq, 351u);
    EXPECT_EQ(all.back().epoch, o.stats().epoch);
}

TEST(OutboxSequence, ADeletedWalAfterACrashIsARollbackOnTheRecord) {
    outpost::test::TempDir dir;
    const auto path = dir.file("o.db");
    {
        Outbox o({.path = path});
        fill(o, 50);
    }
    crash_after(path, 400);
    ASSERT_TRUE(fs::exists(path + "-wal"));
    fs::remove(path + "-wal");
    fs::remove(path + "-shm");
    Quiet quiet;
    Outbox o({.path = path});
    EXPECT_EQ(o.stats().next_seq, 451u);
    EXPECT_EQ(o.stats().rows, 50u);
    EXPECT_EQ(lost_count(o.losses(), "rolled_back"), 400);
}

TEST(OutboxSequence, AGarbledWalAfterACrashIsARollbackOnTheRecord) {
    outpost::test::TempDir dir;
    const auto path = dir.file("o.db");
    {
        Outbox o({.path = path});
        fill(o, 50);
    }
    crash_after(path, 400);
    scribble(path + "-wal", 32, page_size_of(path));  // the first frame: nothing after it is trusted
    Quiet quiet;
    Outbox o({.path = path});
    EXPECT_EQ(o.stats().next_seq, 451u);
    EXPECT_GE(lost_count(o.losses(), "rolled_back"), 1);
    std::set<std::uint64_t> seen;
    for (const auto& m : drain(o)) EXPECT_TRUE(seen.insert(m.seq).second);
}

TEST(OutboxSequence, AQuarantinedStoreContinuesFromTheMarkerWhenItsHeaderIsGone) {
    outpost::test::TempDir dir;
    const auto path = dir.file("o.db");
    {
        Outbox o({.path = path});
        fill(o, 700);
    }
    scribble(path, 0, page_size_of(path), '\0');  // page 1 zeroed: not a database any more
    Quiet quiet;
    Outbox o({.path = path});
    EXPECT_TRUE(o.stats().quarantined_at_start);
    EXPECT_EQ(o.stats().next_seq, 701u);
    EXPECT_EQ(lost_count(o.losses(), "quarantined"), static_cast<std::int64_t>(700 - o.stats().rows));
}

TEST(OutboxSequence, AMarkerWithATornSlotStillReads) {
    outpost::test::TempDir dir;
    const auto path = dir.file("o.db");
    {
        Outbox o({.path = path});
        fill(o, 10);
        fill(o, 10);
    }
    // Writes: the open (generation 1, slot 1 at 4 KiB), then the two commits (generation 2 in slot 0,
    // generation 3 in slot 1). Tear the newest: the older slot says 11, the file says 21, and the
    // numbering follows the higher of the two.
    const auto marker = dir.file(".o.db.seq");
    ASSERT_TRUE(fs::exists(marker));
    scribble(marker, 4096, 16);
    {
        // Slot 0's next_seq (little-endian at byte 24): the older record.
        std::ifstream in(marker, std::ios::binary);
        unsigned char b[32] = {};
        in.read(reinterpret_cast<char*>(b), sizeof b);
        std::uint64_t next = 0;
        for (int i = 7; i >= 0; --i) next = next << 8 | b[24 + i];
        EXPECT_EQ(next, 11u);
    }
    Quiet quiet;
    Outbox o({.path = path});
    EXPECT_EQ(o.stats().next_seq, 21u);
}

TEST(OutboxDamage, CorruptionFoundWhileRunningIsQuarantinedAndTheGatewayGoesOn) {
    outpost::test::TempDir dir;
    const auto path = dir.file("o.db");
    Quiet quiet;
    Outbox o({.path = path, .integrity_check_interval = std::chrono::seconds(0)});
    fill(o, 3000);
    o.acknowledge(1);
    ASSERT_FALSE(o.commit());
    ASSERT_EQ(o.stats().rows, 2999u);
    // Checkpoint so the damage is in the main file, then scribble over pages while it is open.
    {
        outpost::test::run({"sqlite3", path, "PRAGMA wal_checkpoint(TRUNCATE)"}, dir.file("sqlite3.log"));
    }
    const auto page = static_cast<std::streamoff>(page_size_of(path));
    scribble(path, page * 8, page * 2);
    const auto all = drain(o);  // hits the damage, recovers, the cursor keeps its place
    const auto again = drain(o);
    EXPECT_EQ(o.stats().quarantines, 1u);
    EXPECT_FALSE(o.stats().quarantined_at_start);
    EXPECT_GT(o.stats().salvaged, 0u);
    // The store works: new messages commit, numbering goes on above everything known.
    const auto seq = o.stage(site_reading(9));
    EXPECT_EQ(seq, 3001u);
    ASSERT_FALSE(o.commit());
    std::set<std::uint64_t> seen;
    for (const auto& m : drain(o)) {
        EXPECT_TRUE(seen.insert(m.seq).second);
        EXPECT_EQ(m.message.body.find('\x13'), std::string::npos) << "a damaged payload was returned";
    }
    EXPECT_TRUE(seen.count(3001));
    const auto lost = lost_count(o.losses(), "quarantined");
    EXPECT_GT(lost, 0);
    EXPECT_EQ(static_cast<std::int64_t>(o.stats().rows) - 1 + lost, 2999) << "every row is salvaged or recorded";
    (void)all;
    (void)again;
}

TEST(OutboxDamage, ARowThatFailsItsChecksumIsNeverReturnedAndIsRecorded) {
    outpost::test::TempDir dir;
    // A page that reads as valid with different bytes in it (here: an edit SQLite cannot see).
    const auto path = stored_then_edited(dir, 20, "UPDATE messages SET body='\"value\":666' WHERE seq=7");
    Quiet quiet;
    Outbox o({.path = path});
    const auto all = drain(o);
    EXPECT_EQ(all.size(), 19u);
    for (const auto& m : all) EXPECT_NE(m.seq, 7u);
    EXPECT_EQ(o.stats().corrupt_rows, 1u);
    ASSERT_FALSE(o.commit());
    const auto losses = o.losses();
    ASSERT_EQ(losses.size(), 1u);
    EXPECT_EQ(losses[0].reason, "checksum_mismatch");
    EXPECT_EQ(losses[0].first_seq, 7u);
    EXPECT_EQ(o.stats().rows, 19u);
}

TEST(OutboxDamage, TheBackgroundCheckFindsDamageAfterACleanShutdown) {
    outpost::test::TempDir dir;
    const auto path = dir.file("o.db");
    {
        Outbox o({.path = path});
        fill(o, 3000);
    }
    // Damage near the end of the file, in pages nothing reads at the open: only a check finds it.
    const auto size = static_cast<std::streamoff>(fs::file_size(path));
    const auto page = static_cast<std::streamoff>(page_size_of(path));
    scribble(path, size - page * 3, page * 2);
    Quiet quiet;
    Outbox o({.path = path, .integrity_check_interval = std::chrono::seconds(1)});
    EXPECT_FALSE(o.stats().quarantined_at_start) << "a clean shutdown opens without a check";
    const auto start = std::chrono::steady_clock::now();
    auto now = start;
    while (o.stats().integrity_checks == 0 && std::chrono::steady_clock::now() - start < std::chrono::seconds(60)) {
        now += std::chrono::seconds(11);
        o.maintain(now);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_EQ(o.stats().integrity_checks, 1u);
    EXPECT_EQ(o.stats().quarantines, 1u);
    EXPECT_EQ(o.stage(site_reading(5)), 3001u);
    ASSERT_FALSE(o.commit());
}

TEST(OutboxDamage, AScheduledCheckWaitsWhileTheWriterIsBusyButAtMostOneInterval) {
    outpost::test::TempDir dir;
    const auto path = dir.file("o.db");
    {
        Outbox o({.path = path});
        fill(o, 100);
    }
    Outbox o({.path = path, .integrity_check_interval = std::chrono::seconds(2)});
    const auto opened = std::chrono::steady_clock::now();
    const auto elapsed = [&] { return std::chrono::steady_clock::now() - opened; };
    // Commits back to back: the writer thread is busy nearly all the time (each waits for fsync).
    auto busy_until = [&](auto until, auto clock_offset) {
        while (elapsed() < until) {
            fill(o, 200);
            o.maintain(std::chrono::steady_clock::now() + clock_offset);
        }
    };
    // A little over a second on the real clock: the writer's share is measured; no check is due.
    busy_until(std::chrono::milliseconds(1200), std::chrono::seconds(0));
    // Then the clock the outbox is given jumps past the check after a clean start (10 s): due,
    // but the writer is busy, so it waits (an interval, 2 s, at most).
    busy_until(std::chrono::milliseconds(1700), std::chrono::seconds(10));
    EXPECT_EQ(o.stats().integrity_checks, 0u);
    EXPECT_EQ(o.stats().integrity_checks_deferred, 1u);
    // Still busy: one interval past its time it runs anyway.
    while (o.stats().integrity_checks == 0 && elapsed() < std::chrono::seconds(30)) {
        fill(o, 200);
        o.maintain(std::chrono::steady_clock::now() + std::chrono::seconds(10));
    }
    EXPECT_EQ(o.stats().integrity_checks, 1u);
    EXPECT_GE(elapsed(), std::chrono::milliseconds(1500)) << "it waited until about one interval past its time";
    EXPECT_EQ(o.stats().quarantines, 0u);
    EXPECT_EQ(o.stats().integrity_checks_deferred, 1u) << "one check, counted once";
}

TEST(OutboxInvariants, StagingAtTheCapIsConstantTime) {
    outpost::test::TempDir dir;
    Quiet quiet;
    Outbox o({.path = dir.file("o.db"), .max_staged = 100'000});
    // With the disk refusing every commit, stage() must stay cheap at the cap: an erase from the
    // front of a vector cost ~1 ms per reading there (900 s for this loop), a deque pop a few ns.
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 1'000'000; ++i) o.stage(site_reading(5, "v"));
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(o.staged(), 100'000u);
    EXPECT_EQ(o.stats().dropped_unwritable, 900'000u);
    EXPECT_LT(elapsed, std::chrono::seconds(60));
    ASSERT_FALSE(o.commit());
    const auto losses = o.losses();
    ASSERT_EQ(losses.size(), 1u) << "contiguous drops are one record";
    EXPECT_EQ(losses[0].count, 900'000);
    EXPECT_EQ(losses[0].first_seq, 1u);
    EXPECT_EQ(losses[0].last_seq, 900'000u);
}

TEST(OutboxInvariants, DropsAtTheCapStayBoundedWithMixedPriorities) {
    outpost::test::TempDir dir;
    Quiet quiet;
    Outbox o({.path = dir.file("o.db"), .max_staged = 1000});
    // Alternating priorities: one loss record per priority, not one per reading.
    for (int i = 0; i < 200'000; ++i) o.stage(site_reading(i % 2 ? 3 : 5, "v"));
    EXPECT_EQ(o.stats().dropped_unwritable, 199'000u);
    ASSERT_FALSE(o.commit());
    const auto losses = o.losses(1000);
    ASSERT_EQ(losses.size(), 2u);
    EXPECT_EQ(losses[0].count + losses[1].count, 199'000);
}

TEST(OutboxInvariants, CountersNeverWrapBelowZero) {
    outpost::test::TempDir dir;
    const auto path = stored_then_edited(dir, 5, "UPDATE meta SET value=0 WHERE key IN ('rows','bytes')");
    Quiet quiet;
    Outbox o({.path = path});
    for (std::uint64_t s = 1; s <= 5; ++s) o.acknowledge(s);
    ASSERT_FALSE(o.commit());
    EXPECT_EQ(o.stats().rows, 0u);
    EXPECT_EQ(o.stats().bytes, 0u);
}

TEST(OutboxInvariants, APriorityOutOfRangeInTheFileIsBounded) {
    outpost::test::TempDir dir;
    // The priority is the key's top byte (row_key.hpp): keys no priority has, below and above.
    const auto path = stored_then_edited(dir, 5, "UPDATE messages SET key=-3 WHERE seq=2; "
                                                  "UPDATE messages SET key=key+(100<<56) WHERE seq=3");
    Quiet quiet;
    Outbox o({.path = path, .max_rows = 1});
    o.stage(site_reading(5));
    ASSERT_FALSE(o.commit());  // eviction reads those priorities
    EXPECT_EQ(o.stats().rows, 1u);
    std::uint64_t evicted = 0;
    for (auto e : o.stats().evicted) evicted += e;
    EXPECT_EQ(evicted, 5u);
}

TEST(OutboxInvariants, ANextSequenceNumberBeyondWhatAKeyHoldsIsAStartUpErrorNotANewNumbering) {
    outpost::test::TempDir dir;
    // 2^56 + 5: only damage can write it (row_key.hpp keeps seqs below 2^56).
    const auto path = stored_then_edited(dir, 5, "UPDATE meta SET value=(1<<56)+5 WHERE key='next_seq'");
    Quiet quiet;
    try {
        Outbox o({.path = path});
        FAIL() << "opened with next_seq " << o.stats().next_seq;
    } catch (const OutboxError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("72057594037927941"), std::string::npos) << what;
        EXPECT_NE(what.find(path), std::string::npos) << what;
    }
    // Nothing stored was touched: the five readings are still there for export.
    ASSERT_EQ(outpost::test::run({"sqlite3", path, "SELECT count(*) FROM messages"}, dir.file("count.log")), 0);
    EXPECT_EQ(outpost::test::read_file(dir.file("count.log")), "5\n");
}

TEST(OutboxReadOnly, ADamagedNextSequenceNumberIsLeftOutOfTheNumberingInMemoryOnlyMode) {
    // The same damage, in a store that cannot be written: no start-up error (memory-only mode
    // starts), so the damaged number must not number new readings beyond what a key can hold.
    outpost::test::TempDir dir;
    const auto sub = dir.file("ob");
    fs::create_directories(sub);
    const auto path = sub + "/o.db";
    {
        Outbox o({.path = path});
        fill(o, 5);
    }
    ASSERT_EQ(outpost::test::run({"sqlite3", path, "UPDATE meta SET value=(1<<56)+5 WHERE key='next_seq'"},
                                 dir.file("sqlite3.log")), 0);
    if (std::string error; !outpost::test::make_read_only(sub, error)) {
        if (std::getenv("OUTPOST_REQUIRE_MOUNT")) FAIL() << error;
        GTEST_SKIP() << error;
    }
    const outpost::test::MountGuard unmount{sub};
    testing::internal::CaptureStderr();
    {
        Outbox o({.path = path});
        EXPECT_TRUE(o.stats().memory_only);
        EXPECT_EQ(o.stats().next_seq, 6u) << "numbering goes on above the stored rows";
        const auto seq = o.stage(site_reading(5));
        EXPECT_EQ(seq, 6u);
        // The five stored readings and the new one, each once.
        DrainCursor cursor;
        std::vector<StoredMessage> out;
        while (o.fetch(cursor, 10, out) > 0) {
        }
        std::set<std::uint64_t> seqs;
        for (const auto& m : out) EXPECT_TRUE(seqs.insert(m.seq).second) << m.seq;
        EXPECT_EQ(seqs, (std::set<std::uint64_t>{1, 2, 3, 4, 5, 6}));
    }
    const auto log = testing::internal::GetCapturedStderr();
    EXPECT_NE(log.find("outbox.next_seq_damaged"), std::string::npos) << log;
    EXPECT_NE(log.find("72057594037927941"), std::string::npos) << log;
}

TEST(OutboxInvariants, TheDestructorNeverThrowsEvenWithItsDirectoryGone) {
    outpost::test::TempDir dir;
    const auto sub = dir.file("gone");
    Quiet quiet;
    EXPECT_NO_THROW({
        Outbox o({.path = sub + "/o.db"});
        fill(o, 10);
        o.stage(site_reading(5));
        fs::remove_all(sub);
    });
}

TEST(OutboxInvariants, SourcePositionsCommitWithTheReadings) {
    outpost::test::TempDir dir;
    const auto path = dir.file("o.db");
    Quiet quiet;
    const pid_t child = fork();
    if (child == 0) {
        auto* o = new Outbox({.path = path});
        o->stage(site_reading(5));
        o->set_position("replay:bms", 1234);
        if (o->commit()) _exit(1);
        o->stage(site_reading(5));
        o->set_position("replay:bms", 5678);  // staged, then the process dies: not committed
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_EQ(WEXITSTATUS(status), 0);
    Outbox o({.path = path});
    EXPECT_EQ(o.position("replay:bms"), 1234);
    EXPECT_EQ(o.stats().rows, 1u);
    EXPECT_FALSE(o.position("replay:other"));
}

TEST(OutboxInvariants, FilesArePrivateToTheGatewayUser) {
    outpost::test::TempDir dir;
    const auto sub = dir.file("state");
    {
        Outbox o({.path = sub + "/o.db"});
        fill(o, 3);
        struct stat st {};
        ASSERT_EQ(::stat((sub + "/o.db-wal").c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 0777, 0600u);
    }
    struct stat st {};
    ASSERT_EQ(::stat(sub.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    ASSERT_EQ(::stat((sub + "/o.db").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ASSERT_EQ(::stat((sub + "/.o.db.seq").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(OutboxFullDisk, AcknowledgedDeletesAndLossRecordsCommitWhileInsertsFail) {
    outpost::test::TempDir dir;
    const auto mnt = dir.file("small");
    fs::create_directory(mnt);
    // A small filesystem in this test process's own mount namespace: nothing on the host changes.
    if (std::string error; !outpost::test::mount_tmpfs(mnt, "4m", error)) {
        if (std::getenv("OUTPOST_REQUIRE_MOUNT")) FAIL() << error;
        GTEST_SKIP() << "cannot mount a tmpfs here: " << error;
    }
    const outpost::test::MountGuard unmount{mnt};
    Quiet quiet;
    Outbox o({.path = mnt + "/o.db", .max_staged = 300, .reserve_bytes = 1024 * 1024});
    ASSERT_TRUE(fs::exists(mnt + "/.o.db.reserve"));
    // Fill the disk.
    std::error_code failure;
    for (int batch = 0; batch < 1000 && !failure; ++batch) {
        for (int i = 0; i < 50; ++i) o.stage(site_reading(5, std::string(300, 'b')));
        failure = o.commit();
    }
    ASSERT_TRUE(failure) << "the disk never filled up";
    const auto rows = o.stats().rows;
    ASSERT_GT(rows, 1000u);
    // The drain goes on: acknowledgements are deleted although inserts keep failing (more
    // arrives than the freed pages can take, so the disk stays full).
    for (std::uint64_t first = 1; first <= 1000; first += 250) {
        for (std::uint64_t s = first; s < first + 250; ++s) o.acknowledge(s);
        for (int i = 0; i < 1000; ++i) o.stage(site_reading(5, std::string(300, 'b')));
        o.commit();
        EXPECT_EQ(o.pending_acks(), 0u) << "deletes were committed on their own";
        EXPECT_LE(o.staged(), 300u);
    }
    EXPECT_GE(o.stats().removed, 1000u);
    const auto dropped = o.stats().dropped_unwritable;
    EXPECT_GT(dropped, 0u);
    // The drops are on the record already, while the disk is still full.
    EXPECT_EQ(lost_count(o.losses(100000), "dropped_unwritable"), static_cast<std::int64_t>(dropped));
    // Nothing stored before the disk filled was lost, and no seq repeats.
    std::set<std::uint64_t> seen;
    for (const auto& m : drain(o)) EXPECT_TRUE(seen.insert(m.seq).second);
    EXPECT_EQ(seen.size(), o.stats().rows);
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(*seen.begin(), 1001u);
}

TEST(OutboxSequence, ACrashBeforeTheLastCommitIsOnTheRecordAsUnconfirmedAndNumberingContinues) {
    outpost::test::TempDir dir;
    const auto path = dir.file("o.db");
    std::uint32_t epoch = 0;
    {
        Outbox o({.path = path});
        fill(o, 100);
        epoch = o.stats().epoch;
    }
    crash_after(path, 40);  // a crash after a commit: next_seq 141 in the file
    {
        // The marker of a commit of 60 more that never reached the file (the crash came first).
        Quiet quiet;
        SeqMarker marker(path);
        ASSERT_TRUE(marker.previous());
        EXPECT_EQ(marker.previous()->committed_next_seq, 101u);
        ASSERT_FALSE(marker.write({marker.previous()->epoch, 201, 200, 141}));
    }
    Quiet quiet;
    Outbox o({.path = path});
    EXPECT_EQ(o.stats().next_seq, 201u) << "numbers handed out are never handed out again";
    EXPECT_EQ(o.stats().epoch, epoch) << "the file is exactly as the last commit found it: continuity holds";
    EXPECT_EQ(o.stats().rows, 140u);
    const auto losses = o.losses();
    ASSERT_EQ(losses.size(), 1u);
    EXPECT_EQ(losses[0].reason, "unconfirmed_last_commit");
    EXPECT_EQ(losses[0].count, 60);
    EXPECT_EQ(losses[0].first_seq, 141u);
    EXPECT_EQ(losses[0].last_seq, 200u);
}

TEST(OutboxReadOnly, AStoreThatCannotBeWrittenRunsFromMemoryAndCatchesUpWhenItCanBeAgain) {
    outpost::test::TempDir dir;
    const auto sub = dir.file("ob");
    const auto path = sub + "/o.db";
    std::uint32_t old_epoch = 0;
    {
        Outbox o({.path = path});
        fill(o, 100);
        old_epoch = o.stats().epoch;
    }
    if (std::string error; !outpost::test::make_read_only(sub, error)) {
        if (std::getenv("OUTPOST_REQUIRE_MOUNT")) FAIL() << error;
        GTEST_SKIP() << error;
    }
    const outpost::test::MountGuard unmount{sub};
    Quiet quiet;
    Outbox o({.path = path, .max_staged = 50});
    ASSERT_TRUE(o.stats().memory_only);
    EXPECT_NE(o.stats().epoch, old_epoch) << "readings numbered in memory get an epoch of their own";
    EXPECT_EQ(o.stats().next_seq, 101u);
    for (int i = 0; i < 30; ++i) o.stage(site_reading(5));
    EXPECT_TRUE(o.commit()) << "nothing can be committed";
    // Stored rows (read-only) and new readings (from memory) are both delivered, each under its epoch.
    DrainCursor cursor;
    std::vector<StoredMessage> out;
    while (o.fetch(cursor, 40, out) > 0) {
    }
    ASSERT_EQ(out.size(), 130u);
    EXPECT_EQ(out.front().epoch, old_epoch);
    EXPECT_EQ(out.back().seq, 130u);
    EXPECT_EQ(out.back().epoch, o.stats().epoch);
    // Ten stored and twenty in-memory readings are acknowledged; memory forgets what was delivered.
    for (std::uint64_t s = 1; s <= 10; ++s) o.acknowledge(s);
    for (std::uint64_t s = 101; s <= 120; ++s) o.acknowledge(s);
    EXPECT_TRUE(o.commit());
    EXPECT_EQ(o.staged(), 10u);
    EXPECT_EQ(o.stats().delivered_from_memory, 20u);
    // Memory is bounded: past max_staged the oldest undelivered reading is dropped and counted.
    for (int i = 0; i < 60; ++i) o.stage(site_reading(5));
    EXPECT_EQ(o.staged(), 50u);
    EXPECT_EQ(o.stats().dropped_unwritable, 20u);

    // The directory can be written again: the outbox reopens and catches up.
    ASSERT_EQ(::umount2(sub.c_str(), MNT_DETACH), 0) << std::strerror(errno);
    o.maintain(std::chrono::steady_clock::now() + std::chrono::seconds(11));
    ASSERT_FALSE(o.stats().memory_only);
    ASSERT_FALSE(o.commit());
    EXPECT_EQ(o.stats().rows, 90u + 50u) << "stored rows minus acknowledged, plus what memory held";
    EXPECT_EQ(lost_count(o.losses(), "dropped_unwritable"), 20);
    const auto all = drain(o);
    ASSERT_EQ(all.size(), 140u);
    std::set<std::uint64_t> seqs;
    for (const auto& m : all) {
        EXPECT_TRUE(seqs.insert(m.seq).second);
        EXPECT_EQ(m.epoch, m.seq <= 100 ? old_epoch : o.stats().epoch) << m.seq;
    }
    EXPECT_EQ(*seqs.begin(), 11u);
    EXPECT_EQ(*seqs.rbegin(), 190u);
}

TEST(OutboxReadOnly, TheEpochNumberedInMemorySurvivesARestart) {
    outpost::test::TempDir dir;
    const auto sub = dir.file("ob");
    const auto path = sub + "/o.db";
    {
        Outbox o({.path = path});
        fill(o, 10);
    }
    if (std::string error; !outpost::test::make_read_only(sub, error)) {
        if (std::getenv("OUTPOST_REQUIRE_MOUNT")) FAIL() << error;
        GTEST_SKIP() << error;
    }
    const outpost::test::MountGuard unmount{sub};
    Quiet quiet;
    std::uint32_t memory_epoch = 0;
    {
        Outbox o({.path = path});
        memory_epoch = o.stats().epoch;
        for (int i = 0; i < 5; ++i) o.stage(site_reading(5));
        ASSERT_EQ(::umount2(sub.c_str(), MNT_DETACH), 0);
        o.maintain(std::chrono::steady_clock::now() + std::chrono::seconds(11));
        ASSERT_FALSE(o.commit());
    }
    Outbox o({.path = path});
    const auto all = drain(o);
    ASSERT_EQ(all.size(), 15u);
    EXPECT_EQ(all.back().seq, 15u);
    EXPECT_EQ(all.back().epoch, memory_epoch);
    EXPECT_EQ(o.stats().next_seq, 16u);
}
