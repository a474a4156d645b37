// `outpost audit` end to end: a real mosquitto, the outpost binary replaying a candump log, and the
// audit subscribed at the same time (libmosquitto) beside a mosquitto_sub capture with receive
// times. The audit's counts must match what the gateway sent, exactly; a capture with one line
// taken out must show that seq as an unexplained gap (exit 7).
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <set>
#include <sstream>

#include "broker.hpp"
#include "site_files.hpp"

using namespace outpost::test;
using namespace std::chrono_literals;

namespace {

constexpr int exit_unexplained_gap = 7;  // app/include/outpost/app/commands.hpp

// The report printed by `outpost audit --json`: from the line "{" to the end (logs come before it).
nlohmann::json report_in(const std::string& output) {
    if (output.rfind("{\n", 0) == 0) return nlohmann::json::parse(output);
    const auto at = output.find("\n{\n");
    if (at == std::string::npos) throw std::runtime_error("no JSON report in:\n" + output);
    return nlohmann::json::parse(output.substr(at + 1));
}

std::size_t count_lines(const std::string& path) {
    std::ifstream in(path);
    std::size_t n = 0;
    std::string line;
    while (std::getline(in, line)) ++n;
    return n;
}

// Copies a capture leaving out the line of the reading with this seq; returns its topic.
std::string drop_seq(const std::string& from, const std::string& to, std::uint64_t seq) {
    std::ifstream in(from);
    std::ofstream out(to);
    std::string line, dropped;
    const std::string needle = "\"seq\":" + std::to_string(seq) + ",";
    while (std::getline(in, line)) {
        if (dropped.empty() && line.find(needle) != std::string::npos) {
            dropped = line;
            continue;
        }
        out << line << "\n";
    }
    return dropped;
}

// mosquitto_sub capturing every topic in `format` (-F) to `file`, once a probe shows it receives.
Process start_capture(int port, const std::string& format, const std::string& file) {
    Process capture(
        {"mosquitto_sub", "-h", "127.0.0.1", "-p", std::to_string(port), "-q", "1", "-t", "#", "-F", format}, file);
    const bool ready = wait_until(
        [&] {
            publish(port, "outpost-test/probe", "probe");
            return read_file(file).find("outpost-test/probe") != std::string::npos;
        },
        10s);
    if (!ready) throw std::runtime_error("mosquitto_sub did not come up: " + read_file(file));
    return capture;
}

double now_s() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

}  // namespace

