// TTL per priority: a message older than its priority's TTL is never delivered; it is removed (by
// fetch() or by the sweep at commit, held priorities included) and recorded as lost, one coalesced
// record per priority and minute.
#include "outpost/outbox/outbox.hpp"

#include <gtest/gtest.h>
#include <sys/mount.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "outpost/core/wall_clock.hpp"
#include "private_mounts.hpp"
#include "process.hpp"

using namespace outpost::outbox;
using namespace std::chrono_literals;
using outpost::core::Message;
using outpost::core::StoredMessage;
using Seqs = std::vector<std::uint64_t>;

namespace {

// A reading taken `age` ago.
Message reading(int priority, std::chrono::seconds age = 0s) {
    Message m;
    m.topic = "site/p" + std::to_string(priority);
    m.body = "\"value\":1";
    m.priority = static_cast<std::uint8_t>(priority);
    m.created_ns = outpost::core::wall_clock_ns() - std::chrono::nanoseconds(age).count();
    return m;
}

// Stages one reading per (priority, age).
void stage(Outbox& o, std::initializer_list<std::pair<int, std::chrono::seconds>> readings) {
    for (const auto& [priority, age] : readings) o.stage(reading(priority, age));
}

OutboxOptions with_ttl(const std::string& path, std::initializer_list<std::pair<int, std::chrono::seconds>> ttls) {
    OutboxOptions o{.path = path};
    for (const auto& [p, t] : ttls) o.ttl[static_cast<std::size_t>(p)] = t;
    return o;
}

// Everything the cursor yields, fetch after fetch, until it no longer moves.
Seqs drain(Outbox& o, DrainCursor cursor = {}, std::size_t batch = 3) {
    std::vector<StoredMessage> out;
    for (;;) {
        const auto before = cursor.after;
        if (o.fetch(cursor, batch, out) == 0 && cursor.after == before) break;
    }
    Seqs seqs;
    for (const auto& m : out) seqs.push_back(m.seq);
    return seqs;
}

// What an "expired_ttl" loss record says.
struct Expiry {
    int priority;
    std::int64_t count;
    std::uint64_t first_seq, last_seq;
    bool operator==(const Expiry&) const = default;
};
void PrintTo(const Expiry& e, std::ostream* os) {
    *os << "{p" << e.priority << " count " << e.count << " seq " << e.first_seq << ".." << e.last_seq << "}";
}
using Expiries = std::vector<Expiry>;

// The store's expiry records, by priority.
Expiries expiry_records(const Outbox& o) {
    Expiries out;
    for (const auto& l : o.losses(1000)) {
        if (l.reason == "expired_ttl") out.push_back({l.priority, l.count, l.first_seq, l.last_seq});
    }
    std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.priority < b.priority; });
    return out;
}

struct Quiet {
    Quiet() { testing::internal::CaptureStderr(); }
    ~Quiet() { testing::internal::GetCapturedStderr(); }
};

// An hour's TTL and readings a bit older than that: expired, but within the minute the sweep
// leaves to fetch(), so these tests see fetch() at work.
constexpr auto hour = 3600s;
constexpr auto just_expired = 3630s;

}  // namespace

TEST(OutboxTtl, TheConfiguredTtlIsAvailablePerPriority) {
    outpost::test::TempDir dir;
    Outbox o(with_ttl(dir.file("o.db"), {{5, hour}, {0, 60s}}));
    EXPECT_EQ(o.ttl(5), std::optional(hour));
    EXPECT_EQ(o.ttl(0), std::optional(60s));
    EXPECT_EQ(o.ttl(9), std::nullopt);
    EXPECT_EQ(o.ttl(-1), std::nullopt);
    EXPECT_EQ(o.ttl(priority_levels), std::nullopt);
}

