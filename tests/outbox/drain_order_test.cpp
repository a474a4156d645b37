// The drain cursor's order: higher priorities first, and within a priority the live readings
// (numbered from live_from on) before the backlog, each phase FIFO; held priorities never come out.
#include "outpost/outbox/outbox.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

#include "private_mounts.hpp"
#include "process.hpp"

using namespace outpost::outbox;
using outpost::core::Message;
using outpost::core::StoredMessage;
using Seqs = std::vector<std::uint64_t>;

namespace {

Message msg(std::uint8_t priority) {
    Message m;
    m.topic = "site/p" + std::to_string(priority);
    m.body = "\"value\":1";
    m.priority = priority;
    m.created_ns = 42;
    return m;
}

// Stages one message per priority in `priorities` (seqs follow on) and commits them.
void add(Outbox& o, const std::vector<std::uint8_t>& priorities) {
    for (const auto p : priorities) o.stage(msg(p));
    ASSERT_FALSE(o.commit());
}

// Everything `cursor` still yields, fetched `batch` at a time.
Seqs drain(Outbox& o, DrainCursor& cursor, std::size_t batch) {
    Seqs seqs;
    std::vector<StoredMessage> out;
    while (o.fetch(cursor, batch, out) > 0) {
    }
    for (const auto& m : out) seqs.push_back(m.seq);
    return seqs;
}

struct Quiet {
    Quiet() { testing::internal::CaptureStderr(); }
    ~Quiet() { testing::internal::GetCapturedStderr(); }
};

Seqs fetch(Outbox& o, DrainCursor& cursor, std::size_t max) {
    std::vector<StoredMessage> out;
    o.fetch(cursor, max, out);
    Seqs seqs;
    for (const auto& m : out) seqs.push_back(m.seq);
    return seqs;
}

}  // namespace

TEST(DrainOrder, LiveReadingsOfAPriorityComeBeforeItsBacklogEachFifo) {
    outpost::test::TempDir dir;
    Outbox o({.path = dir.file("o.db")});
    add(o, {5, 5, 5, 5});  // seq 1..4: the backlog
    DrainCursor cursor;
    cursor.live_from = o.stats().next_seq;
    ASSERT_EQ(cursor.live_from, 5u);
    add(o, {5, 5, 5});  // seq 5..7: live
    EXPECT_EQ(drain(o, cursor, 100), (Seqs{5, 6, 7, 1, 2, 3, 4}));
}

TEST(DrainOrder, PriorityStillComesFirstAcrossPhases) {
    outpost::test::TempDir dir;
    Outbox o({.path = dir.file("o.db")});
    add(o, {7, 3, 5, 7, 5});  // backlog: p7 {1,4}, p3 {2}, p5 {3,5}
    DrainCursor cursor;
    cursor.live_from = 6;
    add(o, {3, 5, 9, 3, 7});  // live: p3 {6,9}, p5 {7}, p9 {8}, p7 {10}
    // p9 live; p7 live, backlog; p5 live before backlog p5; live p3 after backlog p7 and p5.
    EXPECT_EQ(drain(o, cursor, 100), (Seqs{8, 10, 1, 4, 7, 3, 5, 6, 9, 2}));
}

TEST(DrainOrder, TheCursorResumesAcrossFetchesOfAnySize) {
    outpost::test::TempDir dir;
    Outbox o({.path = dir.file("o.db")});
    add(o, {7, 3, 5, 7, 5, 5, 3});  // backlog 1..7
    add(o, {3, 5, 9, 3, 7, 5, 5});  // live 8..14
    // p9: 10; p7: 12 | 1 4; p5: 9 13 14 | 3 5 6; p3: 8 11 | 2 7 (live | backlog)
    const Seqs order{10, 12, 1, 4, 9, 13, 14, 3, 5, 6, 8, 11, 2, 7};
    for (const std::size_t batch : {1u, 2u, 3u, 4u, 5u, 100u}) {
        DrainCursor cursor;
        cursor.live_from = 8;
        EXPECT_EQ(drain(o, cursor, batch), order) << "batch " << batch;
    }
}

TEST(DrainOrder, ReadingsCommittedDuringTheBacklogOvertakeItsRest) {
    outpost::test::TempDir dir;
    Outbox o({.path = dir.file("o.db")});
    add(o, {5, 5, 5, 5});  // backlog 1..4
    DrainCursor cursor;
    cursor.live_from = 5;
    EXPECT_EQ(fetch(o, cursor, 2), (Seqs{1, 2})) << "no live reading yet: the backlog goes out";
    add(o, {5, 5});  // live 5, 6
    EXPECT_EQ(fetch(o, cursor, 3), (Seqs{5, 6, 3}));
    add(o, {5});  // live 7
    EXPECT_EQ(fetch(o, cursor, 3), (Seqs{7, 4}));
    EXPECT_EQ(fetch(o, cursor, 3), Seqs{});
    EXPECT_EQ(cursor.after[5], 7u);
    EXPECT_EQ(cursor.backlog_after[5], 4u);
}

TEST(DrainOrder, ResetStartsOverAndKeepsLiveFromAndTheHeldPriorities) {
    outpost::test::TempDir dir;
    Outbox o({.path = dir.file("o.db")});
    add(o, {5, 2, 5, 2});
    add(o, {5, 2, 5, 2});  // live from 5
    DrainCursor cursor;
    cursor.live_from = 5;
    cursor.lowest_priority = 3;
    EXPECT_EQ(drain(o, cursor, 2), (Seqs{5, 7, 1, 3}));
    cursor.reset();
    EXPECT_EQ(cursor.live_from, 5u);
    EXPECT_EQ(cursor.lowest_priority, 3);
    for (int p = 0; p < priority_levels; ++p) {
        EXPECT_EQ(cursor.after[static_cast<std::size_t>(p)], 0u);
        EXPECT_EQ(cursor.backlog_after[static_cast<std::size_t>(p)], 0u);
    }
    EXPECT_EQ(drain(o, cursor, 3), (Seqs{5, 7, 1, 3})) << "everything again, in the same order";
}

