// Reload without a restart, during continuous ingest (a replay at 5x) with the broker connected:
// a changed mapping (a signal on a new topic, another held to a slower rate) takes effect from the
// sequence number the gateway reports (`reload.done` first_seq), the broker connection stays (one
// connect in the gateway's counters and in mosquitto's own log), and every reading is delivered
// (audit by seq against the stop summary). A broken mapping then changes nothing: every problem
// is logged with its file and JSON path, and readings keep following the configuration in force.
#include <csignal>

#include <fstream>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "broker.hpp"
#include "service_support.hpp"
#include "site_files.hpp"

using namespace outpost::test;
using namespace std::chrono_literals;

namespace {

nlohmann::json demo_mapping() {
    return nlohmann::json::parse(read_file(source_dir() + "/configs/demo/bms_mapping.json"));
}

nlohmann::json& signal(nlohmann::json& mapping, const std::string& name) {
    for (auto& m : mapping["can"]) {
        for (auto& s : m["signals"]) {
            if (s["name"] == name) return s;
        }
    }
    throw std::runtime_error("no signal " + name);
}

std::size_t count_lines(const std::string& file, const std::string& needle) {
    std::ifstream in(file);
    std::size_t n = 0;
    for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos ? 1 : 0;
    return n;
}

}  // namespace

