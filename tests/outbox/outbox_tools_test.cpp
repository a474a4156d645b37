#include "outpost/outbox/outbox_tools.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <map>

#include "outpost/outbox/outbox.hpp"
#include "outpost/outbox/outbox_error.hpp"
#include "process.hpp"

using namespace outpost::outbox;
using outpost::core::Message;

namespace {

constexpr std::int64_t second = 1'000'000'000;

Message msg(std::uint8_t priority, std::int64_t created_ns, const std::string& body = "\"value\":1") {
    Message m;
    m.topic = "site/p" + std::to_string(priority);
    m.body = body;
    m.priority = priority;
    m.created_ns = created_ns;
    return m;
}

struct Row {
    std::uint64_t seq;
    int priority;
};

std::vector<Row> rows(const std::string& path, const MessageFilter& f = {}) {
    std::vector<Row> out;
    read_messages(path, f, [&](const PeekedMessage& m) {
        out.push_back({m.stored.seq, m.stored.message.priority});
        return true;
    });
    return out;
}

std::vector<std::uint64_t> seqs(const std::vector<Row>& r) {
    std::vector<std::uint64_t> out;
    for (const auto& x : r) out.push_back(x.seq);
    return out;
}

// 12 messages: seq 1..12, priorities cycling 2, 5, 9; created 100 s apart from t0.
const std::int64_t t0 = 1'700'000'000 * second;
void fill(const std::string& path) {
    Outbox o({.path = path});
    const std::uint8_t prios[] = {2, 5, 9};
    for (int i = 0; i < 12; ++i) o.stage(msg(prios[i % 3], t0 + i * 100 * second));
    ASSERT_FALSE(o.commit());
}

}  // namespace

TEST(OutboxTools, ReadsInDeliveryOrderWithFilters) {
    outpost::test::TempDir dir;
    const auto path = dir.file("o.db");
    fill(path);
    EXPECT_EQ(seqs(rows(path)), (std::vector<std::uint64_t>{3, 6, 9, 12, 2, 5, 8, 11, 1, 4, 7, 10}));
    EXPECT_EQ(seqs(rows(path, {.priority = 5})), (std::vector<std::uint64_t>{2, 5, 8, 11}));
    EXPECT_EQ(seqs(rows(path, {.from_seq = 4, .to_seq = 8})), (std::vector<std::uint64_t>{6, 5, 8, 4, 7}));
    EXPECT_EQ(seqs(rows(path, {.created_before_ns = t0 + 250 * second})), (std::vector<std::uint64_t>{3, 2, 1}));
    // The callback stops the walk: peek's limit.
    std::vector<std::uint64_t> first;
    read_messages(path, {}, [&](const PeekedMessage& m) {
        first.push_back(m.stored.seq);
        return first.size() < 2;
    });
    EXPECT_EQ(first, (std::vector<std::uint64_t>{3, 6}));
    // What a row says comes back whole, with its epoch and a good checksum.
    read_messages(path, {.from_seq = 1, .to_seq = 1}, [&](const PeekedMessage& m) {
        EXPECT_EQ(m.stored.message.topic, "site/p2");
        EXPECT_EQ(m.stored.message.body, "\"value\":1");
        EXPECT_EQ(m.stored.message.created_ns, t0);
        EXPECT_NE(m.stored.epoch, 0u);
        EXPECT_EQ(m.check, RowCheck::ok);
        return true;
    });
    EXPECT_THROW(rows(dir.file("missing.db")), OutboxError);
}

TEST(OutboxTools, ReportsARowThatNoLongerMatchesItsChecksum) {
    outpost::test::TempDir dir;
    const auto path = dir.file("o.db");
    fill(path);
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "UPDATE messages SET body='\"value\":2' WHERE seq=5", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
    std::map<std::uint64_t, RowCheck> checks;
    read_messages(path, {}, [&](const PeekedMessage& m) {
        checks[m.stored.seq] = m.check;
        return true;
    });
    EXPECT_EQ(checks.at(5), RowCheck::mismatch);
    EXPECT_EQ(checks.at(4), RowCheck::ok);
}

