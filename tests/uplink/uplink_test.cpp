// The uplink against a real mosquitto broker on a free loopback port.
#include "outpost/uplink/uplink.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <sstream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "broker.hpp"
#include "uplink_harness.hpp"

using namespace outpost;
using namespace std::chrono_literals;
using test::fill;
using test::run_until;

namespace {

using test::uplink_options;


std::set<std::uint64_t> seqs(const std::vector<test::Received>& got) {
    std::set<std::uint64_t> s;
    for (const auto& r : got) s.insert(r.payload["seq"].get<std::uint64_t>());
    return s;
}

}  // namespace

TEST(Uplink, DrainsTheOutboxAndRemovesOnlyAcknowledgedMessages) {
    test::TempDir dir;
    test::Broker broker(dir);
    test::Subscriber sub(dir, broker.port(), "t/#");
    outbox::Outbox box({.path = dir.file("o.db")});
    fill(box, 500, 3);
    fill(box, 20, 9);
    boost::asio::io_context io;
    uplink::Uplink up(io, uplink_options(broker.port()), box);
    up.start();
    ASSERT_TRUE(run_until(io, box, [&] { return up.drained(); }, 20s));
    ASSERT_TRUE(sub.wait_for_count(520, 10s));
    const auto got = sub.messages();
    EXPECT_EQ(got.size(), 520u);
    EXPECT_EQ(seqs(got).size(), 520u);
    // Priority 9 (seq 501..520) went first.
    EXPECT_EQ(got.front().payload["seq"], 501);
    EXPECT_EQ(got.front().topic, "t/p9");
    EXPECT_EQ(got.front().payload["gw"], "gw-test");
    EXPECT_EQ(box.stats().rows, 0u);
    EXPECT_EQ(up.stats().acknowledged, 520u);
    up.stop();
}

TEST(Uplink, KeepsToTheBrokersReceiveMaximumAndStillDrainsEverything) {
    // mosquitto tells an MQTT 5 client its max_inflight_messages (20 by default) as its Receive
    // Maximum; the window configured here is larger.
    test::TempDir dir;
    test::Broker broker(dir, 0, false, "", "max_inflight_messages 3\n");
    test::Subscriber sub(dir, broker.port(), "t/#");
    outbox::Outbox box({.path = dir.file("o.db")});
    fill(box, 300, 3);
    boost::asio::io_context io;
    uplink::Uplink up(io, uplink_options(broker.port(), 64), box);
    up.start();
    std::size_t most_inflight = 0, window = 0;
    ASSERT_TRUE(run_until(io, box, [&] {
        most_inflight = std::max(most_inflight, up.stats().inflight);
        if (up.stats().connected) window = up.stats().window;
        return up.drained();
    }, 30s));
    EXPECT_EQ(window, 3u);
    EXPECT_LE(most_inflight, 3u);
    EXPECT_GT(most_inflight, 0u);
    ASSERT_TRUE(sub.wait_for_count(300, 10s));
    EXPECT_EQ(seqs(sub.messages()).size(), 300u);
    EXPECT_EQ(box.stats().rows, 0u);
    up.stop();
}