TEST(DrainOrder, LiveFromAtTheFirstSeqIsTheSingleFifo) {
    outpost::test::TempDir dir;
    Outbox o({.path = dir.file("o.db")});
    add(o, {5, 5, 9, 1, 5, 9, 0});
    DrainCursor fifo;
    DrainCursor all_live;
    all_live.live_from = 1;
    const Seqs expected{3, 6, 1, 2, 5, 4, 7};
    EXPECT_EQ(drain(o, fifo, 2), expected);
    EXPECT_EQ(drain(o, all_live, 2), expected);
}

TEST(DrainOrder, HeldPrioritiesAreNotFetchedUntilReleased) {
    outpost::test::TempDir dir;
    Outbox o({.path = dir.file("o.db")});
    add(o, {1, 4, 2, 3, 0, 4, 2});
    DrainCursor cursor;
    cursor.lowest_priority = 3;
    EXPECT_EQ(drain(o, cursor, 2), (Seqs{2, 6, 4}));
    EXPECT_EQ(fetch(o, cursor, 10), Seqs{}) << "priorities 0..2 are held";
    cursor.lowest_priority = 10;
    add(o, {9});
    EXPECT_EQ(fetch(o, cursor, 10), Seqs{}) << "every priority held";
    cursor.lowest_priority = 0;
    EXPECT_EQ(drain(o, cursor, 2), (Seqs{8, 3, 7, 1, 5})) << "released: they come out, in order";
}

TEST(DrainOrder, AcknowledgedRowsAreSkippedInBothPhases) {
    outpost::test::TempDir dir;
    Outbox o({.path = dir.file("o.db")});
    add(o, {5, 5, 5, 5, 5});  // backlog 1..5
    add(o, {5, 5, 5, 5, 5});  // live 6..10
    for (const std::uint64_t seq : {2u, 3u, 6u, 9u}) o.acknowledge(seq);
    DrainCursor cursor;
    cursor.live_from = 6;
    EXPECT_EQ(drain(o, cursor, 2), (Seqs{7, 8, 10, 1, 4, 5}));
    ASSERT_FALSE(o.commit());  // deleted now: the same again without them
    EXPECT_EQ(o.stats().rows, 6u);
    cursor.reset();
    EXPECT_EQ(drain(o, cursor, 2), (Seqs{7, 8, 10, 1, 4, 5}));
}

TEST(DrainOrder, SkippedRowsDoNotLetALowerPriorityOvertake) {
    outpost::test::TempDir dir;
    Outbox o({.path = dir.file("o.db")});
    add(o, {5, 5, 5, 5, 5, 5, 4});
    for (const std::uint64_t seq : {1u, 2u, 3u}) o.acknowledge(seq);
    DrainCursor cursor;
    // The first three rows read are acknowledged: the fetch reads on in priority 5.
    EXPECT_EQ(fetch(o, cursor, 3), (Seqs{4, 5, 6}));
    EXPECT_EQ(fetch(o, cursor, 3), (Seqs{7}));
}

TEST(DrainOrder, ALongRunOfSkippedRowsEndsACallEarlyAndTheNextGoesOn) {
    outpost::test::TempDir dir;
    Outbox o({.path = dir.file("o.db")});
    std::vector<std::uint8_t> prios(10'000, 5);
    prios.push_back(4);
    add(o, prios);
    for (std::uint64_t seq = 1; seq <= 9'998; ++seq) o.acknowledge(seq);
    DrainCursor cursor;
    std::vector<StoredMessage> out;
    std::size_t calls = 0;
    for (std::size_t n = 1; (n > 0 || cursor.after[5] < 10'000) && calls < 100; ++calls) n = o.fetch(cursor, 8, out);
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0].seq, 9'999u);
    EXPECT_EQ(out[1].seq, 10'000u);
    EXPECT_EQ(out[2].seq, 10'001u);
    EXPECT_GE(calls, 3u) << "each call passes over a bounded number of rows";
}

TEST(DrainOrder, MemoryOnlyModeKeepsTheSameOrderForStagedReadings) {
    outpost::test::TempDir dir;
    const auto sub = dir.file("ob");
    const auto path = sub + "/o.db";
    {
        Outbox o({.path = path});
        add(o, {5, 5, 2});  // stored: p5 {1,2}, p2 {3}
    }
    if (std::string error; !outpost::test::make_read_only(sub, error)) {
        if (std::getenv("OUTPOST_REQUIRE_MOUNT")) FAIL() << error;
        GTEST_SKIP() << error;
    }
    const outpost::test::MountGuard unmount{sub};
    const Quiet quiet;
    Outbox o({.path = path});
    ASSERT_TRUE(o.stats().memory_only);
    for (const int p : {5, 2, 5, 5, 2}) o.stage(msg(static_cast<std::uint8_t>(p)));  // in memory: p5 {4,6,7}, p2 {5,8}
    DrainCursor cursor;
    cursor.live_from = 6;
    // p5: live 6 7, then the backlog (stored 1 2, then staged 4); p2: live 8, then stored 3, staged 5.
    EXPECT_EQ(drain(o, cursor, 2), (Seqs{6, 7, 1, 2, 4, 8, 3, 5}));
    cursor.reset();
    cursor.lowest_priority = 3;
    EXPECT_EQ(drain(o, cursor, 100), (Seqs{6, 7, 1, 2, 4}));
}
