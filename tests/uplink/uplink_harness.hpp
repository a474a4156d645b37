#pragma once
// What the uplink tests share: an outbox filled with numbered messages, and an io_context run
// until a condition holds while acknowledgements are committed, as the gateway does.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>

#include <boost/asio/io_context.hpp>

#include "outpost/outbox/outbox.hpp"
#include "outpost/uplink/uplink.hpp"

namespace outpost::test {

// A test gateway's uplink: quick reconnects, a small window, no health messages.
inline uplink::UplinkOptions uplink_options(int port, std::size_t window = 64) {
    using namespace std::chrono_literals;
    uplink::UplinkOptions o;
    o.gateway_id = "gw-test";
    o.port = static_cast<std::uint16_t>(port);
    o.backoff_initial = 50ms;
    o.backoff_max = 400ms;
    o.inflight_window = window;
    o.health_interval = 0ms;
    return o;
}

// Stages and commits `n` messages on topic t/p<priority> with bodies "value":0..n-1.
inline void fill(outbox::Outbox& box, int n, std::uint8_t priority = 5) {
    for (int i = 0; i < n; ++i) {
        core::Message m;
        m.topic = "t/p" + std::to_string(priority);
        m.body = "\"value\":" + std::to_string(i);
        m.priority = priority;
        box.stage(std::move(m));
    }
    ASSERT_FALSE(box.commit());
}

inline bool run_until(boost::asio::io_context& io, outbox::Outbox& box, const std::function<bool()>& done,
                      std::chrono::milliseconds timeout) {
    using namespace std::chrono_literals;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        io.run_for(20ms);
        (void)box.commit();
    }
    return true;
}

}  // namespace outpost::test
