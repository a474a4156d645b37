// The gateway under a service manager, without one: NOTIFY_SOCKET names a datagram socket this
// test owns, WATCHDOG_USEC asks for pings. The gateway must say READY=1, keep STATUS= lines
// coming, ping the watchdog while idle buses and a down broker are all there is (both normal), stop
// pinging while its io thread is blocked, and say STOPPING=1 when told to stop.
//
// The io thread is blocked through a test hook: with OUTPOST_TEST_STALL_IO_MS set, SIGUSR2 makes
// the gateway's signal handler (which runs on the io thread) sleep that long, exactly as a hung
// handler would. Without the variable SIGUSR2 is ignored (signal_policy_test). SIGSTOP would stop
// every thread and prove nothing about the io thread.
#include <csignal>
#include <cstdlib>

#include <gtest/gtest.h>

#include "broker.hpp"
#include "service_support.hpp"

using namespace outpost::test;
using namespace std::chrono_literals;

namespace {

constexpr auto watchdog_timeout = 2s;
constexpr auto stall = 5s;

// Starts the gateway with the manager's environment; the variables go no further than its process.
Process start_notified(const std::vector<std::string>& argv, const std::string& log, const NotifySocket& sock) {
    ::setenv("NOTIFY_SOCKET", sock.path().c_str(), 1);
    ::setenv("WATCHDOG_USEC", std::to_string(std::chrono::microseconds(watchdog_timeout).count()).c_str(), 1);
    ::setenv("OUTPOST_TEST_STALL_IO_MS", std::to_string(std::chrono::milliseconds(stall).count()).c_str(), 1);
    Process p(argv, log);
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("OUTPOST_TEST_STALL_IO_MS");
    return p;
}

std::chrono::duration<double> largest_gap(const std::vector<NotifySocket::Datagram>& pings,
                                          std::chrono::steady_clock::time_point from,
                                          std::chrono::steady_clock::time_point to) {
    std::chrono::duration<double> gap{0};
    auto last = from;
    for (const auto& p : pings) {
        if (p.at < from || p.at > to) continue;
        gap = std::max<std::chrono::duration<double>>(gap, p.at - last);
        last = p.at;
    }
    return std::max<std::chrono::duration<double>>(gap, to - last);
}

}  // namespace

TEST(SystemdNotify, ReadyStatusPingsThatStopWhileTheIoThreadIsBlockedAndStopping) {
    TempDir dir;
    Broker broker(dir);
    NotifySocket sock(dir.file("notify.sock"));
    // Buses idle (the only one disabled): no reading flows, and the watchdog must still be fed.
    const auto site = write_service_site(dir, "site.json", broker.port(), "",
                                         source_dir() + "/configs/demo/bms_mapping.json");
    auto gw = start_notified({outpost_binary(), "run", "--config", site}, dir.file("outpost.log"), sock);
    ASSERT_TRUE(wait_until([&] { return !sock.with("READY=1").empty(); }, 20s)) << read_file(dir.file("outpost.log"));
    ASSERT_TRUE(wait_until(
        [&] {
            const auto s = sock.with("STATUS=");
            return !s.empty() && s.back().text.find("broker connected") != std::string::npos;
        },
        15s))
        << read_file(dir.file("outpost.log"));

    // Healthy: the manager's contract is a ping within every timeout; the gateway pings three times
    // per timeout.
    const auto healthy_from = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(3 * watchdog_timeout);
    const auto healthy_to = std::chrono::steady_clock::now();
    const auto pings_healthy = sock.with("WATCHDOG=1");
    EXPECT_LT(largest_gap(pings_healthy, healthy_from, healthy_to).count(),
              std::chrono::duration<double>(watchdog_timeout).count());

    // Blocked: no ping can leave while the io thread sleeps, so the gap around it is at least the
    // stall (less a millisecond of clock reading); then they come back.
    const auto stall_from = std::chrono::steady_clock::now();
    gw.signal(SIGUSR2);
    std::this_thread::sleep_for(stall + 2 * watchdog_timeout);
    const auto stall_to = std::chrono::steady_clock::now();
    const auto pings = sock.with("WATCHDOG=1");
    const auto gap = largest_gap(pings, stall_from, stall_to);
    EXPECT_GE(gap.count(), std::chrono::duration<double>(stall).count() - 0.001);
    std::size_t after = 0;
    for (const auto& p : pings) after += p.at > stall_from + stall ? 1 : 0;
    EXPECT_GE(after, 2u) << "the pings resume once the io thread turns again";
    ASSERT_EQ(log_events(dir.file("outpost.log"), "test.stall_io").size(), 1u);

    // STATUS= says something an operator can use.
    const auto statuses = sock.with("STATUS=");
    ASSERT_FALSE(statuses.empty());
    EXPECT_NE(statuses.back().text.find("broker connected"), std::string::npos) << statuses.back().text;
    EXPECT_NE(statuses.back().text.find("readings"), std::string::npos) << statuses.back().text;

    gw.signal(SIGTERM);
    ASSERT_EQ(gw.wait(20s), 0) << read_file(dir.file("outpost.log"));
    // Sent before the exit, but the socket's reader thread may not have taken it yet.
    ASSERT_TRUE(wait_until([&] { return !sock.with("STOPPING=1").empty(); }, 10s));
    const auto stopping = sock.with("STOPPING=1");
    ASSERT_EQ(stopping.size(), 1u);
    // Nothing after STOPPING=1 pings the watchdog.
    for (const auto& p : sock.with("WATCHDOG=1")) EXPECT_LT(p.at, stopping.front().at);
    RecordProperty("pings", static_cast<int>(pings.size()));
    RecordProperty("stall_gap_ms", static_cast<int>(gap.count() * 1000));
}

