// A broker name that takes seconds to resolve (a DNS server unreachable over a dead 4G link)
// must not stall the io thread: ingest and the commit timer keep running meanwhile.
// This binary interposes getaddrinfo: the name below resolves to 127.0.0.1, after 2 s.
#include "outpost/uplink/uplink.hpp"

#include <dlfcn.h>
#include <netdb.h>

#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "broker.hpp"

using namespace std::chrono_literals;

namespace {
constexpr const char* slow_name = "slow-dns.outpost.test";
}

extern "C" int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints,
                           struct addrinfo** res) {
    using real_t = int (*)(const char*, const char*, const struct addrinfo*, struct addrinfo**);
    static const auto real = reinterpret_cast<real_t>(dlsym(RTLD_NEXT, "getaddrinfo"));
    if (node && std::strcmp(node, slow_name) == 0) {
        std::this_thread::sleep_for(2s);
        node = "127.0.0.1";
    }
    return real(node, service, hints, res);
}

TEST(UplinkResolve, ASlowNameLookupDoesNotStallTheIoThread) {
    outpost::test::TempDir dir;
    const auto pki = outpost::test::make_test_pki(dir);
    outpost::outbox::Outbox box({.path = dir.file("o.db")});
    outpost::uplink::UplinkOptions o;
    o.gateway_id = "gw-slow";
    o.host = slow_name;
    o.port = static_cast<std::uint16_t>(outpost::test::free_port());  // nothing listens: refused once resolved
    o.tls = {.enabled = true, .ca_file = pki.ca};  // with TLS, libmosquitto must resolve the name itself
    o.backoff_initial = 50ms;
    o.backoff_max = 100ms;
    boost::asio::io_context io;
    testing::internal::CaptureStderr();
    outpost::uplink::Uplink up(io, o, box);
    up.start();
    // A 10 ms timer stands in for ingest: it must keep firing while the name resolves.
    auto last = std::chrono::steady_clock::now();
    auto longest_gap = std::chrono::steady_clock::duration::zero();
    boost::asio::steady_timer timer(io);
    std::function<void()> tick = [&] {
        timer.expires_after(10ms);
        timer.async_wait([&](boost::system::error_code ec) {
            if (ec) return;
            const auto now = std::chrono::steady_clock::now();
            longest_gap = std::max(longest_gap, now - last);
            last = now;
            tick();
        });
    };
    tick();
    io.run_for(5s);
    const auto log = testing::internal::GetCapturedStderr();
    EXPECT_LT(longest_gap, 1s) << "the io thread stalled for "
                               << std::chrono::duration_cast<std::chrono::milliseconds>(longest_gap).count() << " ms";
    // Resolved after 2 s, then refused: the attempt failed and was counted.
    EXPECT_GE(up.stats().connect_failures, 1u) << log;
    EXPECT_NE(log.find("uplink.connect_failed"), std::string::npos) << log;
    up.stop();
}
