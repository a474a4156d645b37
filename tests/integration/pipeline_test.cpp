// The whole pipeline as an integrator runs it: the outpost binary replays a candump log through
// the demo mapping into its outbox and on to a real mosquitto; an independent subscriber
// (mosquitto_sub) checks that every expected reading arrived once, with its value, topic and sequence.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include "broker.hpp"
#include "site_files.hpp"

using namespace outpost::test;
using namespace std::chrono_literals;

namespace {

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
    std::vector<nlohmann::json> out;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty()) out.push_back(nlohmann::json::parse(line));
    }
    return out;
}

std::string expected_topic(const nlohmann::json& e) {
    if (e["message"] == "imd") return "site/test-gw/safety/" + e["signal"].get<std::string>();
    return "site/test-gw/bms/" + e["message"].get<std::string>() + "/" + e["signal"].get<std::string>();
}

}  // namespace

TEST(Pipeline, EveryReadingArrivesOnceWithItsValueTopicAndSequence) {
    TempDir dir;
    Broker broker(dir);
    Subscriber sub(dir, broker.port(), "site/#");
    generate_log(dir, dir.file("bms.log"), dir.file("expected.jsonl"), "120");
    const auto expected = read_jsonl(dir.file("expected.jsonl"));
    ASSERT_GT(expected.size(), 1500u);
    const auto site = write_site(dir, "site.json", broker.port(), dir.file("bms.log"));

    const int rc = run({outpost_binary(), "run", "--config", site, "--exit-after", "drain"}, dir.file("outpost.log"), 60s);
    ASSERT_EQ(rc, 0) << read_file(dir.file("outpost.log"));
    ASSERT_TRUE(sub.wait_for_count(expected.size(), 20s)) << sub.messages().size() << " of " << expected.size();
    std::this_thread::sleep_for(300ms);  // anything extra (a duplicate) would show up now

    const auto got = sub.messages();
    ASSERT_EQ(got.size(), expected.size());
    std::map<std::uint64_t, const Received*> by_seq;
    for (const auto& r : got) {
        ASSERT_TRUE(r.payload.is_object()) << r.topic;
        EXPECT_EQ(r.payload["gw"], "test-gw");
        const auto seq = r.payload["seq"].get<std::uint64_t>();
        EXPECT_TRUE(by_seq.emplace(seq, &r).second) << "seq " << seq << " arrived twice";
    }
    // The gateway numbers readings in the order it decodes them: seq n is expected reading n.
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const auto it = by_seq.find(i + 1);
        ASSERT_NE(it, by_seq.end()) << "seq " << i + 1 << " missing";
        const auto& r = *it->second;
        EXPECT_EQ(r.topic, expected_topic(expected[i])) << "seq " << i + 1;
        EXPECT_NEAR(r.payload["value"].get<double>(), expected[i]["value"].get<double>(), 1e-9)
            << "seq " << i + 1 << " " << r.topic;
        EXPECT_TRUE(r.payload.contains("ts"));
    }
    const auto log = read_file(dir.file("outpost.log"));
    EXPECT_NE(log.find("\"unmapped_frames\":33"), std::string::npos) << "the 0x7DF frames are counted";
}

TEST(Pipeline, ABrokerThatIsDownAtStartOnlyDelaysDelivery) {
    TempDir dir;
    // The subscriber's session outlives the broker, so it misses nothing of what comes later.
    Broker broker(dir, 0, true);
    const int port = broker.port();
    Subscriber sub(dir, port, "site/#", "sub", true);
    broker.stop();
    generate_log(dir, dir.file("bms.log"), dir.file("expected.jsonl"), "20");
    const auto expected = read_jsonl(dir.file("expected.jsonl"));
    const auto site = write_site(dir, "site.json", port, dir.file("bms.log"));
    Process gateway({outpost_binary(), "run", "--config", site, "--exit-after", "drain"}, dir.file("outpost.log"));
    ASSERT_TRUE(wait_until([&] { return read_file(dir.file("outpost.log")).find("replay.done") != std::string::npos; }, 10s));
    std::this_thread::sleep_for(1s);  // several failed connection attempts
    broker.start();
    ASSERT_EQ(gateway.wait(30s), 0) << read_file(dir.file("outpost.log"));
    ASSERT_TRUE(sub.wait_for_count(expected.size(), 10s));
    std::set<std::uint64_t> seqs;
    for (const auto& r : sub.messages()) seqs.insert(r.payload["seq"].get<std::uint64_t>());
    EXPECT_EQ(seqs.size(), expected.size());
    EXPECT_EQ(*seqs.rbegin(), expected.size());
    EXPECT_NE(read_file(dir.file("outpost.log")).find("uplink.connect_failed"), std::string::npos);
}