TEST(Uplink, ReconnectsWithBackoffAndResendsWhatWasNotAcknowledged) {
    test::TempDir dir;
    const int port = test::free_port();
    outbox::Outbox box({.path = dir.file("o.db")});
    fill(box, 3000);
    boost::asio::io_context io;
    testing::internal::CaptureStderr();
    uplink::Uplink up(io, uplink_options(port, 200), box);
    up.start();
    // No broker yet: attempts fail and back off.
    io.run_for(1500ms);
    EXPECT_GE(up.stats().connect_failures, 3u);
    EXPECT_EQ(up.stats().connects, 0u);
    EXPECT_EQ(box.stats().rows, 3000u);

    test::Broker broker(dir, port);
    test::Subscriber sub(dir, port, "t/#");
    // Kill the broker in the middle of the drain.
    ASSERT_TRUE(run_until(io, box, [&] { return up.stats().acknowledged >= 500; }, 20s));
    broker.kill();
    io.run_for(300ms);
    ASSERT_FALSE(box.commit());
    // What the broker never acknowledged: all of it must arrive after the restart.
    std::set<std::uint64_t> unacknowledged;
    {
        outbox::DrainCursor cursor;
        std::vector<core::StoredMessage> out;
        while (box.fetch(cursor, 1000, out) > 0) {
            for (const auto& m : out) unacknowledged.insert(m.seq);
            out.clear();
        }
    }
    const auto left = unacknowledged.size();
    EXPECT_GT(left, 0u);
    EXPECT_EQ(left, box.stats().rows);
    EXPECT_FALSE(up.stats().connected);
    broker.start();
    test::Subscriber sub2(dir, port, "t/#", "sub2");
    ASSERT_TRUE(run_until(io, box, [&] { return up.drained(); }, 30s));
    testing::internal::GetCapturedStderr();
    EXPECT_GE(up.stats().connects, 2u);
    EXPECT_EQ(box.stats().rows, 0u);
    // Every message that was not acknowledged before the kill arrived after it.
    io.run_for(200ms);
    sub2.wait_for_count(left, 10s);
    const auto second = seqs(sub2.messages());
    for (const auto seq : unacknowledged) ASSERT_TRUE(second.count(seq)) << "seq " << seq << " never arrived";
    up.stop();
}

TEST(Uplink, Mqtt311CarriesTheSequenceInThePayload) {
    test::TempDir dir;
    test::Broker broker(dir);
    outbox::Outbox box({.path = dir.file("o.db")});
    fill(box, 10);
    boost::asio::io_context io;
    auto o = uplink_options(broker.port());
    test::Subscriber sub(dir, broker.port(), "t/#");
    o.protocol = uplink::MqttProtocol::v311;
    testing::internal::CaptureStderr();
    uplink::Uplink up(io, o, box);
    up.start();
    ASSERT_TRUE(run_until(io, box, [&] { return up.drained(); }, 10s));
    testing::internal::GetCapturedStderr();
    EXPECT_EQ(up.stats().acknowledged, 10u);
    ASSERT_TRUE(sub.wait_for_count(10, 10s));
    EXPECT_EQ(seqs(sub.messages()), (std::set<std::uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
    up.stop();
}

TEST(Uplink, Mqtt5CarriesGatewayEpochAndSequenceAsUserProperties) {
    test::TempDir dir;
    test::Broker broker(dir);
    // An MQTT 5 subscriber printing user properties, then the payload.
    test::Process sub({"mosquitto_sub", "-h", "127.0.0.1", "-p", std::to_string(broker.port()), "-V", "mqttv5", "-q",
                       "1", "-t", "t/#", "-t", "outpost-test/probe", "-F", "%P|%p"},
                      dir.file("props.out"));
    ASSERT_TRUE(test::wait_until(
        [&] {
            test::publish(broker.port(), "outpost-test/probe", "probe");
            return test::read_file(dir.file("props.out")).find("probe") != std::string::npos;
        },
        10s));
    outbox::Outbox box({.path = dir.file("o.db")});
    fill(box, 5);
    boost::asio::io_context io;
    uplink::Uplink up(io, uplink_options(broker.port()), box);
    up.start();
    ASSERT_TRUE(run_until(io, box, [&] { return up.drained(); }, 10s));
    ASSERT_TRUE(test::wait_until(
        [&] {
            const auto text = test::read_file(dir.file("props.out"));
            return std::count(text.begin(), text.end(), '\n') >= 6;
        },
        10s));
    std::istringstream lines(test::read_file(dir.file("props.out")));
    std::string line;
    int checked = 0;
    while (std::getline(lines, line)) {
        if (line.find("probe") != std::string::npos) continue;
        const auto bar = line.find('|');
        ASSERT_NE(bar, std::string::npos) << line;
        const auto payload = nlohmann::json::parse(line.substr(bar + 1));
        EXPECT_EQ(line.substr(0, bar), "gw:gw-test seq:" + std::to_string(payload["seq"].get<std::uint64_t>()) +
                                           " ep:" + std::to_string(payload["ep"].get<std::uint32_t>()));
        EXPECT_EQ(payload["ep"], box.stats().epoch);
        ++checked;
    }
    EXPECT_EQ(checked, 5);
    up.stop();
}
