// The gateway's status on the cloud side, through the outpost binary and a real mosquitto: the
// retained birth message, the last will when the gateway is killed, health messages, and loss
// records published as messages.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>

#include "broker.hpp"
#include "process.hpp"
#include "site_files.hpp"

using namespace outpost::test;
using namespace std::chrono_literals;

namespace {

// The last retained status a fresh subscriber is given, or null when none arrives.
nlohmann::json retained_status(const TempDir& dir, int port, const std::string& name) {
    const auto out = dir.file(name + ".out");
    std::remove(out.c_str());
    run({"mosquitto_sub", "-h", "127.0.0.1", "-p", std::to_string(port), "-t", "outpost/test-gw/status", "-C", "1",
         "-W", "3"},
        out);
    return nlohmann::json::parse(read_file(out), nullptr, false);
}

std::vector<nlohmann::json> on_topic(const Subscriber& sub, const std::string& topic) {
    std::vector<nlohmann::json> out;
    for (const auto& r : sub.messages()) {
        if (r.topic == topic) out.push_back(r.payload);
    }
    return out;
}

}  // namespace

TEST(Status, BirthIsRetainedTheWillSaysOfflineWhenKilledAndHealthFlows) {
    TempDir dir;
    Broker broker(dir);
    Subscriber sub(dir, broker.port(), "outpost/#");
    const auto site = write_site(dir, "site.json", broker.port(), "", "\"max\"", R"(, "health_interval_s": 1)");
    {
        Process gw({outpost_binary(), "run", "--config", site}, dir.file("run1.log"));
        ASSERT_TRUE(wait_until([&] { return on_topic(sub, "outpost/test-gw/health").size() >= 2; }, 20s))
            << read_file(dir.file("run1.log"));
        const auto birth = retained_status(dir, broker.port(), "status1");
        ASSERT_TRUE(birth.is_object()) << read_file(dir.file("status1.out"));
        EXPECT_EQ(birth["state"], "online");
        EXPECT_EQ(birth["gw"], "test-gw");
        EXPECT_EQ(birth["config_digest"].get<std::string>().size(), 16u);
        EXPECT_TRUE(birth.contains("version"));
        EXPECT_TRUE(birth.contains("started"));
        const auto health = on_topic(sub, "outpost/test-gw/health").back();
        EXPECT_EQ(health["gw"], "test-gw");
        EXPECT_TRUE(health["connected"].get<bool>());
        EXPECT_TRUE(health.contains("outbox_rows"));
        gw.signal(SIGKILL);
        EXPECT_EQ(gw.wait(5s), 128 + SIGKILL);
    }
    // The kernel closes the killed process's socket: the broker publishes the will at once.
    ASSERT_TRUE(wait_until(
        [&] {
            const auto s = on_topic(sub, "outpost/test-gw/status");
            return !s.empty() && s.back()["state"] == "offline";
        },
        10s));
    EXPECT_EQ(retained_status(dir, broker.port(), "status2")["state"], "offline");
    EXPECT_EQ(on_topic(sub, "outpost/test-gw/status").back()["reason"], "connection lost");
    {
        Process gw({outpost_binary(), "run", "--config", site}, dir.file("run2.log"));
        ASSERT_TRUE(wait_until([&] { return retained_status(dir, broker.port(), "status3")["state"] == "online"; }, 20s));
        // A clean stop says so before it disconnects.
        gw.signal(SIGTERM);
        EXPECT_EQ(gw.wait(10s), 0);
    }
    const auto last = retained_status(dir, broker.port(), "status4");
    EXPECT_EQ(last["state"], "offline");
    EXPECT_EQ(last["reason"], "stopped");
}

TEST(Status, LossRecordsArePublishedAsMessagesWithTheirOwnSequenceNumbers) {
    TempDir dir;
    Broker broker(dir);
    Subscriber sub(dir, broker.port(), "#");
    ASSERT_EQ(run({"/usr/bin/python3", source_dir() + "/tools/gen_bms_log.py", "--fast", "--frames", "1000", "--out",
                   dir.file("a.log"), "--expected", dir.file("a.jsonl")},
                  dir.file("gen.log")),
              0);
    // A broker that refuses nothing, and an outbox whose quota forces evictions: loss records.
    const auto site = write_site(dir, "site.json", broker.port(), dir.file("a.log"));
    auto text = read_file(site);
    text.replace(text.find("\"commit_interval_ms\": 50"), std::string("\"commit_interval_ms\": 50").size(),
                 "\"commit_interval_ms\": 50, \"max_rows\": 1000");
    write_file(site, text);
    // Broker down while ingesting: the quota is reached and the oldest readings are evicted.
    broker.stop();
    ASSERT_EQ(run({outpost_binary(), "run", "--config", site, "--exit-after", "ingest"}, dir.file("run1.log"), 60s), 0)
        << read_file(dir.file("run1.log"));
    broker.start();
    Subscriber sub2(dir, broker.port(), "#", "sub2");
    // Eviction records settle for two minutes before they are reported; rewrite their time so the
    // second run reports them at once, as it would two minutes later.
    ASSERT_EQ(run({"sqlite3", dir.file("outbox.db"), "UPDATE losses SET at_ns = at_ns - 180000000000"},
                  dir.file("sqlite.log")),
              0)
        << read_file(dir.file("sqlite.log"));
    ASSERT_EQ(run({outpost_binary(), "run", "--config", site, "--exit-after", "drain"}, dir.file("run2.log"), 60s), 0)
        << read_file(dir.file("run2.log"));
    ASSERT_TRUE(wait_until([&] { return !on_topic(sub2, "outpost/test-gw/loss").empty(); }, 10s));
    const auto losses = on_topic(sub2, "outpost/test-gw/loss");
    std::set<std::uint64_t> delivered;
    for (const auto& r : sub2.messages()) {
        if (r.payload.is_object() && r.payload.contains("seq")) delivered.insert(r.payload["seq"].get<std::uint64_t>());
    }
    // Every reading that never arrived lies in a reported loss range.
    std::uint64_t evicted = 0;
    for (const auto& l : losses) {
        EXPECT_EQ(l["gw"], "test-gw");
        EXPECT_TRUE(l.contains("seq"));
        EXPECT_EQ(l["loss"]["reason"], "evicted_quota");
        evicted += l["loss"]["count"].get<std::uint64_t>();
    }
    const auto last_seq = *delivered.rbegin();
    std::uint64_t missing = 0;
    for (std::uint64_t s = 1; s <= last_seq; ++s) {
        if (delivered.count(s)) continue;
        ++missing;
        const bool explained = std::any_of(losses.begin(), losses.end(), [&](const auto& l) {
            return s >= l["loss"]["first_seq"].template get<std::uint64_t>() &&
                   s <= l["loss"]["last_seq"].template get<std::uint64_t>();
        });
        EXPECT_TRUE(explained) << "seq " << s << " is missing and no loss record covers it";
        if (!explained) break;
    }
    EXPECT_GT(missing, 0u);
    EXPECT_EQ(missing, evicted);
}