TEST(OutboxTools, PurgeRefusesWhileAGatewayHoldsTheStoreAndPeekStillWorks) {
    outpost::test::TempDir dir;
    const auto path = dir.file("o.db");
    fill(path);
    Outbox running({.path = path});  // the gateway
    running.stage(msg(9, t0));
    ASSERT_FALSE(running.commit());
    EXPECT_EQ(rows(path).size(), 13u) << "peek sees what the running gateway committed";
    try {
        purge_messages(path, {.priority = 2}, false);
        FAIL() << "purge ran behind a running gateway's back";
    } catch (const OutboxError& e) {
        EXPECT_EQ(e.sqlite_code(), SQLITE_BUSY);
        EXPECT_NE(std::string(e.what()).find("in use by another process"), std::string::npos) << e.what();
    }
    EXPECT_EQ(rows(path).size(), 13u) << "a refused purge changes nothing";
    // A dry run only reads: allowed.
    EXPECT_EQ(purge_messages(path, {.priority = 2}, true).removed, 4u);
    EXPECT_EQ(rows(path).size(), 13u);
    // A second gateway on the same store is refused too.
    EXPECT_THROW(Outbox({.path = path}), OutboxError);
}

TEST(OutboxTools, PurgeWritesLossRecordsThatMatchExactlyWhatItRemoved) {
    outpost::test::TempDir dir;
    const auto path = dir.file("o.db");
    fill(path);
    const auto before = rows(path);
    const MessageFilter filter{.from_seq = 3, .to_seq = 10, .created_before_ns = t0 + 750 * second};  // seq 3..8
    const auto expected = rows(path, filter);
    const auto result = purge_messages(path, filter, false);
    EXPECT_EQ(result.removed, expected.size());
    EXPECT_EQ(result.removed, 6u);
    // Per priority: the count, the lowest and the highest seq of exactly the removed rows.
    std::map<int, std::vector<std::uint64_t>> removed;
    for (const auto& r : expected) removed[r.priority].push_back(r.seq);
    ASSERT_EQ(result.records.size(), removed.size());
    for (const auto& rec : result.records) {
        const auto& s = removed.at(rec.priority);
        EXPECT_EQ(rec.reason, "purged");
        EXPECT_EQ(rec.count, static_cast<std::int64_t>(s.size()));
        EXPECT_EQ(rec.first_seq, s.front());
        EXPECT_EQ(rec.last_seq, s.back());
    }
    // The store holds the rest, and the same records.
    EXPECT_EQ(rows(path).size(), before.size() - 6);
    EXPECT_TRUE(rows(path, filter).empty());
    const auto summary = inspect_outbox(path);
    std::int64_t recorded = 0;
    for (const auto& l : summary.losses) {
        if (l.reason == "purged") recorded += l.count;
    }
    EXPECT_EQ(recorded, 6);
    EXPECT_EQ(summary.rows, 6u) << "the stored row count follows the purge";
    // The gateway opens it again and carries on: its counts match, numbering continues.
    Outbox o({.path = path});
    EXPECT_EQ(o.stats().rows, 6u);
    EXPECT_EQ(o.stats().next_seq, 13u);
    std::uint64_t bytes = 0;
    read_messages(path, {}, [&](const PeekedMessage& m) {
        bytes += m.stored.message.topic.size() + m.stored.message.body.size() + 40;
        return true;
    });
    EXPECT_EQ(o.stats().bytes, bytes);
}

TEST(OutboxTools, DryRunAndEmptyPurgesChangeNothing) {
    outpost::test::TempDir dir;
    const auto path = dir.file("o.db");
    fill(path);
    const auto dry = purge_messages(path, {.priority = 9}, true);
    EXPECT_EQ(dry.removed, 4u);
    ASSERT_EQ(dry.records.size(), 1u);
    EXPECT_EQ(dry.records[0].first_seq, 3u);
    EXPECT_EQ(dry.records[0].last_seq, 12u);
    EXPECT_EQ(rows(path).size(), 12u);
    const auto none = purge_messages(path, {.priority = 0}, false);
    EXPECT_EQ(none.removed, 0u);
    EXPECT_TRUE(none.records.empty());
    for (const auto& l : inspect_outbox(path).losses) EXPECT_NE(l.reason, "purged");
}