TEST(Audit, CountsWhatTheGatewaySentExactlyAndFindsADroppedMessage) {
    TempDir dir;
    Broker broker(dir);
    generate_log(dir, dir.file("bms.log"), dir.file("expected.jsonl"), "20");
    const auto expected = count_lines(dir.file("expected.jsonl"));
    ASSERT_GT(expected, 200u);
    const auto site = write_site(dir, "site.json", broker.port(), dir.file("bms.log"));

    // The audit over libmosquitto, MQTT 5, every topic; it stops 3 s after the last message.
    const double began = now_s();
    Process audit({outpost_binary(), "audit", "--port", std::to_string(broker.port()), "--idle", "3", "--json",
                   "--log-format", "text"},
                  dir.file("audit.out"));
    ASSERT_TRUE(
        wait_until([&] { return read_file(dir.file("audit.out")).find("audit.subscribed") != std::string::npos; }, 10s))
        << read_file(dir.file("audit.out"));
    // And a capture with receive times, as the README tells an operator to make one.
    auto capture = start_capture(broker.port(), "%U %t %p", dir.file("capture.txt"));

    const int rc =
        run({outpost_binary(), "run", "--config", site, "--exit-after", "drain"}, dir.file("outpost.log"), 60s);
    ASSERT_EQ(rc, 0) << read_file(dir.file("outpost.log"));
    ASSERT_EQ(audit.wait(30s), 0) << read_file(dir.file("audit.out"));
    const double ended = now_s();
    capture.stop();

    const auto live = report_in(read_file(dir.file("audit.out")));
    const auto& g = live["gateways"]["test-gw"];
    ASSERT_TRUE(g.is_object()) << live.dump(2);
    EXPECT_EQ(g["readings"], expected);
    EXPECT_EQ(g["distinct_readings"], expected);
    EXPECT_EQ(g["duplicates"], 0);
    EXPECT_EQ(g["out_of_order"], 0);
    EXPECT_EQ(g["malformed"], 0);
    EXPECT_EQ(g["property_mismatches"], 0) << "MQTT 5 user properties agree with the payload";
    EXPECT_EQ(g["gaps"].size(), 0u);
    EXPECT_EQ(g["loss_records"], 0);
    ASSERT_EQ(g["sequences"].size(), 1u);
    EXPECT_EQ(g["sequences"][0]["first_seq"], 1);
    EXPECT_EQ(g["sequences"][0]["last_seq"], expected);
    EXPECT_EQ(live["complete"], true);
    EXPECT_EQ(live["connections"], 1);
    // Readings are stamped at replay and received within this test: latency lies in [0, test time]
    // (one clock; 1 s of margin below zero for a clock step).
    ASSERT_TRUE(g["latency_s"].is_object());
    EXPECT_EQ(g["latency_s"]["samples"], expected);
    EXPECT_GT(g["latency_s"]["min"].get<double>(), -1.0);
    EXPECT_LE(g["latency_s"]["max"].get<double>(), ended - began);

    // The capture says the same (the probe names no gateway).
    ASSERT_EQ(run({outpost_binary(), "audit", "--capture", dir.file("capture.txt"), "--json"}, dir.file("full.out")), 0)
        << read_file(dir.file("full.out"));
    const auto full = report_in(read_file(dir.file("full.out")));
    const auto& f = full["gateways"]["test-gw"];
    EXPECT_EQ(f["distinct_readings"], expected);
    EXPECT_EQ(f["duplicates"], 0);
    EXPECT_EQ(f["gaps"].size(), 0u);
    EXPECT_EQ(f["latency_s"]["samples"], expected);
    EXPECT_GE(full["unattributed"], 1);

    // One message taken out of the capture: an unexplained gap at exactly that seq, exit 7.
    const std::uint64_t dropped_seq = expected / 2;
    ASSERT_FALSE(drop_seq(dir.file("capture.txt"), dir.file("dropped.txt"), dropped_seq).empty());
    ASSERT_EQ(run({outpost_binary(), "audit", "--capture", dir.file("dropped.txt"), "--json"}, dir.file("dropped.out")),
              exit_unexplained_gap)
        << read_file(dir.file("dropped.out"));
    const auto dropped = report_in(read_file(dir.file("dropped.out")));
    const auto& d = dropped["gateways"]["test-gw"];
    EXPECT_EQ(d["distinct_readings"], expected - 1);
    ASSERT_EQ(d["unexplained_gaps"].size(), 1u);
    EXPECT_EQ(d["unexplained_gaps"][0]["first"], dropped_seq);
    EXPECT_EQ(d["unexplained_gaps"][0]["last"], dropped_seq);
    EXPECT_EQ(dropped["complete"], false);

    // The text report for people names the gap too.
    ASSERT_EQ(run({outpost_binary(), "audit", "--capture", dir.file("dropped.txt")}, dir.file("dropped.txt.out")),
              exit_unexplained_gap);
    const auto text = read_file(dir.file("dropped.txt.out"));
    EXPECT_NE(text.find("    " + std::to_string(dropped_seq) + ": UNEXPLAINED"), std::string::npos) << text;
}

