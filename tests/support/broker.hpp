#pragma once
// A real mosquitto broker on a free loopback port, and a real mosquitto_sub subscriber whose
// received messages the test can read back. Both stop when their objects go away.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "process.hpp"

namespace outpost::test {

class Broker {
public:
    // Starts mosquitto on a free port (or `port`), waiting until it accepts connections. A
    // persistent broker saves its sessions (subscriptions, queued messages) when stopped with
    // stop() and restores them at start(), so a persistent subscriber misses nothing across it.
    // `secured_listener` adds a second listener (TLS, passwords) after the anonymous plain one the
    // subscribers use; security settings then apply per listener. `settings`: more global lines
    // for mosquitto.conf (e.g. "max_inflight_messages 3\n").
    explicit Broker(const TempDir& dir, int port = 0, bool persistent = false, const std::string& secured_listener = "",
                    const std::string& settings = "");
    ~Broker();

    int port() const noexcept { return port_; }
    void start();
    void stop();  // SIGTERM: a clean shutdown
    void kill();  // SIGKILL: the broker vanishes
    // SIGSTOP / SIGCONT: the broker freezes (TCP still accepted by the kernel, nothing answered).
    void freeze();
    void thaw();
    bool running() { return process_.running(); }
    // Its log (notice level: a line per connection, with the time in seconds since the epoch).
    const std::string& log_path() const noexcept { return log_; }

private:
    std::string config_;
    std::string log_;
    int port_;
    Process process_;
};

struct Received {
    std::string topic;
    nlohmann::json payload;  // null if the payload was not JSON
};

class Subscriber {
public:
    // Subscribes to `filter` with QoS 1 and waits until a probe message comes through, so nothing
    // published after the constructor returns can be missed.
    // A persistent subscriber keeps its session on the broker (clean session off) and reconnects
    // by itself after the broker comes back.
    Subscriber(const TempDir& dir, int port, const std::string& filter, const std::string& name = "sub",
               bool persistent = false);
    ~Subscriber();

    // Messages received so far (probes left out).
    std::vector<Received> messages() const;
    bool wait_for_count(std::size_t n, std::chrono::milliseconds timeout) const;
    // Lines received so far, probes included: cheap enough to poll while messages pour in.
    std::size_t line_count() const;
    void stop() { process_.stop(); }

private:
    std::string out_;
    Process process_;
};

// A throw-away PKI made with the openssl command: a CA, a server certificate for localhost and
// 127.0.0.1 signed by it, and an unrelated second CA.
struct TestPki {
    std::string ca;
    std::string server_cert;
    std::string server_key;
    std::string other_ca;
};
TestPki make_test_pki(const TempDir& dir);

// Publishes one message with mosquitto_pub (QoS 1).
void publish(int port, const std::string& topic, const std::string& payload);

}  // namespace outpost::test