TEST(Reload, MappingChangesTakeEffectWithoutReconnectOrLoss) {
    TempDir dir;
    Broker broker(dir);
    Subscriber sub(dir, broker.port(), "site/#");
    generate_log(dir, dir.file("bms.log"), dir.file("expected.jsonl"), "120");
    const auto mapping_file = dir.file("mapping.json");
    write_file(mapping_file, demo_mapping().dump(2));
    const auto site = write_service_site(dir, "site.json", broker.port(), dir.file("bms.log"), mapping_file);
    const auto log = dir.file("run.log");
    Process gw({outpost_binary(), "run", "--config", site}, log);
    ASSERT_TRUE(wait_until([&] { return sub.line_count() >= 150; }, 30s)) << read_file(log);

    // 1. A valid change, through `outpost reload` (which finds the gateway by its pid file).
    auto changed = demo_mapping();
    signal(changed, "pack_current")["topic"] = "site/{gateway}/reloaded/{signal}";
    constexpr int slow_ms = 2000;
    signal(changed, "pack_voltage")["rate"] = {{"min_interval_ms", slow_ms}};
    write_file(mapping_file, changed.dump(2));
    ASSERT_EQ(run({outpost_binary(), "reload", "--config", site}, dir.file("reload1.log")), 0)
        << read_file(dir.file("reload1.log"));
    ASSERT_TRUE(wait_until([&] { return !log_events(log, "reload.done").empty(); }, 10s)) << read_file(log);
    const auto done = log_events(log, "reload.done").front();
    const auto first_seq = done["first_seq"].get<std::uint64_t>();
    EXPECT_TRUE(done["buses_stopped"].empty()) << "the replay's settings did not change: " << done.dump();
    EXPECT_TRUE(done["needs_restart"].empty()) << done.dump();
    const auto reload_at = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(5s);

    // 2. A broken change, by SIGHUP: two mistakes in the mapping, one in the site file.
    auto broken = changed;
    signal(broken, "soc")["length"] = 0;
    signal(broken, "temp_min")["byte_order"] = "sideways";
    write_file(mapping_file, broken.dump(2));
    auto site_text = nlohmann::json::parse(read_file(site));
    site_text["stats_interval_s"] = 0;
    write_file(site, site_text.dump(2));
    gw.signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] { return !log_events(log, "reload.refused").empty(); }, 10s)) << read_file(log);
    const auto problems = log_events(log, "reload.problem");
    std::set<std::string> where;
    for (const auto& p : problems) where.insert(p["file"].get<std::string>() + ":" + p["path"].get<std::string>());
    EXPECT_EQ(log_events(log, "reload.refused").front()["problems"], problems.size());
    EXPECT_GE(problems.size(), 3u) << read_file(log);
    EXPECT_TRUE(where.count(mapping_file + ":/can/0/signals/2/length")) << nlohmann::json(where).dump();
    EXPECT_TRUE(where.count(mapping_file + ":/can/2/signals/0/byte_order")) << nlohmann::json(where).dump();
    EXPECT_TRUE(where.count(site + ":/stats_interval_s")) << nlohmann::json(where).dump();
    // `outpost reload` refuses it too, listing the problems, and sends nothing.
    EXPECT_EQ(run({outpost_binary(), "reload", "--config", site}, dir.file("reload2.log")), 3);
    EXPECT_NE(read_file(dir.file("reload2.log")).find("/can/0/signals/2/length"), std::string::npos)
        << read_file(dir.file("reload2.log"));
    const auto count_at_refusal = sub.line_count();
    ASSERT_TRUE(wait_until([&] { return sub.line_count() >= count_at_refusal + 100; }, 20s))
        << "ingest goes on under the previous configuration";

    gw.signal(SIGTERM);
    ASSERT_EQ(gw.wait(30s), 0) << read_file(log);
    const auto stop = log_events(log, "gateway.stop").front();
    EXPECT_EQ(stop["reloads"], 1);
    EXPECT_EQ(stop["reloads_refused"], 1);
    EXPECT_EQ(stop["connects"], 1) << "the broker connection survived both reloads";
    EXPECT_EQ(stop["staged"], 0);
    EXPECT_EQ(stop["dropped_at_shutdown"], 0);
    const auto readings = stop["readings"].get<std::uint64_t>();
    EXPECT_EQ(stop["committed"].get<std::uint64_t>(), readings);

    // mosquitto's own account: one connection from the gateway's client id in the whole run.
    std::string mosquitto_log;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
        const auto name = e.path().filename().string();
        if (name.rfind("mosquitto-", 0) == 0 && e.path().extension() == ".log") mosquitto_log = e.path().string();
    }
    ASSERT_FALSE(mosquitto_log.empty());
    EXPECT_EQ(count_lines(mosquitto_log, " as outpost-test-gw "), 1u) << read_file(mosquitto_log);

    // Deliver what was still stored, then audit.
    const auto drain_site = write_service_site(dir, "drain.json", broker.port(), "", source_dir() + "/configs/demo/bms_mapping.json");
    ASSERT_EQ(run({outpost_binary(), "run", "--config", drain_site, "--exit-after", "drain"}, dir.file("drain.log"), 60s), 0)
        << read_file(dir.file("drain.log"));
    ASSERT_TRUE(wait_until(
        [&] {
            std::set<std::uint64_t> seqs;
            for (const auto& r : sub.messages()) seqs.insert(r.payload["seq"].get<std::uint64_t>());
            return seqs.size() >= readings;
        },
        20s));
    std::this_thread::sleep_for(300ms);
    const auto got = sub.messages();
    std::map<std::uint64_t, const Received*> by_seq;
    std::size_t duplicates = 0;
    for (const auto& r : got) {
        ASSERT_EQ(r.payload["gw"], "test-gw");
        const auto [it, fresh] = by_seq.emplace(r.payload["seq"].get<std::uint64_t>(), &r);
        if (!fresh) {
            ++duplicates;
            EXPECT_EQ(it->second->topic + it->second->payload.dump(), r.topic + r.payload.dump());
        }
    }
    // The uplink's stop disconnects without waiting for the PUBACKs of its window: those rows stay
    // stored and go again in the drain run. Only rows still stored at the stop can arrive twice.
    EXPECT_LE(duplicates, stop["outbox_rows"].get<std::size_t>()) << stop.dump();
    ASSERT_EQ(by_seq.size(), readings) << "every reading delivered";
    EXPECT_EQ(by_seq.begin()->first, 1u);
    EXPECT_EQ(by_seq.rbegin()->first, readings);

    // The new topic from first_seq on, the old one before; pack_voltage at most once per slow_ms
    // of replayed time after the reload (the replay runs at 5x: slow_ms covers 5 x slow_ms of log).
    std::size_t old_topic_after = 0, new_topic_after = 0, new_topic_before = 0, voltage_after = 0;
    for (const auto& [seq, r] : by_seq) {
        const bool after = seq >= first_seq;
        if (r->topic == "site/test-gw/reloaded/pack_current") (after ? new_topic_after : new_topic_before)++;
        if (r->topic == "site/test-gw/bms/pack/pack_current" && after) ++old_topic_after;
        if (r->topic == "site/test-gw/bms/pack/pack_voltage" && after) ++voltage_after;
    }
    EXPECT_EQ(new_topic_before, 0u);
    EXPECT_EQ(old_topic_after, 0u);
    EXPECT_GT(new_topic_after, 10u);
    // Wall time from the reload to the stop bounds how many slow_ms windows there were (+1 for the
    // first reading after the reload, which rate control lets through at once).
    const double window_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - reload_at).count();
    EXPECT_LE(voltage_after, static_cast<std::size_t>(window_s * 1000 / slow_ms) + 1) << window_s;
    EXPECT_GE(voltage_after, 1u);

    RecordProperty("readings", static_cast<int>(readings));
    RecordProperty("duplicates", static_cast<int>(duplicates));
    RecordProperty("first_seq_after_reload", static_cast<int>(first_seq));
    RecordProperty("pack_voltage_after_reload", static_cast<int>(voltage_after));
}
