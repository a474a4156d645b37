// `outpost outbox peek|export|purge` on a live outbox: a real gateway holds it (its broker down, so
// everything stays stored), the tools read it while it runs, purge refuses until it stops, then
// removes exactly what it says (loss records) and the gateway delivers exactly the rest.
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <map>
#include <set>

#include "broker.hpp"
#include "site_files.hpp"

using namespace outpost::test;
using namespace std::chrono_literals;

namespace {

std::vector<nlohmann::json> json_lines(const std::string& path, const char* required_key) {
    std::vector<nlohmann::json> out;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        const auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_object() && j.contains(required_key)) out.push_back(j);  // log lines left out
    }
    return out;
}

std::size_t line_count(const std::string& path) {
    std::ifstream in(path);
    std::size_t n = 0;
    std::string line;
    while (std::getline(in, line)) n += !line.empty();
    return n;
}

nlohmann::json outbox_stats(const TempDir& dir, const std::string& site) {
    const auto out = dir.file("stats.out");
    std::filesystem::remove(out);
    if (run({outpost_binary(), "outbox", "stats", "--config", site, "--log-level", "error"}, out) != 0) return nullptr;
    return nlohmann::json::parse(read_file(out), nullptr, false);
}

}  // namespace

TEST(OutboxTools, PeekExportAndPurgeOnALiveOutbox) {
    TempDir dir;
    generate_log(dir, dir.file("bms.log"), dir.file("expected.jsonl"), "20");
    const auto readings = line_count(dir.file("expected.jsonl"));
    ASSERT_GT(readings, 200u);
    const int broker_port = free_port();  // nothing listens yet: everything stays in the outbox
    const auto site = write_site(dir, "site.json", broker_port, dir.file("bms.log"));

    Process gateway({outpost_binary(), "run", "--config", site}, dir.file("gateway.log"));
    ASSERT_TRUE(wait_until(
        [&] {
            const auto s = outbox_stats(dir, site);
            return s.is_object() && s["rows"] == readings;
        },
        60s))
        << read_file(dir.file("gateway.log"));

    // peek while the gateway runs: the next 5 in delivery order.
    ASSERT_EQ(run({outpost_binary(), "outbox", "peek", "--config", site, "--limit", "5"}, dir.file("peek.out")), 0);
    const auto peeked = json_lines(dir.file("peek.out"), "seq");
    ASSERT_EQ(peeked.size(), 5u) << read_file(dir.file("peek.out"));
    // export while it runs: every message, in the same order.
    ASSERT_EQ(run({outpost_binary(), "outbox", "export", "--config", site, "--output", dir.file("all.jsonl")},
                  dir.file("export.out")),
              0)
        << read_file(dir.file("export.out"));
    const auto all = json_lines(dir.file("all.jsonl"), "seq");
    ASSERT_EQ(all.size(), readings);
    for (std::size_t i = 0; i < peeked.size(); ++i) EXPECT_EQ(peeked[i], all[i]);
    std::set<std::uint64_t> seen;
    for (std::size_t i = 0; i < all.size(); ++i) {
        EXPECT_EQ(all[i]["checksum"], "ok");
        EXPECT_TRUE(seen.insert(all[i]["seq"].get<std::uint64_t>()).second);
        if (i > 0) {
            const int p0 = all[i - 1]["priority"], p1 = all[i]["priority"];
            EXPECT_TRUE(p0 > p1 || (p0 == p1 && all[i - 1]["seq"] < all[i]["seq"])) << "delivery order at " << i;
        }
    }
    EXPECT_EQ(*seen.begin(), 1u);
    EXPECT_EQ(*seen.rbegin(), readings);

    // purge refuses while the gateway holds the store, and changes nothing.
    EXPECT_EQ(run({outpost_binary(), "outbox", "purge", "--config", site, "--priority", "2"}, dir.file("refused.out")), 4);
    EXPECT_NE(read_file(dir.file("refused.out")).find("in use by another process (pid " + std::to_string(gateway.pid())),
              std::string::npos)
        << read_file(dir.file("refused.out"));
    EXPECT_EQ(outbox_stats(dir, site)["rows"], readings);

    gateway.signal(SIGTERM);
    ASSERT_EQ(gateway.wait(30s), 0) << read_file(dir.file("gateway.log"));

    // Purge priority 2, plus a seq range across priorities.
    std::vector<std::uint64_t> priority2;
    std::set<std::uint64_t> purged;
    const std::uint64_t lo = 40, hi = 59;
    for (const auto& m : all) {
        const auto seq = m["seq"].get<std::uint64_t>();
        if (m["priority"] == 2) {
            priority2.push_back(seq);
            purged.insert(seq);
        }
    }
    ASSERT_FALSE(priority2.empty());
    ASSERT_EQ(run({outpost_binary(), "outbox", "purge", "--config", site, "--priority", "2", "--log-level", "error"},
                  dir.file("purge1.out")),
              0)
        << read_file(dir.file("purge1.out"));
    const auto first = nlohmann::json::parse(read_file(dir.file("purge1.out")));
    EXPECT_EQ(first["removed"], priority2.size());
    ASSERT_EQ(first["loss_records"].size(), 1u);
    EXPECT_EQ(first["loss_records"][0], (nlohmann::json{{"reason", "purged"}, {"priority", 2}, {"count", priority2.size()},
                                                        {"first_seq", priority2.front()}, {"last_seq", priority2.back()}}));
    // A seq range, tried first as a dry run.
    ASSERT_EQ(run({outpost_binary(), "outbox", "purge", "--config", site, "--from-seq", std::to_string(lo), "--to-seq",
                   std::to_string(hi), "--dry-run", "--log-level", "error"},
                  dir.file("dry.out")),
              0);
    ASSERT_EQ(run({outpost_binary(), "outbox", "purge", "--config", site, "--from-seq", std::to_string(lo), "--to-seq",
                   std::to_string(hi), "--log-level", "error"},
                  dir.file("purge2.out")),
              0);
    const auto dry = nlohmann::json::parse(read_file(dir.file("dry.out")));
    const auto second = nlohmann::json::parse(read_file(dir.file("purge2.out")));
    EXPECT_EQ(dry["loss_records"], second["loss_records"]);
    EXPECT_EQ(dry["removed"], second["removed"]);
    std::map<int, std::vector<std::uint64_t>> in_range;
    for (const auto& m : all) {
        const auto seq = m["seq"].get<std::uint64_t>();
        if (seq >= lo && seq <= hi && !purged.count(seq)) in_range[m["priority"].get<int>()].push_back(seq);
    }
    std::size_t range_count = 0;
    for (const auto& [p, s] : in_range) range_count += s.size();
    EXPECT_EQ(second["removed"], range_count);
    ASSERT_EQ(second["loss_records"].size(), in_range.size());
    for (const auto& r : second["loss_records"]) {
        const auto& s = in_range.at(r["priority"].get<int>());
        EXPECT_EQ(r["reason"], "purged");
        EXPECT_EQ(r["count"], s.size());
        EXPECT_EQ(r["first_seq"], s.front());
        EXPECT_EQ(r["last_seq"], s.back());
        for (auto seq : s) purged.insert(seq);
    }

    // The store's own loss records say the same: every purged message counted once.
    const auto stats = outbox_stats(dir, site);
    std::int64_t recorded = 0;
    for (const auto& l : stats["losses"]) {
        if (l["reason"] == "purged") recorded += l["count"].get<std::int64_t>();
    }
    EXPECT_EQ(static_cast<std::size_t>(recorded), purged.size());
    EXPECT_EQ(stats["rows"], readings - purged.size());

    // The gateway starts again on the purged store and delivers exactly the rest.
    Broker broker(dir, broker_port);
    Subscriber sub(dir, broker.port(), "site/#");
    ASSERT_EQ(run({outpost_binary(), "run", "--config", site, "--exit-after", "drain"}, dir.file("drain.log"), 60s), 0)
        << read_file(dir.file("drain.log"));
    const auto rest = readings - purged.size();
    ASSERT_TRUE(sub.wait_for_count(rest, 20s)) << sub.messages().size() << " of " << rest;
    std::this_thread::sleep_for(300ms);
    std::set<std::uint64_t> delivered;
    for (const auto& m : sub.messages()) EXPECT_TRUE(delivered.insert(m.payload["seq"].get<std::uint64_t>()).second);
    EXPECT_EQ(delivered.size(), rest);
    for (auto seq : purged) EXPECT_FALSE(delivered.count(seq)) << "purged seq " << seq << " was delivered";
}

