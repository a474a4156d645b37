#pragma once
// The audit's libmosquitto shell: subscribes to a broker and feeds every message, with the wall-clock
// time it was received, to a SequenceAudit. Its own small loop (mosquitto_loop every 100 ms), one
// thread, no Asio: it is a command-line tool, not part of the gateway.
//
// Errors: a broker that cannot be reached, refuses the connection or the TLS handshake before the
// first CONNACK is a start-up failure (AuditStartError, with the reason in words). Once connected, a
// lost connection is logged and retried every second until the run ends; with a clean session
// (no client id given) what is published meanwhile is missed, so the report counts connections.
#include <atomic>
#include <csignal>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "sequence_audit.hpp"

namespace outpost::audit {

class AuditStartError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct SubscribeOptions {
    std::string host = "127.0.0.1";
    int port = 1883;
    std::optional<std::string> username;
    std::optional<std::string> password;
    std::optional<std::string> cafile;  // TLS when either is set
    std::optional<std::string> capath;
    std::vector<std::string> topics{"#"};
    int mqtt_version = 5;  // 5 or 311
    int qos = 1;
    // Empty: a random id and a clean session. Set: a persistent session (MQTT 5: expiring
    // `session_expiry_s` after a disconnect), so a broker that keeps sessions queues what arrives while
    // the audit is disconnected.
    std::string client_id;
    std::uint32_t session_expiry_s = 300;
    int keepalive_s = 30;
    int connect_timeout_s = 10;
    std::optional<double> duration_s;  // stop after this long
    std::optional<double> idle_s;      // stop after this long with nothing received
};

// Runs until the duration or idle time has passed or `stop` becomes non-zero (a signal handler sets
// it). Throws AuditStartError when the first connection fails.
void subscribe_and_audit(const SubscribeOptions& options, SequenceAudit& audit, const volatile std::sig_atomic_t& stop);

}  // namespace outpost::audit