TEST(OutboxTtl, ExpiredRowsAreNeverFetchedAndAreRemovedAtTheNextCommit) {
    outpost::test::TempDir dir;
    const Quiet quiet;
    Outbox o(with_ttl(dir.file("o.db"), {{5, hour}}));
    // 1 expired, 2 live, 3 expired behind a live row, 4 of a priority without TTL, 5 live, 6 expired
    // and acknowledged before it is met.
    stage(o, {{5, just_expired}, {5, 0s}, {5, just_expired}, {7, just_expired}, {5, 0s}, {5, just_expired}});
    ASSERT_FALSE(o.commit());
    EXPECT_EQ(o.stats().rows, 6u);
    o.acknowledge(6);

    EXPECT_EQ(drain(o), (Seqs{4, 2, 5}));
    EXPECT_EQ(o.pending_acks(), 3u) << "one acknowledgement and two expired rows wait for the commit";
    EXPECT_EQ(o.stats().expired[5], 0u) << "counted when removed";
    EXPECT_EQ(drain(o), (Seqs{4, 2, 5})) << "never fetched, even after a reset, before the commit";

    ASSERT_FALSE(o.commit());
    EXPECT_EQ(o.stats().rows, 3u);
    EXPECT_EQ(o.stats().expired[5], 2u);
    EXPECT_EQ(o.stats().removed, 1u) << "the acknowledged one is delivered, not expired";
    EXPECT_EQ(o.pending_acks(), 0u);
    EXPECT_EQ(expiry_records(o), (Expiries{{5, 2, 1, 3}}));
    const auto s = inspect_outbox(dir.file("o.db"));
    EXPECT_EQ(s.rows_by_priority[5], 2u);
    EXPECT_EQ(s.rows_by_priority[7], 1u);
    EXPECT_EQ(drain(o), (Seqs{4, 2, 5}));
}

TEST(OutboxTtl, AnAcknowledgementsOnlyCommitRemovesAndRecordsExpiredRowsToo) {
    outpost::test::TempDir dir;
    const Quiet quiet;
    Outbox o(with_ttl(dir.file("o.db"), {{6, hour}}));
    stage(o, {{6, just_expired}, {6, 0s}, {6, just_expired}});  // 1, 3 expired
    ASSERT_FALSE(o.commit());
    EXPECT_EQ(drain(o), (Seqs{2}));
    o.acknowledge(2);
    o.stage(reading(6));  // 4: stays staged, as inserts do while they back off
    ASSERT_FALSE(o.commit_acknowledged());
    EXPECT_EQ(o.staged(), 1u);
    EXPECT_EQ(o.stats().rows, 0u);
    EXPECT_EQ(o.stats().removed, 1u);
    EXPECT_EQ(o.stats().expired[6], 2u);
    EXPECT_EQ(expiry_records(o), (Expiries{{6, 2, 1, 3}}));
}

TEST(OutboxTtl, TheSweepRemovesExpiredRowsOfHeldPrioritiesAndLeavesPrioritiesWithoutTtl) {
    outpost::test::TempDir dir;
    const Quiet quiet;
    Outbox o(with_ttl(dir.file("o.db"), {{1, 60s}, {5, hour}}));
    // 1..3 expired, 4 live, 5 expired behind it (the sweep stops at 4), 6 of a priority without TTL,
    // 7 within its TTL.
    stage(o, {{1, 2h}, {1, 2h}, {1, 2h}, {1, 0s}, {1, 2h}, {0, 2h}, {5, 50min}});
    // The commit that stores them sweeps: nothing fetches priority 1 (held below).
    ASSERT_FALSE(o.commit());
    EXPECT_EQ(o.stats().rows, 4u);
    EXPECT_EQ(o.stats().expired[1], 3u);
    EXPECT_EQ(expiry_records(o), (Expiries{{1, 3, 1, 3}}));

    DrainCursor cursor;
    cursor.lowest_priority = 2;
    EXPECT_EQ(drain(o, cursor), (Seqs{7}));
    cursor.lowest_priority = 0;
    EXPECT_EQ(drain(o, cursor), (Seqs{7, 4, 6})) << "the straggler is caught by fetch()";
    ASSERT_FALSE(o.commit());
    EXPECT_EQ(o.stats().rows, 3u);
    EXPECT_EQ(o.stats().expired[1], 4u);
    EXPECT_EQ(o.stats().expired[0], 0u);
    EXPECT_EQ(expiry_records(o), (Expiries{{1, 4, 1, 5}})) << "the sweep's record and fetch()'s are one in a minute";
}