TEST(Audit, LossRecordsExplainGapsOverMqtt311AndTheCaptureWithoutTimes) {
    TempDir dir;
    Broker broker(dir);
    const auto port = std::to_string(broker.port());
    Process audit({outpost_binary(), "audit", "--port", port, "--mqtt", "3.1.1", "--topic", "site/#", "--topic",
                   "outpost/#", "--idle", "2", "--json", "--log-format", "text"},
                  dir.file("audit.out"));
    ASSERT_TRUE(
        wait_until([&] { return read_file(dir.file("audit.out")).find("audit.subscribed") != std::string::npos; }, 10s))
        << read_file(dir.file("audit.out"));
    const auto reading = [](int seq) {
        return R"({"gw":"bess-01","ep":7345,"seq":)" + std::to_string(seq) + R"(,"ts":1700000000.1,"value":1})";
    };
    for (int seq = 1; seq <= 4; ++seq) publish(broker.port(), "site/bess-01/v", reading(seq));
    publish(
        broker.port(), "outpost/bess-01/loss",
        R"({"gw":"bess-01","ep":7345,"seq":105,"ts":1700000001.5,"loss":{"reason":"evicted_quota","priority":2,"count":100,"first_seq":5,"last_seq":104}})");
    publish(broker.port(), "site/bess-01/v", reading(106));
    publish(broker.port(), "site/bess-01/v", reading(106));  // a duplicate
    publish(broker.port(), "outpost/bess-01/status", R"({"gw":"bess-01","state":"online"})");
    publish(broker.port(), "elsewhere/x", "ignored: not subscribed");
    ASSERT_EQ(audit.wait(20s), 0) << read_file(dir.file("audit.out"));
    const auto r = report_in(read_file(dir.file("audit.out")));
    EXPECT_EQ(r["messages"], 8);
    const auto& g = r["gateways"]["bess-01"];
    EXPECT_EQ(g["distinct_readings"], 5);
    EXPECT_EQ(g["duplicates"], 1);
    EXPECT_EQ(g["loss_records"], 1);
    EXPECT_EQ(g["status_messages"], 1);
    EXPECT_EQ(g["last_status"], "online");
    ASSERT_EQ(g["gaps"].size(), 1u);
    EXPECT_EQ(g["gaps"][0]["first"], 5);
    EXPECT_EQ(g["gaps"][0]["last"], 104);
    EXPECT_EQ(g["gaps"][0]["explained"], true);

    // The same from a `mosquitto_sub -v` capture on stdin (no receive times: no latency).
    std::ostringstream capture;
    capture << "site/bess-01/v " << reading(1) << "\nsite/bess-01/v " << reading(3) << "\n";
    write_file(dir.file("v.txt"), capture.str());
    ASSERT_EQ(run({"/bin/sh", "-c", outpost_binary() + " audit --json --capture - < " + dir.file("v.txt")},
                  dir.file("v.out")),
              exit_unexplained_gap);
    const auto v = report_in(read_file(dir.file("v.out")));
    EXPECT_TRUE(v["gateways"]["bess-01"]["latency_s"].is_null());
    EXPECT_EQ(v["gateways"]["bess-01"]["unexplained_gaps"][0]["first"], 2);
}