TEST(OutboxTools, PurgeNeedsAFilterAndValidValues) {
    TempDir dir;
    const auto site = write_site(dir, "site.json", free_port(), "");
    EXPECT_EQ(run({outpost_binary(), "outbox", "purge", "--config", site}, dir.file("a")), 2);
    EXPECT_NE(read_file(dir.file("a")).find("needs --priority"), std::string::npos);
    EXPECT_EQ(run({outpost_binary(), "outbox", "purge", "--config", site, "--priority", "10"}, dir.file("b")), 2);
    EXPECT_EQ(run({outpost_binary(), "outbox", "purge", "--config", site, "--older-than", "3 days"}, dir.file("c")), 2);
    EXPECT_EQ(run({outpost_binary(), "outbox", "peek", "--config", site, "--from-seq", "9", "--to-seq", "3"}, dir.file("d")), 2);
    EXPECT_EQ(run({outpost_binary(), "outbox", "frob", "--config", site}, dir.file("e")), 2);
    // No outbox yet: a clear error, nothing created.
    EXPECT_EQ(run({outpost_binary(), "outbox", "peek", "--config", site}, dir.file("f")), 4);
    EXPECT_NE(read_file(dir.file("f")).find("no outbox at"), std::string::npos) << read_file(dir.file("f"));
    EXPECT_FALSE(std::filesystem::exists(dir.file("outbox.db")));
}
