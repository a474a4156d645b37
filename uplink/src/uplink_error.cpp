#include "outpost/uplink/uplink_error.hpp"

#include <cstdio>

namespace outpost::uplink {
namespace {

class Category : public std::error_category {
public:
    const char* name() const noexcept override { return "outpost.uplink"; }
    std::string message(int v) const override { return to_string(static_cast<UplinkError>(v)); }
};

}  // namespace

const std::error_category& uplink_category() noexcept {
    static const Category category;
    return category;
}

std::error_code make_error_code(UplinkError e) noexcept { return {static_cast<int>(e), uplink_category()}; }

bool is_transient(UplinkError e) noexcept {
    return e >= UplinkError::resolve_failed && e <= UplinkError::out_of_memory;
}

bool is_per_message(UplinkError e) noexcept {
    return e == UplinkError::message_rejected || e == UplinkError::message_unpublishable;
}

const char* to_string(UplinkError e) noexcept {
    switch (e) {
        case UplinkError::resolve_failed: return "resolve_failed";
        case UplinkError::connect_failed: return "connect_failed";
        case UplinkError::connect_timeout: return "connect_timeout";
        case UplinkError::connection_lost: return "connection_lost";
        case UplinkError::keepalive_timeout: return "keepalive_timeout";
        case UplinkError::progress_timeout: return "progress_timeout";
        case UplinkError::session_taken_over: return "session_taken_over";
        case UplinkError::server_unavailable: return "server_unavailable";
        case UplinkError::server_busy: return "server_busy";
        case UplinkError::server_shutting_down: return "server_shutting_down";
        case UplinkError::quota_exceeded: return "quota_exceeded";
        case UplinkError::connection_rate_exceeded: return "connection_rate_exceeded";
        case UplinkError::server_moved: return "server_moved";
        case UplinkError::protocol_error: return "protocol_error";
        case UplinkError::out_of_memory: return "out_of_memory";
        case UplinkError::not_authorized: return "not_authorized";
        case UplinkError::bad_credentials: return "bad_credentials";
        case UplinkError::client_id_rejected: return "client_id_rejected";
        case UplinkError::banned: return "banned";
        case UplinkError::unsupported_protocol: return "unsupported_protocol";
        case UplinkError::tls_failed: return "tls_failed";
        case UplinkError::message_rejected: return "message_rejected";
        case UplinkError::message_unpublishable: return "message_unpublishable";
    }
    return "unknown";
}

std::string reason_code_text(int code) {
    switch (code) {
        case 0x00: return "Success";
        case 0x04: return "Disconnect with will message";
        case 0x10: return "No matching subscribers";
        case 0x80: return "Unspecified error";
        case 0x81: return "Malformed packet";
        case 0x82: return "Protocol error";
        case 0x83: return "Implementation specific error";
        case 0x84: return "Unsupported protocol version";
        case 0x85: return "Client identifier not valid";
        case 0x86: return "Bad user name or password";
        case 0x87: return "Not authorized";
        case 0x88: return "Server unavailable";
        case 0x89: return "Server busy";
        case 0x8A: return "Banned";
        case 0x8B: return "Server shutting down";
        case 0x8C: return "Bad authentication method";
        case 0x8D: return "Keep alive timeout";
        case 0x8E: return "Session taken over";
        case 0x8F: return "Topic filter invalid";
        case 0x90: return "Topic name invalid";
        case 0x91: return "Packet identifier in use";
        case 0x92: return "Packet identifier not found";
        case 0x93: return "Receive maximum exceeded";
        case 0x94: return "Topic alias invalid";
        case 0x95: return "Packet too large";
        case 0x96: return "Message rate too high";
        case 0x97: return "Quota exceeded";
        case 0x98: return "Administrative action";
        case 0x99: return "Payload format invalid";
        case 0x9A: return "Retain not supported";
        case 0x9B: return "QoS not supported";
        case 0x9C: return "Use another server";
        case 0x9D: return "Server moved";
        case 0x9F: return "Connection rate exceeded";
        case 0xA0: return "Maximum connect time";
        default: break;
    }
    char text[32];
    std::snprintf(text, sizeof text, "reason code 0x%02X", static_cast<unsigned>(code) & 0xFFu);
    return text;
}

int connack_v311_to_reason_code(int return_code) noexcept {
    switch (return_code) {
        case 0: return 0x00;
        case 1: return 0x84;
        case 2: return 0x85;
        case 3: return 0x88;
        case 4: return 0x86;
        case 5: return 0x87;
        default: return 0x80;
    }
}

UplinkError connack_error(int code) noexcept {
    switch (code) {
        case 0x84: return UplinkError::unsupported_protocol;
        case 0x85: return UplinkError::client_id_rejected;
        case 0x86:
        case 0x8C: return UplinkError::bad_credentials;
        case 0x87: return UplinkError::not_authorized;
        case 0x88: return UplinkError::server_unavailable;
        case 0x89: return UplinkError::server_busy;
        case 0x8A: return UplinkError::banned;
        case 0x97: return UplinkError::quota_exceeded;
        case 0x9C:
        case 0x9D: return UplinkError::server_moved;
        case 0x9F: return UplinkError::connection_rate_exceeded;
        default: return UplinkError::protocol_error;
    }
}

UplinkError disconnect_error(int code) noexcept {
    switch (code) {
        case 0x87: return UplinkError::not_authorized;
        case 0x89: return UplinkError::server_busy;
        case 0x8B: return UplinkError::server_shutting_down;
        case 0x8D: return UplinkError::keepalive_timeout;
        case 0x8E: return UplinkError::session_taken_over;
        case 0x93:
        case 0x96:
        case 0x97: return UplinkError::quota_exceeded;
        case 0x9C:
        case 0x9D: return UplinkError::server_moved;
        case 0x9F: return UplinkError::connection_rate_exceeded;
        case 0x81:
        case 0x82:
        case 0x80: return UplinkError::protocol_error;
        default: return UplinkError::connection_lost;
    }
}

UplinkError puback_error(int code) noexcept {
    switch (code) {
        case 0x89: return UplinkError::server_busy;
        case 0x93:
        case 0x96:
        case 0x97: return UplinkError::quota_exceeded;
        default: return UplinkError::message_rejected;
    }
}

}  // namespace outpost::uplink