// Batches are binary (compact CBOR, or compressed): a capture carries them in hex, as
// `mosquitto_sub -F '%U %t %x'` prints them, and `--hex` reads that.
TEST(Audit, AHexCaptureCarriesBatchesOfEveryForm) {
    TempDir dir;
    Broker broker(dir);
    const auto port = std::to_string(broker.port());
    auto capture = start_capture(broker.port(), "%U %t %x", dir.file("capture.txt"));
    const auto publish_file = [&](const std::string& topic, const std::string& file) {
        ASSERT_EQ(run({"mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-q", "1", "-t", topic, "-f", file},
                      dir.file("pub.log")),
                  0)
            << read_file(dir.file("pub.log"));
    };
    // Seqs 1..3 in the compact form; 3..5 in batched JSON through zstd; 7 alone (6 is missing).
    const auto ts0 = 1700000000000000;
    const auto compact = nlohmann::json::to_cbor(nlohmann::json::array(
        {"ob1", "bess-01", 7, 1, ts0, nlohmann::json::array({nlohmann::json::array({"v", "V", 1})}),
         nlohmann::json::array({nlohmann::json::array({0, 0, 0, 523}), nlohmann::json::array({1, 1000, 0, 524}),
                                nlohmann::json::array({1, 1000, 0, 525})})}));
    write_file(dir.file("compact.bin"), std::string(compact.begin(), compact.end()));
    publish_file("site/bess-01/batch", dir.file("compact.bin"));
    write_file(dir.file("batch.json"), R"({"gw":"bess-01","ep":7,"batch":[)"
                                       R"({"seq":3,"t":"v","ts":1700000000.002000,"value":52.5,"unit":"V"},)"
                                       R"({"seq":4,"t":"v","ts":1700000000.003000,"value":52.6,"unit":"V"},)"
                                       R"({"seq":5,"t":"v","ts":1700000000.004000,"value":52.7,"unit":"V"}]})");
    ASSERT_EQ(run({"zstd", "-q", "-f", dir.file("batch.json"), "-o", dir.file("batch.zst")}, dir.file("zstd.log")), 0);
    publish_file("site/bess-01/batch", dir.file("batch.zst"));
    publish(broker.port(), "site/bess-01/v", R"({"gw":"bess-01","ep":7,"seq":7,"ts":1700000000.5,"value":52.8})");
    ASSERT_TRUE(wait_until(
        [&] { return read_file(dir.file("capture.txt")).find("site/bess-01/v ") != std::string::npos; }, 10s));
    capture.stop();

    ASSERT_EQ(
        run({outpost_binary(), "audit", "--capture", dir.file("capture.txt"), "--hex", "--json"}, dir.file("hex.out")),
        exit_unexplained_gap)
        << read_file(dir.file("hex.out"));
    const auto r = report_in(read_file(dir.file("hex.out")));
    const auto& g = r["gateways"]["bess-01"];
    EXPECT_EQ(g["messages"], 3);
    EXPECT_EQ(g["readings"], 7);
    EXPECT_EQ(g["distinct_readings"], 6);
    EXPECT_EQ(g["duplicates"], 1);
    EXPECT_EQ(g["malformed"], 0);
    ASSERT_EQ(g["unexplained_gaps"].size(), 1u) << g.dump(2);
    EXPECT_EQ(g["unexplained_gaps"][0]["first"], 6);
    EXPECT_EQ(g["unexplained_gaps"][0]["last"], 6);
    EXPECT_EQ(g["latency_s"]["samples"], 6);
    EXPECT_EQ(r["unparsable_lines"], 0);
    // Read as text, the hex lines are not JSON: nothing names a gateway.
    ASSERT_EQ(run({outpost_binary(), "audit", "--capture", dir.file("capture.txt"), "--json"}, dir.file("text.out")),
              0);
    EXPECT_TRUE(report_in(read_file(dir.file("text.out")))["gateways"].empty());
}

TEST(Audit, StartUpProblemsAndUsage) {
    TempDir dir;
    // Nothing listens on this port: a start-up failure (5) with the reason, quickly.
    const int port = free_port();
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(run({outpost_binary(), "audit", "--port", std::to_string(port), "--idle", "1"}, dir.file("a.out")), 5);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 15s) << "bounded by the 10 s connect timeout";
    EXPECT_NE(read_file(dir.file("a.out")).find("audit.start"), std::string::npos) << read_file(dir.file("a.out"));
    EXPECT_EQ(run({outpost_binary(), "audit", "--capture", dir.file("missing.txt")}, dir.file("b.out")), 5);
    EXPECT_EQ(run({outpost_binary(), "audit", "--capture", "x", "--host", "h"}, dir.file("c.out")), 2);
    EXPECT_EQ(run({outpost_binary(), "audit", "--mqtt", "4"}, dir.file("d.out")), 2);
    EXPECT_EQ(run({outpost_binary(), "audit", "--duration", "-1"}, dir.file("e.out")), 2);
    EXPECT_EQ(run({outpost_binary(), "audit", "--help"}, dir.file("f.out")), 0);
    EXPECT_NE(read_file(dir.file("f.out")).find("mosquitto_sub -F '%U %t %p'"), std::string::npos);
    EXPECT_NE(read_file(dir.file("f.out")).find("mosquitto_sub -F '%t %x'"), std::string::npos);
    EXPECT_EQ(run({outpost_binary(), "audit", "--hex", "--port", "1"}, dir.file("g.out")), 2);
    EXPECT_NE(read_file(dir.file("g.out")).find("--hex applies to --capture only"), std::string::npos);
}

