// Power-cut and outage behaviour of the real binary: readings accepted while the broker is away
// survive kill -9 of the gateway, and all of them arrive once the broker is back; duplicates
// (possible after a kill mid-drain) carry the same sequence number and the same content.
#include <gtest/gtest.h>

#include <csignal>
#include <map>
#include <set>
#include <thread>

#include "broker.hpp"
#include "site_files.hpp"

using namespace outpost::test;
using namespace std::chrono_literals;

namespace {

std::size_t count_lines(const std::string& path) {
    const auto text = read_file(path);
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

nlohmann::json outbox_stats(const std::string& site, const TempDir& dir) {
    const auto out = dir.file("stats.json");
    std::remove(out.c_str());
    if (run({outpost_binary(), "outbox", "stats", "--config", site}, out) != 0) return nullptr;
    return nlohmann::json::parse(read_file(out), nullptr, false);
}

}  // namespace

TEST(Restart, NothingAcceptedIsLostAcrossBrokerOutageAndKillMinus9) {
    TempDir dir;
    Broker broker(dir, 0, true);
    Subscriber sub(dir, broker.port(), "site/#", "sub", true);

    // 1. Normal operation.
    generate_log(dir, dir.file("a.log"), dir.file("a.jsonl"), "20");
    const std::size_t a = count_lines(dir.file("a.jsonl"));
    const auto site_a = write_site(dir, "a.json", broker.port(), dir.file("a.log"));
    ASSERT_EQ(run({outpost_binary(), "run", "--config", site_a, "--exit-after", "drain"}, dir.file("run1.log"), 30s), 0)
        << read_file(dir.file("run1.log"));

    // 2. The broker goes away; more frames come in; the gateway is killed with the backlog on disk.
    broker.stop();
    ASSERT_EQ(run({"/usr/bin/python3", source_dir() + "/tools/gen_bms_log.py", "--fast", "--frames", "6000", "--out",
                   dir.file("b.log"), "--expected", dir.file("b.jsonl")},
                  dir.file("gen.log")),
              0);
    const std::size_t b = count_lines(dir.file("b.jsonl"));
    const auto site_b = write_site(dir, "b.json", broker.port(), dir.file("b.log"));
    {
        Process gw({outpost_binary(), "run", "--config", site_b}, dir.file("run2.log"));
        ASSERT_TRUE(wait_until(
            [&] {
                const auto s = outbox_stats(site_b, dir);
                return s.is_object() && s["rows"] == b;
            },
            20s))
            << read_file(dir.file("run2.log"));
        gw.signal(SIGKILL);
        EXPECT_EQ(gw.wait(5s), 128 + SIGKILL);
    }

    // 3. The gateway restarts (no more input) and the broker comes back. Kill the gateway once more
    //    in the middle of the drain, then let a third run finish it.
    const auto site_c = write_site(dir, "c.json", broker.port(), "", "\"max\"", R"(, "inflight_window": 4)");
    {
        Process gw({outpost_binary(), "run", "--config", site_c}, dir.file("run3.log"));
        std::this_thread::sleep_for(500ms);
        broker.start();
        ASSERT_TRUE(wait_until([&] { return sub.line_count() >= a + 3000; }, 30s)) << read_file(dir.file("run3.log"));
        gw.signal(SIGKILL);
        gw.wait(5s);
    }
    // What the kill can cost, from the contract: a row is deleted only after the broker acknowledged
    // it, so the rows still stored are the only ones that can arrive twice, and of those exactly the
    // ones the subscriber already has. Wait for the broker to hand over what it acknowledged.
    for (std::size_t last = 0, n = sub.line_count(); n != last; n = sub.line_count()) {
        last = n;
        std::this_thread::sleep_for(1s);
    }
    std::size_t delivered_before = 0;
    {
        std::set<std::uint64_t> seqs;
        for (const auto& r : sub.messages()) seqs.insert(r.payload["seq"].get<std::uint64_t>());
        delivered_before = seqs.size();
    }
    const auto stored_after_kill = outbox_stats(site_c, dir)["rows"].get<std::size_t>();
    ASSERT_GE(stored_after_kill + delivered_before, a + b) << "every reading is delivered or still stored";
    const std::size_t duplicate_bound = stored_after_kill + delivered_before - (a + b);
    ASSERT_EQ(run({outpost_binary(), "run", "--config", site_c, "--exit-after", "drain"}, dir.file("run4.log"), 60s), 0)
        << read_file(dir.file("run4.log"));
    const auto total = a + b;
    ASSERT_TRUE(wait_until(
        [&] {
            std::set<std::uint64_t> seqs;
            for (const auto& r : sub.messages()) seqs.insert(r.payload["seq"].get<std::uint64_t>());
            return seqs.size() >= total;
        },
        30s));

    std::map<std::uint64_t, std::string> first_seen;
    std::size_t duplicates = 0;
    for (const auto& r : sub.messages()) {
        const auto seq = r.payload["seq"].get<std::uint64_t>();
        const auto text = r.topic + " " + r.payload.dump();
        const auto [it, fresh] = first_seen.emplace(seq, text);
        if (!fresh) {
            ++duplicates;
            EXPECT_EQ(it->second, text) << "a duplicate must be the same reading";
        }
    }
    ASSERT_EQ(first_seen.size(), total);
    EXPECT_EQ(first_seen.begin()->first, 1u);
    EXPECT_EQ(first_seen.rbegin()->first, total);
    // At least once, with duplicates only from the kill mid-drain: a duplicate is a row that was
    // still stored when it came (deleted rows are never sent again). The finer estimate (stored and
    // already delivered) is reported beside the count: the subscriber's side can add a few.
    // The broker may add its own: mosquitto 2.0.11 was seen (on the wire) sending the last two
    // messages of a drain twice to the subscriber on one connection after the gateway was killed,
    // while the gateway had sent each once. At most its in-flight messages toward the subscriber
    // (max_inflight_messages, 20 by default) can be sent again that way.
    constexpr std::size_t broker_inflight_to_subscriber = 20;
    EXPECT_LE(duplicates, stored_after_kill + broker_inflight_to_subscriber) << duplicates;
    RecordProperty("duplicates_expected", static_cast<int>(duplicate_bound));
    RecordProperty("stored_after_kill", static_cast<int>(stored_after_kill));
    const auto s = outbox_stats(site_c, dir);
    EXPECT_EQ(s["rows"], 0);
    EXPECT_TRUE(s["losses"].empty());
    RecordProperty("duplicates", static_cast<int>(duplicates));
}
