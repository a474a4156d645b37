// The uplink against a mosquitto that demands TLS or a password, as cloud brokers do.
#include "outpost/uplink/uplink.hpp"

#include <gtest/gtest.h>

#include <set>

#include <boost/asio/io_context.hpp>

#include "broker.hpp"
#include "uplink_harness.hpp"

using namespace outpost;
using namespace std::chrono_literals;
using test::fill;
using test::run_until;

namespace {

struct Site {
    test::TempDir dir;
    test::TestPki pki = test::make_test_pki(dir);
    int secured_port = test::free_port();
};

uplink::UplinkOptions options(const std::string& host, int port) {
    uplink::UplinkOptions o;
    o.gateway_id = "gw-secure";
    o.host = host;
    o.port = static_cast<std::uint16_t>(port);
    o.backoff_initial = 50ms;
    o.backoff_max = 300ms;
    o.connect_timeout = 3s;
    return o;
}

std::string tls_listener(const Site& s) {
    return "listener " + std::to_string(s.secured_port) + " 127.0.0.1\nallow_anonymous true\ncafile " + s.pki.ca +
           "\ncertfile " + s.pki.server_cert + "\nkeyfile " + s.pki.server_key + "\n";
}

// Runs an uplink the broker refuses for 1.5 s: what it counted and what it logged.
struct Refused {
    uplink::UplinkStats stats;
    std::string log;
};
Refused refused_for_a_while(const uplink::UplinkOptions& o, outbox::Outbox& box) {
    boost::asio::io_context io;
    testing::internal::CaptureStderr();
    uplink::Uplink up(io, o, box);
    up.start();
    io.run_for(1500ms);
    Refused r{up.stats(), testing::internal::GetCapturedStderr()};
    up.stop();
    return r;
}

// A broker with a TLS listener on the site's secured port.
struct TlsSite : Site {
    test::Broker broker{dir, 0, false, tls_listener(*this)};
};

}  // namespace

TEST(UplinkTls, VerifiesTheBrokerCertificateAndHostNameThenDelivers) {
    TlsSite s;
    ASSERT_TRUE(test::wait_for_port(s.secured_port, 10s));
    test::Subscriber sub(s.dir, s.broker.port(), "t/#");
    outbox::Outbox box({.path = s.dir.file("o.db")});
    fill(box, 50);
    auto o = options("localhost", s.secured_port);
    o.tls = {.enabled = true, .ca_file = s.pki.ca, .verify_hostname = true};
    boost::asio::io_context io;
    uplink::Uplink up(io, o, box);
    up.start();
    ASSERT_TRUE(run_until(io, box, [&] { return up.drained(); }, 20s));
    ASSERT_TRUE(sub.wait_for_count(50, 10s));
    std::set<std::uint64_t> seqs;
    for (const auto& r : sub.messages()) seqs.insert(r.payload["seq"].get<std::uint64_t>());
    EXPECT_EQ(seqs.size(), 50u);
    EXPECT_EQ(*seqs.rbegin(), 50u);
    EXPECT_EQ(up.stats().connects, 1u);
    up.stop();
}

TEST(UplinkTls, RefusesABrokerItCannotVerifyAndKeepsEverything) {
    TlsSite s;
    ASSERT_TRUE(test::wait_for_port(s.secured_port, 10s));
    outbox::Outbox box({.path = s.dir.file("o.db")});
    fill(box, 20);
    auto o = options("localhost", s.secured_port);
    o.tls = {.enabled = true, .ca_file = s.pki.other_ca, .verify_hostname = true};
    const auto r = refused_for_a_while(o, box);
    EXPECT_EQ(r.stats.connects, 0u);
    EXPECT_GE(r.stats.connect_failures, 2u);
    EXPECT_EQ(r.stats.published, 0u);
    EXPECT_EQ(box.stats().rows, 20u);
    EXPECT_NE(r.log.find("uplink.connect_failed"), std::string::npos) << r.log;
    // The real reason, not "A TLS error occurred.": OpenSSL's verify result for an unknown CA (the
    // broker sends its CA along, which this side does not trust).
    EXPECT_NE(r.log.find("certificate failed verification: self-signed certificate in certificate chain (X509 error 19 "
                         "at depth 1)"),
              std::string::npos)
        << r.log;
    EXPECT_EQ(r.log.find("does not match the host name"), std::string::npos) << r.log;
}