TEST(OutboxTtl, ExpiriesOverManyCommitsMakeOneRecordPerPriorityAndFewLogLines) {
    outpost::test::TempDir dir;
    testing::internal::CaptureStderr();
    Expiries records;
    OutboxStats stats;
    {
        Outbox o(with_ttl(dir.file("o.db"), {{1, 60s}, {3, 60s}}));
        for (int round = 0; round < 5; ++round) {
            for (int i = 0; i < 10; ++i) o.stage(reading(1, 2h));  // 20r+1 .. 20r+10
            for (int i = 0; i < 10; ++i) o.stage(reading(3, 2h));  // 20r+11 .. 20r+20
            ASSERT_FALSE(o.commit());  // the first one sweeps; the others are too soon after it
            drain(o);                  // ... and fetch() finds the rest
            ASSERT_FALSE(o.commit());
        }
        records = expiry_records(o);
        stats = o.stats();
    }
    const auto log = testing::internal::GetCapturedStderr();
    EXPECT_EQ(stats.rows, 0u);
    EXPECT_EQ(stats.expired[1], 50u);
    EXPECT_EQ(stats.expired[3], 50u);
    EXPECT_EQ(records, (Expiries{{1, 50, 1, 90}, {3, 50, 11, 100}}));
    std::size_t lines = 0;
    for (auto at = log.find("\"outbox.expired\""); at != std::string::npos;
         at = log.find("\"outbox.expired\"", at + 1)) {
        ++lines;
    }
    EXPECT_GE(lines, 1u);
    EXPECT_LE(lines, 3u) << "at most one line a second; the test takes well under 3 s";
    EXPECT_NE(log.find("\"by_priority\":{\"1\":10,\"3\":10}"), std::string::npos) << log;
}

TEST(OutboxTtl, TheSweepWaitsTheExpiryGraceAndRecordsCoalesceOverTheLossWindow) {
    outpost::test::TempDir dir;
    const Quiet quiet;
    auto options = with_ttl(dir.file("o.db"), {{1, 60s}});
    options.expiry_grace = 1h;
    options.loss_window = 1s;
    Outbox o(options);
    // 1: expired long ago, past the grace: swept. 2: expired 29 minutes ago, within the grace: left for fetch().
    stage(o, {{1, 3h}, {1, 30min}});
    ASSERT_FALSE(o.commit());
    EXPECT_EQ(o.stats().rows, 1u);
    EXPECT_EQ(o.stats().expired[1], 1u);
    EXPECT_EQ(expiry_records(o), (Expiries{{1, 1, 1, 1}}));
    // Past the loss window the next expiry starts a record of its own.
    std::this_thread::sleep_for(1100ms);
    EXPECT_EQ(drain(o), Seqs{}) << "fetch() takes the one the sweep left, as expired";
    ASSERT_FALSE(o.commit());
    EXPECT_EQ(o.stats().rows, 0u);
    EXPECT_EQ(expiry_records(o), (Expiries{{1, 1, 2, 2}, {1, 1, 1, 1}})) << "two records, newest first";
}

TEST(OutboxTtl, ExpiredRowsGoBeforeTheQuotaEvictsLiveOnes) {
    outpost::test::TempDir dir;
    const Quiet quiet;
    auto options = with_ttl(dir.file("o.db"), {{5, hour}});
    options.max_rows = 100;
    Outbox o(options);
    for (int i = 0; i < 50; ++i) o.stage(reading(5, 2h));
    for (int i = 0; i < 60; ++i) o.stage(reading(3));
    ASSERT_FALSE(o.commit());
    EXPECT_EQ(o.stats().rows, 60u);
    EXPECT_EQ(o.stats().expired[5], 50u);
    EXPECT_EQ(o.stats().evicted[3], 0u) << "110 rows over a quota of 100, but 50 of them had expired";
}