TEST(SystemdNotify, BrokerDownByDesignStillFeedsTheWatchdogAndSaysSo) {
    TempDir dir;
    NotifySocket sock(dir.file("notify.sock"));
    const int nobody = free_port();  // nothing listens: the link is down, as it often is on site
    const auto site = write_service_site(dir, "site.json", nobody, "", source_dir() + "/configs/demo/bms_mapping.json");
    auto gw = start_notified({outpost_binary(), "run", "--config", site}, dir.file("outpost.log"), sock);
    ASSERT_TRUE(wait_until([&] { return !sock.with("READY=1").empty(); }, 20s)) << read_file(dir.file("outpost.log"));
    const auto from = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(3 * watchdog_timeout);
    const auto to = std::chrono::steady_clock::now();
    EXPECT_LT(largest_gap(sock.with("WATCHDOG=1"), from, to).count(),
              std::chrono::duration<double>(watchdog_timeout).count());
    const auto statuses = sock.with("STATUS=");
    ASSERT_FALSE(statuses.empty());
    EXPECT_NE(statuses.back().text.find("broker DISCONNECTED"), std::string::npos) << statuses.back().text;
    gw.signal(SIGTERM);
    ASSERT_EQ(gw.wait(20s), 0) << read_file(dir.file("outpost.log"));
    EXPECT_TRUE(wait_until([&] { return !sock.with("STOPPING=1").empty(); }, 10s));
    EXPECT_EQ(sock.with("STOPPING=1").size(), 1u);
}

TEST(SystemdNotify, WithoutNotifySocketNothingIsSentAndSigusr2IsIgnored) {
    TempDir dir;
    const auto site = write_service_site(dir, "site.json", free_port(), "", source_dir() + "/configs/demo/bms_mapping.json");
    Process gw({outpost_binary(), "run", "--config", site}, dir.file("outpost.log"));
    ASSERT_TRUE(wait_until([&] { return !log_events(dir.file("outpost.log"), "gateway.start").empty(); }, 20s));
    gw.signal(SIGUSR2);
    ASSERT_TRUE(wait_until([&] { return !log_events(dir.file("outpost.log"), "signal.ignored").empty(); }, 10s))
        << read_file(dir.file("outpost.log"));
    EXPECT_TRUE(log_events(dir.file("outpost.log"), "test.stall_io").empty());
    EXPECT_TRUE(gw.running());
    gw.signal(SIGTERM);
    EXPECT_EQ(gw.wait(20s), 0) << read_file(dir.file("outpost.log"));
}
