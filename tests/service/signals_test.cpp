// Every signal that ends the gateway ends it through the one clean shutdown path: sources stop,
// what is staged is committed, the broker connection is closed, exit 0. Audit: with ingest running
// (a replay at 5x), the stop summary must show every reading committed (none staged, none
// dropped), and after a drain run every committed sequence number has reached a real subscriber.
#include <csignal>

#include <set>

#include <gtest/gtest.h>

#include "broker.hpp"
#include "service_support.hpp"
#include "site_files.hpp"

using namespace outpost::test;
using namespace std::chrono_literals;

namespace {

struct Case {
    int signo;
    const char* name;
    std::vector<std::string> extra;  // run options
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class SignalStop : public ::testing::TestWithParam<Case> {};

}  // namespace

TEST_P(SignalStop, EndsCleanlyWithNothingStagedLost) {
    const auto& c = GetParam();
    TempDir dir;
    Broker broker(dir);
    Subscriber sub(dir, broker.port(), "site/#");
    generate_log(dir, dir.file("bms.log"), dir.file("expected.jsonl"), "120");
    const auto mapping = source_dir() + "/configs/demo/bms_mapping.json";
    const auto site = write_service_site(dir, "site.json", broker.port(), dir.file("bms.log"), mapping);
    std::vector<std::string> argv{outpost_binary(), "run", "--config", site};
    argv.insert(argv.end(), c.extra.begin(), c.extra.end());
    Process gw(argv, dir.file("run.log"));
    // Stop in the middle of ingest, with readings staged and in flight.
    ASSERT_TRUE(wait_until([&] { return sub.line_count() >= 200; }, 30s)) << read_file(dir.file("run.log"));
    gw.signal(c.signo);
    ASSERT_EQ(gw.wait(30s), 0) << read_file(dir.file("run.log"));

    const auto stops = log_events(dir.file("run.log"), "gateway.stop");
    ASSERT_EQ(stops.size(), 1u) << read_file(dir.file("run.log"));
    const auto& stop = stops.front();
    EXPECT_EQ(stop["reason"], c.name);
    const auto readings = stop["readings"].get<std::uint64_t>();
    EXPECT_GT(readings, 0u);
    EXPECT_EQ(stop["committed"].get<std::uint64_t>(), readings) << stop.dump();
    EXPECT_EQ(stop["staged"], 0) << stop.dump();
    EXPECT_EQ(stop["dropped_at_shutdown"], 0) << stop.dump();
    EXPECT_EQ(stop["dropped_unwritable"], 0) << stop.dump();
    EXPECT_EQ(stop["outbox_rows"].get<std::uint64_t>() + stop["acknowledged"].get<std::uint64_t>(), readings)
        << "every reading is delivered or stored: " << stop.dump();
    EXPECT_FALSE(std::filesystem::exists(dir.file("outbox.db.pid"))) << "the pid file goes with a clean stop";

    // What was stored goes out on the next run (no input: the bus disabled).
    const auto drain_site = write_service_site(dir, "drain.json", broker.port(), "", mapping);
    ASSERT_EQ(run({outpost_binary(), "run", "--config", drain_site, "--exit-after", "drain"}, dir.file("drain.log"), 60s),
              0)
        << read_file(dir.file("drain.log"));
    std::set<std::uint64_t> seqs;
    ASSERT_TRUE(wait_until(
        [&] {
            seqs.clear();
            for (const auto& r : sub.messages()) seqs.insert(r.payload["seq"].get<std::uint64_t>());
            return seqs.size() >= readings;
        },
        20s))
        << seqs.size() << " of " << readings;
    EXPECT_EQ(seqs.size(), readings);
    EXPECT_EQ(*seqs.begin(), 1u);
    EXPECT_EQ(*seqs.rbegin(), readings);
    RecordProperty("readings", static_cast<int>(readings));
    RecordProperty("stored_at_stop", static_cast<int>(stop["outbox_rows"].get<std::uint64_t>()));
}

INSTANTIATE_TEST_SUITE_P(Signals, SignalStop,
                         ::testing::Values(Case{SIGINT, "SIGINT", {}}, Case{SIGTERM, "SIGTERM", {}},
                                           Case{SIGQUIT, "SIGQUIT", {}}, Case{SIGHUP, "SIGHUP", {"--no-reload"}}),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

// The signals with no use here neither end the gateway nor disturb it; SIGUSR1 writes the counters.
TEST(Signals, OthersAreIgnoredOrLogTheCounters) {
    TempDir dir;
    const auto site = write_service_site(dir, "site.json", free_port(), "", source_dir() + "/configs/demo/bms_mapping.json");
    Process gw({outpost_binary(), "run", "--config", site}, dir.file("run.log"));
    ASSERT_TRUE(wait_until([&] { return !log_events(dir.file("run.log"), "gateway.start").empty(); }, 20s));
    for (int s : {SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGIO, SIGPIPE, SIGXFSZ}) gw.signal(s);
    gw.signal(SIGUSR1);
    ASSERT_TRUE(wait_until(
        [&] {
            for (const auto& e : log_events(dir.file("run.log"), "gateway.stats")) {
                if (e.value("reason", "") == "SIGUSR1") return true;
            }
            return false;
        },
        10s))
        << read_file(dir.file("run.log"));
    // SIGPIPE and SIGXFSZ are ignored outright (no log line); the other five are logged.
    EXPECT_TRUE(wait_until([&] { return log_events(dir.file("run.log"), "signal.ignored").size() >= 5; }, 10s));
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(log_events(dir.file("run.log"), "signal.ignored").size(), 5u) << read_file(dir.file("run.log"));
    EXPECT_TRUE(gw.running());
    gw.signal(SIGTERM);
    EXPECT_EQ(gw.wait(20s), 0);
}
