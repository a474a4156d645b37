#include "outpost/outbox/outbox.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>

#include "outpost/outbox/outbox_error.hpp"
#include "private_mounts.hpp"
#include "process.hpp"
#include "store_file.hpp"

using namespace outpost::outbox;
using outpost::core::Message;
using outpost::core::StoredMessage;
using outpost::test::page_size_of;
using outpost::test::scribble;

namespace {

Message msg(std::uint8_t priority, const std::string& topic, const std::string& body = "\"value\":1") {
    Message m;
    m.topic = topic;
    m.body = body;
    m.priority = priority;
    m.created_ns = 42;
    return m;
}

std::vector<std::uint64_t> drain_seqs(Outbox& o, std::size_t batch = 3) {
    DrainCursor cursor;
    std::vector<std::uint64_t> seqs;
    for (;;) {
        std::vector<StoredMessage> out;
        if (o.fetch(cursor, batch, out) == 0) break;
        for (auto& m : out) seqs.push_back(m.seq);
    }
    return seqs;
}

}  // namespace

TEST(Outbox, HigherPriorityFirstAndFifoWithinAPriority) {
    outpost::test::TempDir dir;
    Outbox o({.path = dir.file("o.db")});
    const std::vector<std::uint8_t> prios = {5, 5, 9, 1, 5, 9, 0};
    for (auto p : prios) o.stage(msg(p, "t/" + std::to_string(p)));
    EXPECT_TRUE(drain_seqs(o).empty()) << "staged messages are not durable yet and must not be sent";
    ASSERT_FALSE(o.commit());
    EXPECT_EQ(drain_seqs(o), (std::vector<std::uint64_t>{3, 6, 1, 2, 5, 4, 7}));
    EXPECT_EQ(o.stats().rows, 7u);
}

// A commit writes its readings several to a statement, in key order: every field of every row
// comes back as it was staged, whatever the mix of priorities and a count that is not a multiple
// of the statement's rows, and the counts match a store written one reading a commit.
TEST(Outbox, AManyReadingCommitOfMixedPrioritiesStoresEachReadingAsStaged) {
    outpost::test::TempDir dir;
    Outbox many({.path = dir.file("many.db")});
    Outbox one_by_one({.path = dir.file("one.db")});
    std::map<std::uint64_t, Message> staged;
    for (int i = 0; i < 1003; ++i) {
        Message m = msg(static_cast<std::uint8_t>(i * 7 % 10), "site/t" + std::to_string(i % 13), "\"value\":" + std::to_string(i));
        m.created_ns = 1'000'000 + i;
        m.qos = static_cast<std::uint8_t>(i % 3);
        m.retain = i % 5 == 0;
        ASSERT_EQ(one_by_one.stage(m), static_cast<std::uint64_t>(i + 1));
        ASSERT_FALSE(one_by_one.commit());
        staged[many.stage(m)] = m;
    }
    ASSERT_FALSE(many.commit());
    EXPECT_EQ(many.stats().rows, 1003u);
    EXPECT_EQ(many.stats().bytes, one_by_one.stats().bytes);
    DrainCursor cursor;
    std::vector<StoredMessage> out;
    while (many.fetch(cursor, 100, out) > 0) {
    }
    ASSERT_EQ(out.size(), 1003u);
    EXPECT_EQ(many.stats().corrupt_rows, 0u) << "every row's checksum matches what was written";
    int last_priority = 10;
    for (const auto& s : out) {
        ASSERT_TRUE(staged.count(s.seq)) << s.seq;
        const Message& m = staged.at(s.seq);
        EXPECT_EQ(s.message.topic, m.topic) << s.seq;
        EXPECT_EQ(s.message.body, m.body) << s.seq;
        EXPECT_EQ(s.message.created_ns, m.created_ns) << s.seq;
        EXPECT_EQ(s.message.priority, m.priority) << s.seq;
        EXPECT_EQ(s.message.qos, m.qos) << s.seq;
        EXPECT_EQ(s.message.retain, m.retain) << s.seq;
        EXPECT_LE(s.message.priority, last_priority) << "higher priorities first";
        last_priority = s.message.priority;
        staged.erase(s.seq);
    }
    EXPECT_TRUE(staged.empty());
}