TEST(OutboxTtl, AReopenedStoreKeepsItsRowsAndSweepsWhatHasExpired) {
    outpost::test::TempDir dir;
    const auto path = dir.file("o.db");
    const Quiet quiet;
    {
        Outbox o({.path = path});                        // no TTL yet
        stage(o, {{4, 2h}, {4, 2h}, {4, 0s}, {6, 2h}});  // 1..4
        ASSERT_FALSE(o.commit());
    }
    {
        Outbox o(with_ttl(path, {{4, hour}}));
        EXPECT_EQ(o.stats().rows, 4u) << "every row survives the restart";
        o.stage(reading(4));  // 5
        ASSERT_FALSE(o.commit());
        EXPECT_EQ(o.stats().rows, 3u);
        EXPECT_EQ(o.stats().expired[4], 2u);
        EXPECT_EQ(expiry_records(o), (Expiries{{4, 2, 1, 2}}));
    }
    Outbox o(with_ttl(path, {{4, hour}}));
    EXPECT_EQ(o.stats().rows, 3u);
    EXPECT_EQ(o.stats().next_seq, 6u);
    EXPECT_EQ(drain(o), (Seqs{4, 3, 5}));
    EXPECT_EQ(expiry_records(o), (Expiries{{4, 2, 1, 2}})) << "the record is kept too";
}

TEST(OutboxTtl, TheSweepIsBoundedPerCommitAndFetchTakesTheRest) {
    outpost::test::TempDir dir;
    const auto path = dir.file("o.db");
    const Quiet quiet;
    {
        Outbox o({.path = path});
        for (int i = 0; i < 25'000; ++i) o.stage(reading(2, 2h));  // 1..25000
        o.stage(reading(2));                                       // 25001
        ASSERT_FALSE(o.commit());
    }
    Outbox o(with_ttl(path, {{2, hour}}));
    o.stage(reading(8));  // 25002
    ASSERT_FALSE(o.commit());
    EXPECT_EQ(o.stats().expired[2], 20'000u) << "at most 20,000 rows a commit";
    EXPECT_EQ(o.stats().rows, 5'002u);
    EXPECT_EQ(drain(o, {}, 64), (Seqs{25'002, 25'001}));
    ASSERT_FALSE(o.commit());
    EXPECT_EQ(o.stats().expired[2], 25'000u);
    EXPECT_EQ(o.stats().rows, 2u);
    EXPECT_EQ(expiry_records(o), (Expiries{{2, 25'000, 1, 25'000}}));
}

TEST(OutboxTtl, StagedReadingsExpireInMemoryOnlyModeAndAreRecordedOnceTheStoreIsBack) {
    outpost::test::TempDir dir;
    const auto sub = dir.file("ob");
    const auto path = sub + "/o.db";
    {
        Outbox o({.path = path});
        stage(o, {{5, 0s}, {5, 0s}});  // 1, 2
        ASSERT_FALSE(o.commit());
    }
    if (std::string error; !outpost::test::make_read_only(sub, error)) {
        if (std::getenv("OUTPOST_REQUIRE_MOUNT")) FAIL() << error;
        GTEST_SKIP() << error;
    }
    const outpost::test::MountGuard unmount{sub};
    const Quiet quiet;
    Outbox o(with_ttl(path, {{5, hour}}));
    ASSERT_TRUE(o.stats().memory_only);
    stage(o, {{5, 2h}, {5, 0s}, {5, 2h}});  // 3..5
    EXPECT_EQ(drain(o), (Seqs{1, 2, 4}));
    EXPECT_EQ(o.stats().expired[5], 2u) << "dropped from memory at once";
    EXPECT_EQ(o.staged(), 1u);

    ASSERT_EQ(::umount2(sub.c_str(), MNT_DETACH), 0) << std::strerror(errno);
    o.maintain(std::chrono::steady_clock::now() + 11s);
    ASSERT_FALSE(o.stats().memory_only);
    ASSERT_FALSE(o.commit());
    EXPECT_EQ(o.stats().rows, 3u);
    EXPECT_EQ(expiry_records(o), (Expiries{{5, 2, 3, 5}}));
}