TEST(Audit, SigintEndsALiveAuditWithItsReport) {
    TempDir dir;
    Broker broker(dir);
    Process audit({outpost_binary(), "audit", "--port", std::to_string(broker.port()), "--json", "--log-format", "text",
                   "--log-level", "debug"},
                  dir.file("audit.out"));
    ASSERT_TRUE(wait_until(
        [&] { return read_file(dir.file("audit.out")).find("audit.subscribed") != std::string::npos; }, 10s));
    publish(broker.port(), "site/gw/v", R"({"gw":"gw","ep":1,"seq":1,"ts":1.0,"value":1})");
    publish(broker.port(), "site/gw/v", R"({"gw":"gw","ep":1,"seq":3,"ts":1.0,"value":1})");
    ASSERT_TRUE(wait_until(
        [&] {
            const auto out = read_file(dir.file("audit.out"));
            return out.find("audit.message") != out.rfind("audit.message");  // two of them
        },
        10s));
    audit.signal(SIGINT);
    ASSERT_EQ(audit.wait(10s), exit_unexplained_gap) << read_file(dir.file("audit.out"));
    const auto r = report_in(read_file(dir.file("audit.out")));
    EXPECT_EQ(r["gateways"]["gw"]["unexplained_gaps"][0]["first"], 2);
}

TEST(Audit, APersistentSessionMissesNothingAcrossABrokerRestart) {
    TempDir dir;
    Broker broker(dir, 0, true);  // keeps sessions across stop()/start()
    Process audit({outpost_binary(), "audit", "--port", std::to_string(broker.port()), "--client-id", "audit-test",
                   "--json", "--log-format", "text", "--log-level", "debug"},
                  dir.file("audit.out"));
    const auto received = [&] {
        const auto out = read_file(dir.file("audit.out"));
        std::size_t n = 0;
        for (auto at = out.find("audit.message"); at != std::string::npos; at = out.find("audit.message", at + 1)) ++n;
        return n;
    };
    ASSERT_TRUE(wait_until(
        [&] { return read_file(dir.file("audit.out")).find("audit.subscribed") != std::string::npos; }, 10s));
    const auto reading = [](int seq) {
        return R"({"gw":"gw","ep":1,"seq":)" + std::to_string(seq) + R"(,"ts":1.0,"value":1})";
    };
    for (int seq = 1; seq <= 5; ++seq) publish(broker.port(), "site/gw/v", reading(seq));
    ASSERT_TRUE(wait_until([&] { return received() == 5; }, 10s));
    broker.stop();
    broker.start();
    // Published before the audit is back (it retries once a second): queued in its session.
    for (int seq = 6; seq <= 10; ++seq) publish(broker.port(), "site/gw/v", reading(seq));
    ASSERT_TRUE(wait_until([&] { return received() == 10; }, 15s)) << read_file(dir.file("audit.out"));
    audit.signal(SIGINT);
    ASSERT_EQ(audit.wait(10s), 0) << read_file(dir.file("audit.out"));
    const auto r = report_in(read_file(dir.file("audit.out")));
    EXPECT_EQ(r["connections"], 2);
    EXPECT_EQ(r["gateways"]["gw"]["distinct_readings"], 10);
    EXPECT_EQ(r["gateways"]["gw"]["gaps"].size(), 0u);
}