TEST(Outbox, NewHighPriorityMessagesOvertakeADrainInProgress) {
    outpost::test::TempDir dir;
    Outbox o({.path = dir.file("o.db")});
    for (int i = 0; i < 4; ++i) o.stage(msg(1, "low"));
    ASSERT_FALSE(o.commit());
    DrainCursor cursor;
    std::vector<StoredMessage> out;
    o.fetch(cursor, 2, out);
    o.stage(msg(8, "alarm"));
    ASSERT_FALSE(o.commit());
    out.clear();
    o.fetch(cursor, 2, out);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].message.topic, "alarm");
    EXPECT_EQ(out[1].seq, 3u);
}

TEST(Outbox, SurvivesReopenAndKeepsTheSequence) {
    outpost::test::TempDir dir;
    {
        Outbox o({.path = dir.file("o.db")});
        for (int i = 0; i < 10; ++i) o.stage(msg(5, "t", "\"value\":" + std::to_string(i)));
        ASSERT_FALSE(o.commit());
        for (std::uint64_t s = 1; s <= 4; ++s) o.acknowledge(s);
        ASSERT_FALSE(o.commit());
    }
    Outbox o({.path = dir.file("o.db")});
    EXPECT_EQ(o.stats().rows, 6u);
    EXPECT_EQ(o.stats().next_seq, 11u);
    EXPECT_EQ(drain_seqs(o), (std::vector<std::uint64_t>{5, 6, 7, 8, 9, 10}));
    EXPECT_EQ(o.stage(msg(5, "t")), 11u);
    DrainCursor c;
    std::vector<StoredMessage> out;
    o.fetch(c, 1, out);
    EXPECT_EQ(out[0].message.body, "\"value\":4");
    EXPECT_EQ(out[0].message.created_ns, 42);
}

TEST(Outbox, AcknowledgedMessagesAreNeverFetchedAgainEvenBeforeTheirDelete) {
    outpost::test::TempDir dir;
    Outbox o({.path = dir.file("o.db")});
    for (int i = 0; i < 5; ++i) o.stage(msg(5, "t"));
    ASSERT_FALSE(o.commit());
    o.acknowledge(2);
    o.acknowledge(4);
    EXPECT_EQ(drain_seqs(o), (std::vector<std::uint64_t>{1, 3, 5}));
    ASSERT_FALSE(o.commit());
    EXPECT_EQ(o.stats().rows, 3u);
    EXPECT_EQ(o.stats().removed, 2u);
}

// Consecutive acknowledged numbers go in one ranged delete: rows and bytes must stay exact, also
// for a run holding a row that is already gone and for acknowledgements without a known size.
TEST(Outbox, AcknowledgedRunsAreDeletedWholeAndCountedExactly) {
    outpost::test::TempDir dir;
    Outbox o({.path = dir.file("o.db")});
    for (int i = 0; i < 30; ++i) o.stage(msg(5, "t/" + std::to_string(i), std::string(static_cast<std::size_t>(i + 1), 'x')));
    ASSERT_FALSE(o.commit());
    std::map<std::uint64_t, std::uint32_t> payload;
    DrainCursor cursor;
    std::vector<StoredMessage> out;
    ASSERT_EQ(o.fetch(cursor, 100, out), 30u);
    for (const auto& m : out) payload[m.seq] = static_cast<std::uint32_t>(m.message.topic.size() + m.message.body.size());
    std::uint64_t total_payload = 0;
    for (const auto& [seq, n] : payload) total_payload += n;
    const std::uint64_t overhead = (o.stats().bytes - total_payload) / 30;  // per row, as the outbox counts it
    ASSERT_EQ(o.stats().bytes, total_payload + 30 * overhead);

    o.acknowledge(7, 5, payload[7]);  // deleted first, on its own
    ASSERT_FALSE(o.commit());
    // 1..20 again with 7 among them (already gone), 22 without a size, 24..30 as a run.
    for (std::uint64_t s = 1; s <= 20; ++s) o.acknowledge(s, 5, payload[s]);
    o.acknowledge(22);
    for (std::uint64_t s = 24; s <= 30; ++s) o.acknowledge(s, 5, payload[s]);
    ASSERT_FALSE(o.commit());
    EXPECT_EQ(o.stats().rows, 2u);  // 21 and 23
    EXPECT_EQ(o.stats().removed, 28u);
    EXPECT_EQ(o.stats().bytes, payload[21] + payload[23] + 2 * overhead);
    EXPECT_EQ(drain_seqs(o), (std::vector<std::uint64_t>{21, 23}));
    const auto s = inspect_outbox(dir.file("o.db"));
    EXPECT_EQ(s.rows, 2u);
}

