#pragma once
// The uplink's error domain: why a connection attempt failed, why a connection ended, why a
// message could not be delivered. One enum, an std::error_code category, and the split the
// delivery state machine acts on:
//   transient    - the link or the broker is having a moment: retry with the normal backoff;
//   persistent   - the broker refuses us as configured (credentials, certificate, ban): retried at
//                  the backoff cap, logged as an error, since only a person can fix it;
//   per message  - this one message can never be delivered: removed with a loss record.
// MQTT reason codes (CONNACK, DISCONNECT, PUBACK; MQTT 5 numbering, 3.1.1 return codes mapped onto
// it) are turned into this enum and into words here, without libmosquitto.
#include <string>
#include <system_error>

namespace outpost::uplink {

enum class UplinkError {
    // Transient: retried with the normal backoff.
    resolve_failed = 1,     // the broker's name did not resolve
    connect_failed,         // TCP connect refused, unreachable, reset
    connect_timeout,        // no CONNACK within the connect timeout (a blackholed broker)
    connection_lost,        // the socket closed or failed while connected
    keepalive_timeout,      // nothing received within 1.5 x keepalive
    progress_timeout,       // messages in flight, nothing acknowledged within the progress timeout
    session_taken_over,     // another client connected with our client id (DISCONNECT 0x8E)
    server_unavailable,     // CONNACK 0x88
    server_busy,            // 0x89
    server_shutting_down,   // DISCONNECT 0x8B
    quota_exceeded,         // 0x97, 0x93 receive maximum exceeded, 0x96 message rate too high
    connection_rate_exceeded,  // 0x9F
    server_moved,           // 0x9C use another server, 0x9D server moved: try the next address
    protocol_error,         // malformed packet, protocol error, unspecified broker error
    out_of_memory,          // libmosquitto could not allocate: the message stays, the link restarts
    // Persistent: the broker refuses this configuration; retried at the backoff cap.
    not_authorized,         // 0x87
    bad_credentials,        // 0x86, 0x8C bad authentication method
    client_id_rejected,     // 0x85
    banned,                 // 0x8A
    unsupported_protocol,   // 0x84
    tls_failed,             // certificate refused, handshake failed, TLS set-up failed
    // Per message: removed from the outbox with a loss record.
    message_rejected,       // PUBACK/PUBREC with a reason code >= 0x80
    message_unpublishable,  // cannot be sent as it is (too large, bad topic, QoS not allowed)
};

const std::error_category& uplink_category() noexcept;
std::error_code make_error_code(UplinkError e) noexcept;

// Retried with the normal backoff.
bool is_transient(UplinkError e) noexcept;
// Concerns one message only; the connection is fine.
bool is_per_message(UplinkError e) noexcept;
// snake_case name for logs and metrics ("session_taken_over").
const char* to_string(UplinkError e) noexcept;

// An MQTT 5 reason code in words ("Session taken over"); "reason code 0xNN" when unknown.
std::string reason_code_text(int code);
// The MQTT 5 reason code equivalent to an MQTT 3.1.1 CONNACK return code (1..5).
int connack_v311_to_reason_code(int return_code) noexcept;
// A refusing CONNACK's reason code (>= 0x80) as an error.
UplinkError connack_error(int reason_code) noexcept;
// A broker's DISCONNECT reason code as the error that ended the connection.
UplinkError disconnect_error(int reason_code) noexcept;
// A PUBACK/PUBREC reason code >= 0x80: the message is refused for good unless the broker says it
// is busy or over quota, in which case the message is kept and the link restarts later.
UplinkError puback_error(int reason_code) noexcept;

}  // namespace outpost::uplink

template <>
struct std::is_error_code_enum<outpost::uplink::UplinkError> : std::true_type {};