// The right CA but another name: the broker answers on 127.0.0.2, its certificate names
// localhost and 127.0.0.1. The log says so, in words that differ from the unknown-CA case.
TEST(UplinkTls, AHostNameMismatchIsToldApartFromAnUnknownCa) {
    Site s;
    test::Broker broker(s.dir, 0, false,
                        "listener " + std::to_string(s.secured_port) + " 127.0.0.2\nallow_anonymous true\ncafile " +
                            s.pki.ca + "\ncertfile " + s.pki.server_cert + "\nkeyfile " + s.pki.server_key + "\n");
    outbox::Outbox box({.path = s.dir.file("o.db")});
    fill(box, 5);
    auto o = options("127.0.0.2", s.secured_port);
    o.tls = {.enabled = true, .ca_file = s.pki.ca, .verify_hostname = true};
    const auto mismatch = refused_for_a_while(o, box);
    EXPECT_EQ(mismatch.stats.connects, 0u);
    EXPECT_GE(mismatch.stats.connect_failures, 1u);
    EXPECT_EQ(box.stats().rows, 5u);
    EXPECT_NE(mismatch.log.find("the broker's certificate does not match the host name \\\"127.0.0.2\\\""),
              std::string::npos)
        << mismatch.log;

    o.tls.ca_file = s.pki.other_ca;
    const auto unknown_ca = refused_for_a_while(o, box);
    EXPECT_NE(unknown_ca.log.find("self-signed certificate in certificate chain"), std::string::npos) << unknown_ca.log;
    EXPECT_EQ(unknown_ca.log.find("does not match the host name"), std::string::npos) << unknown_ca.log;
    EXPECT_EQ(mismatch.log.find("failed verification"), std::string::npos) << mismatch.log;
    EXPECT_EQ(mismatch.log.find("A TLS error occurred"), std::string::npos) << mismatch.log;
    EXPECT_EQ(unknown_ca.log.find("A TLS error occurred"), std::string::npos) << unknown_ca.log;

    // Without the host-name check the same broker is accepted.
    o.tls = {.enabled = true, .ca_file = s.pki.ca, .verify_hostname = false};
    boost::asio::io_context io;
    uplink::Uplink up(io, o, box);
    up.start();
    EXPECT_TRUE(run_until(io, box, [&] { return up.drained(); }, 20s));
    up.stop();
}

TEST(UplinkAuth, AWrongPasswordIsRefusedAndRetriedTheRightOneDelivers) {
    Site s;
    const auto passwords = s.dir.file("passwords");
    ASSERT_EQ(test::run({"mosquitto_passwd", "-c", "-b", passwords, "gw-secure", "s3cret"}, s.dir.file("passwd.log")), 0);
    test::Broker broker(s.dir, 0, false,
                        "listener " + std::to_string(s.secured_port) +
                            " 127.0.0.1\nallow_anonymous false\npassword_file " + passwords + "\n");
    ASSERT_TRUE(test::wait_for_port(s.secured_port, 10s));
    test::Subscriber sub(s.dir, broker.port(), "t/#");
    outbox::Outbox box({.path = s.dir.file("o.db")});
    fill(box, 30);
    {
        auto o = options("127.0.0.1", s.secured_port);
        o.username = "gw-secure";
        o.password = "wrong";
        const auto r = refused_for_a_while(o, box);
        EXPECT_EQ(r.stats.connects, 0u);
        EXPECT_GE(r.stats.connect_failures, 2u);
        EXPECT_EQ(box.stats().rows, 30u);
        EXPECT_NE(r.log.find("broker refused the connection"), std::string::npos) << r.log;
    }
    auto o = options("127.0.0.1", s.secured_port);
    o.username = "gw-secure";
    o.password = "s3cret";
    boost::asio::io_context io;
    uplink::Uplink up(io, o, box);
    up.start();
    ASSERT_TRUE(run_until(io, box, [&] { return up.drained(); }, 20s));
    EXPECT_TRUE(sub.wait_for_count(30, 10s));
    EXPECT_EQ(box.stats().rows, 0u);
    up.stop();
}