// Readings of other priorities between them take no key in a priority's range: acknowledged
// numbers a few apart still go in one ranged delete, but only when the rows in the range are
// exactly the acknowledged ones (one not acknowledged stays; one gone is not counted twice).
TEST(Outbox, RangedDeletesSpanOtherPrioritiesButNeverTakeARowNotAcknowledged) {
    outpost::test::TempDir dir;
    Outbox o({.path = dir.file("o.db")});
    for (int i = 0; i < 40; ++i) o.stage(msg(i % 2 == 0 ? 3 : 6, "t", "x"));  // odd seqs at 3, even at 6
    ASSERT_FALSE(o.commit());
    const std::uint64_t per_row = o.stats().bytes / 40;
    // Priority 3: 1, 3, ..., 19 acknowledged (one range); 21 not; 23..39 acknowledged but 29 is
    // discarded first (gone before the run is deleted).
    o.discard(29, 3, "rejected_by_broker");
    ASSERT_FALSE(o.commit());
    for (std::uint64_t s = 1; s <= 19; s += 2) o.acknowledge(s, 3, 2);
    for (std::uint64_t s = 23; s <= 39; s += 2) o.acknowledge(s, 3, 2);
    // Priority 6: all of it but 40.
    for (std::uint64_t s = 2; s <= 38; s += 2) o.acknowledge(s, 6, 2);
    ASSERT_FALSE(o.commit());
    EXPECT_EQ(o.stats().rows, 2u);  // 21 and 40
    EXPECT_EQ(o.stats().removed, 38u);
    EXPECT_EQ(o.stats().bytes, 2 * per_row);
    EXPECT_EQ(drain_seqs(o), (std::vector<std::uint64_t>{40, 21}));
    EXPECT_EQ(inspect_outbox(dir.file("o.db")).rows_by_priority[3], 1u);
}

// Staged readings share their topic strings; the table is pruned to the topics still staged once
// it holds more than 65,536, while readings staged during a commit keep theirs.
TEST(Outbox, StagedTopicsSurviveThePruningOfTheTopicTable) {
    outpost::test::TempDir dir;
    Outbox o({.path = dir.file("o.db")});
    for (int i = 0; i < 70'000; ++i) o.stage(msg(5, "t/" + std::to_string(i), std::to_string(i)));
    ASSERT_TRUE(o.begin_commit());
    for (int i = 70'000; i < 70'100; ++i) o.stage(msg(5, "t/" + std::to_string(i % 70'005), std::to_string(i)));
    o.wait_for_commit();
    ASSERT_EQ(o.collect_commit(), std::error_code{});  // the table is pruned here
    for (int i = 70'100; i < 70'200; ++i) o.stage(msg(5, "t/" + std::to_string(i % 70'005), std::to_string(i)));
    ASSERT_FALSE(o.commit());
    DrainCursor cursor;
    std::vector<StoredMessage> out;
    while (o.fetch(cursor, 5000, out) > 0) {
    }
    ASSERT_EQ(out.size(), 70'200u);
    for (const auto& m : out) {
        const auto i = std::stoi(m.message.body);
        ASSERT_EQ(m.message.topic, "t/" + std::to_string(i % 70'005)) << m.seq;
        ASSERT_EQ(m.seq, static_cast<std::uint64_t>(i) + 1);
    }
}

TEST(Outbox, StagedMessagesAreCommittedAtShutdown) {
    outpost::test::TempDir dir;
    {
        Outbox o({.path = dir.file("o.db")});
        o.stage(msg(5, "t"));
    }
    EXPECT_EQ(inspect_outbox(dir.file("o.db")).rows, 1u);
}

TEST(Outbox, QuotaEvictsLowestPriorityOldestFirstAndRecordsTheLoss) {
    outpost::test::TempDir dir;
    testing::internal::CaptureStderr();
    Outbox o({.path = dir.file("o.db"), .max_rows = 1000});
    for (int i = 0; i < 600; ++i) o.stage(msg(2, "low"));   // seq 1..600
    for (int i = 0; i < 300; ++i) o.stage(msg(7, "high"));  // seq 601..900
    for (int i = 0; i < 200; ++i) o.stage(msg(0, "bulk"));  // seq 901..1100
    ASSERT_FALSE(o.commit());
    for (int i = 0; i < 150; ++i) o.stage(msg(2, "low"));   // seq 1101..1250
    ASSERT_FALSE(o.commit());
    const auto log = testing::internal::GetCapturedStderr();
    // Eviction works in large steps: down to 99% of the quota (990 rows), so 260 go: all 200 of
    // priority 0, then the 60 oldest of priority 2.
    EXPECT_EQ(o.stats().rows, 990u);
    EXPECT_EQ(o.stats().evicted[0], 200u);
    EXPECT_EQ(o.stats().evicted[2], 60u);
    const auto s = inspect_outbox(dir.file("o.db"));
    EXPECT_EQ(s.rows_by_priority[0], 0u);
    EXPECT_EQ(s.rows_by_priority[2], 690u);
    EXPECT_EQ(s.rows_by_priority[7], 300u);
    EXPECT_EQ(s.oldest_seq, 61u);
    std::int64_t lost = 0;
    for (const auto& l : s.losses) {
        EXPECT_EQ(l.reason, "evicted_quota");
        lost += l.count;
    }
    EXPECT_EQ(lost, 260);
    EXPECT_NE(log.find("outbox.evicted"), std::string::npos);
}

TEST(Outbox, AFullOutboxWritesOneEvictionRecordPerPriorityAndMinuteAndOneLogLineASecond) {
    outpost::test::TempDir dir;
    testing::internal::CaptureStderr();
    Outbox o({.path = dir.file("o.db"), .max_rows = 10'000});
    std::uint64_t staged = 0;
    for (int commit = 0; commit < 200; ++commit) {  // a saturated bus: 200 commits of 500 readings
        for (int i = 0; i < 500; ++i, ++staged) o.stage(msg(static_cast<std::uint8_t>(i % 2), "r"));
        ASSERT_FALSE(o.commit());
    }
    const auto log = testing::internal::GetCapturedStderr();
    EXPECT_LE(o.stats().rows, 10'000u);
    const auto evicted = o.stats().evicted[0] + o.stats().evicted[1];
    EXPECT_EQ(evicted + o.stats().rows, staged) << "every reading is stored or evicted on the record";
    const auto losses = o.losses(1000);
    EXPECT_EQ(losses.size(), 2u) << "one open record per priority within the minute";
    std::int64_t recorded = 0;
    for (const auto& l : losses) recorded += l.count;
    EXPECT_EQ(recorded, static_cast<std::int64_t>(evicted));
    std::size_t lines = 0;
    for (std::size_t at = log.find("outbox.evicted"); at != std::string::npos; at = log.find("outbox.evicted", at + 1)) ++lines;
    EXPECT_GE(lines, 1u);
    EXPECT_LE(lines, 3u) << "the test takes well under 3 s; at most one line a second";
}

TEST(Outbox, TheLossTableIsBoundedByFoldingTheOldestRecordsNeverByDroppingThem) {
    outpost::test::TempDir dir;
    testing::internal::CaptureStderr();
    Outbox o({.path = dir.file("o.db")});
    for (int i = 0; i < 24'000; ++i) o.stage(msg(5, "r"));
    ASSERT_FALSE(o.commit());
    // 12,000 separate records (every other seq refused by the broker, so none can be merged).
    for (std::uint64_t seq = 1; seq <= 24'000; seq += 2) {
        o.discard(seq, 5, "rejected_by_broker");
        if (seq % 2000 == 1) {
            ASSERT_FALSE(o.commit());
        }
    }
    ASSERT_FALSE(o.commit());
    testing::internal::GetCapturedStderr();
    const auto all = inspect_outbox(dir.file("o.db")).losses;
    EXPECT_LE(all.size(), 10'001u);
    std::int64_t total = 0;
    for (const auto& l : all) total += l.count;
    EXPECT_EQ(total, 12'000) << "folding keeps every count";
    EXPECT_EQ(all.front().first_seq, 1u);
}

TEST(Outbox, ByteQuotaIsEnforcedToo) {
    outpost::test::TempDir dir;
    testing::internal::CaptureStderr();
    Outbox o({.path = dir.file("o.db"), .max_rows = 1'000'000, .max_bytes = 1 << 20});
    const std::string body(1000, 'x');
    for (int i = 0; i < 2000; ++i) o.stage(msg(3, "t", body));
    ASSERT_FALSE(o.commit());
    testing::internal::GetCapturedStderr();
    EXPECT_LE(o.stats().bytes, 1u << 20);
    EXPECT_GT(o.stats().rows, 900u);
    EXPECT_EQ(o.stats().evicted[3] + o.stats().rows, 2000u);
}

TEST(Outbox, ADamagedFileIsQuarantinedAndAFreshOneCreated) {
    outpost::test::TempDir dir;
    const auto path = dir.file("o.db");
    outpost::test::write_file(path, std::string(8192, '\x5a'));  // not a database at all
    testing::internal::CaptureStderr();
    {
        Outbox o({.path = path});
        EXPECT_TRUE(o.stats().quarantined_at_start);
        o.stage(msg(5, "t"));
        ASSERT_FALSE(o.commit());
    }
    const auto log = testing::internal::GetCapturedStderr();
    EXPECT_NE(log.find("outbox.quarantined"), std::string::npos) << log;
    bool moved = false;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
        if (e.path().filename().string().rfind("o.db.corrupt-", 0) == 0) moved = true;
    }
    EXPECT_TRUE(moved);
    const auto s = inspect_outbox(path);
    EXPECT_EQ(s.rows, 1u);
    ASSERT_EQ(s.losses.size(), 1u);
    EXPECT_EQ(s.losses[0].reason, "quarantined");
}

TEST(Outbox, ACrashLeavesAFileThatIsCheckedAndKeptIfSound) {
    outpost::test::TempDir dir;
    const auto path = dir.file("o.db");
    const pid_t child = fork();
    if (child == 0) {
        // A gateway that dies without its destructor (as after kill -9).
        auto* o = new Outbox({.path = path});
        for (int i = 0; i < 100; ++i) o->stage(msg(5, "t"));
        _exit(o->commit() ? 1 : 0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_EQ(WEXITSTATUS(status), 0);
    testing::internal::CaptureStderr();
    Outbox o({.path = path});
    const auto log = testing::internal::GetCapturedStderr();
    EXPECT_NE(log.find("\"checked\":true"), std::string::npos) << log;
    EXPECT_FALSE(o.stats().quarantined_at_start);
    EXPECT_EQ(o.stats().rows, 100u);
}

TEST(Outbox, ACorruptPageFoundByTheCheckIsQuarantined) {
    outpost::test::TempDir dir;
    const auto path = dir.file("o.db");
    {
        Outbox o({.path = path});
        for (int i = 0; i < 3000; ++i) o.stage(msg(5, "topic/" + std::to_string(i), std::string(200, 'v')));
        ASSERT_FALSE(o.commit());
    }
    // Scribble over pages in the middle of the table and mark the shutdown unclean.
    {
        const auto page = page_size_of(path);
        scribble(path, static_cast<std::streamoff>(page * 10), page * 2);
    }
    outpost::test::run({"sqlite3", path, "UPDATE meta SET value=0 WHERE key='clean_shutdown'"},
                       dir.file("sqlite3.log"));
    testing::internal::CaptureStderr();
    Outbox o({.path = path});
    testing::internal::GetCapturedStderr();
    EXPECT_TRUE(o.stats().quarantined_at_start);
    // What still reads correctly is kept under its seq; the rest is on the record.
    EXPECT_GT(o.stats().rows, 0u);
    EXPECT_LT(o.stats().rows, 3000u);
    EXPECT_EQ(o.stats().salvaged, o.stats().rows);
    EXPECT_GE(o.stats().next_seq, 3001u) << "no seq is handed out twice";
    const auto losses = o.losses();
    ASSERT_EQ(losses.size(), 1u);
    EXPECT_EQ(losses[0].reason, "quarantined");
    EXPECT_EQ(losses[0].count, static_cast<std::int64_t>(3000 - o.stats().rows));
    EXPECT_EQ(losses[0].last_seq, 3000u);
}

TEST(Outbox, AnUnusablePathIsAStartUpError) {
    EXPECT_THROW(Outbox({.path = "/proc/outpost/o.db"}), OutboxError);
}

TEST(OutboxFullDisk, CommitsFailWithoutLosingWhatIsStoredAndDropsAreRecorded) {
    outpost::test::TempDir dir;
    const auto mnt = dir.file("small");
    std::filesystem::create_directory(mnt);
    // A small filesystem in this test process's own mount namespace: nothing on the host changes.
    if (std::string error; !outpost::test::mount_tmpfs(mnt, "2560k", error)) {
        if (std::getenv("OUTPOST_REQUIRE_MOUNT")) FAIL() << error;
        GTEST_SKIP() << "cannot mount a tmpfs here: " << error;
    }
    const outpost::test::MountGuard unmount{mnt};
    // Room to free later: a filler file takes part of the disk.
    outpost::test::write_file(mnt + "/filler", std::string(1024 * 1024, 'f'));

    testing::internal::CaptureStderr();
    Outbox o({.path = mnt + "/o.db", .max_staged = 500});
    const std::string body(200, 'b');
    std::uint64_t committed = 0;
    std::error_code failure;
    for (int batch = 0; batch < 1000 && !failure; ++batch) {
        for (int i = 0; i < 100; ++i) o.stage(msg(5, "t", body));
        failure = o.commit();
        if (!failure) committed = o.stats().rows;
    }
    ASSERT_TRUE(failure) << "the disk never filled up";
    EXPECT_TRUE(is_transient(failure)) << failure.message();
    EXPECT_GT(committed, 200u);
    EXPECT_EQ(o.stats().rows, committed) << "a failed commit changes nothing that is stored";
    // The disk stays full: staged messages are bounded, the oldest dropped and counted.
    for (int i = 0; i < 2000; ++i) o.stage(msg(5, "t", body));
    EXPECT_TRUE(o.commit());
    EXPECT_EQ(o.staged(), 500u);
    const auto dropped = o.stats().dropped_unwritable;
    EXPECT_GT(dropped, 0u);

    // Space comes back: everything staged is committed and the drops are on the record.
    std::filesystem::remove(mnt + "/filler");
    o.acknowledge(1);  // and acknowledgements still work
    const auto ec = o.commit();
    ASSERT_FALSE(ec) << ec.message();
    testing::internal::GetCapturedStderr();
    EXPECT_EQ(o.stats().rows, committed + 500 - 1);
    const auto losses = o.losses();
    ASSERT_FALSE(losses.empty());
    std::int64_t recorded = 0;
    for (const auto& l : losses) {
        EXPECT_EQ(l.reason, "dropped_unwritable");
        recorded += l.count;
    }
    EXPECT_EQ(recorded, static_cast<std::int64_t>(dropped));
    // Nothing committed before the disk filled was lost.
    DrainCursor cursor;
    std::vector<StoredMessage> out;
    o.fetch(cursor, 5, out);
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out.front().seq, 2u);
}
