#include "mqtt_subscriber.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "outpost/core/log.hpp"

namespace outpost::audit {

namespace {

using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

// What the callbacks report to the loop. They run inside mosquitto_loop, on the loop's own thread.
struct LinkState {
    SequenceAudit* audit = nullptr;
    const SubscribeOptions* options = nullptr;
    bool connected = false;
    std::optional<int> connack;  // the last CONNACK's reason code
    Clock::time_point last_activity = Clock::now();
};

struct MosqDeleter {
    void operator()(mosquitto* m) const noexcept { mosquitto_destroy(m); }
};

std::string connack_words(int rc, int version) {
    return version == 5 ? mosquitto_reason_string(rc) : mosquitto_connack_string(rc);
}

std::optional<std::string> take(char* text) {
    if (text == nullptr) return std::nullopt;
    std::string s(text);
    std::free(text);
    return s;
}

UserProperties read_user_properties(const mosquitto_property* props) {
    UserProperties p;
    bool skip_first = false;
    for (const auto* at = props; at != nullptr; skip_first = true) {
        char* name = nullptr;
        char* value = nullptr;
        at = mosquitto_property_read_string_pair(at, MQTT_PROP_USER_PROPERTY, &name, &value, skip_first);
        if (at == nullptr) break;
        const auto n = take(name);
        auto v = take(value);
        if (n == "gw")
            p.gw = std::move(v);
        else if (n == "ep")
            p.ep = std::move(v);
        else if (n == "seq")
            p.seq = std::move(v);
    }
    return p;
}

void on_connect(mosquitto* mosq, void* obj, int rc, int /*flags*/, const mosquitto_property* /*props*/) {
    auto& s = *static_cast<LinkState*>(obj);
    s.connack = rc;
    if (rc != 0) return;
    s.connected = true;
    s.last_activity = Clock::now();
    s.audit->note_connection();
    std::vector<char*> topics;
    for (const auto& t : s.options->topics) topics.push_back(const_cast<char*>(t.c_str()));
    const int src = mosquitto_subscribe_multiple(mosq, nullptr, static_cast<int>(topics.size()), topics.data(),
                                                 s.options->qos, 0, nullptr);
    if (src != MOSQ_ERR_SUCCESS) core::log_warn("audit.subscribe_failed", mosquitto_strerror(src));
}

void on_disconnect(mosquitto* /*mosq*/, void* obj, int rc, const mosquitto_property* /*props*/) {
    auto& s = *static_cast<LinkState*>(obj);
    // rc: a libmosquitto error for a lost connection, a reason code (0x80 and up) for a broker's
    // MQTT 5 DISCONNECT, 0 when the audit itself disconnected.
    if (s.connected && rc != 0) {
        core::log_warn("audit.disconnected", "connection to the broker lost; reconnecting",
                       {{"reason", rc >= 0x80 ? mosquitto_reason_string(rc) : mosquitto_strerror(rc)}});
    }
    s.connected = false;
}

void on_subscribe(mosquitto* /*mosq*/, void* obj, int /*mid*/, int count, const int* granted,
                  const mosquitto_property* /*props*/) {
    const auto& s = *static_cast<LinkState*>(obj);
    std::vector<int> qos(granted, granted + count);
    // 0x80 and above: the broker refused that filter.
    const bool refused = std::any_of(qos.begin(), qos.end(), [](int q) { return q >= 0x80; });
    if (refused)
        core::log_warn("audit.subscribe_refused", "the broker refused a topic filter", {{"granted", qos}});
    else
        core::log_info("audit.subscribed", "subscribed", {{"topics", s.options->topics}, {"granted", qos}});
}

void on_message(mosquitto* /*mosq*/, void* obj, const mosquitto_message* m, const mosquitto_property* props) {
    auto& s = *static_cast<LinkState*>(obj);
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    s.last_activity = Clock::now();
    std::optional<UserProperties> properties;
    if (s.options->mqtt_version == 5) properties = read_user_properties(props);
    const std::string_view payload(static_cast<const char*>(m->payload), m->payloadlen > 0 ? m->payloadlen : 0);
    const std::string_view topic = m->topic != nullptr ? m->topic : "";
    if (core::log_enabled(core::LogLevel::debug)) {
        core::log(core::LogLevel::debug, "audit.message", "received", {{"topic", topic}, {"bytes", payload.size()}});
    }
    s.audit->feed(Arrival{now, topic, payload, properties});
}

void check(int rc, const char* what) {
    if (rc != MOSQ_ERR_SUCCESS) throw AuditStartError(std::string(what) + ": " + mosquitto_strerror(rc));
}

std::unique_ptr<mosquitto, MosqDeleter> make_client(const SubscribeOptions& o, LinkState& state) {
    static std::once_flag once;
    std::call_once(once, [] { mosquitto_lib_init(); });
    const bool persistent = !o.client_id.empty();
    std::unique_ptr<mosquitto, MosqDeleter> mosq(
        mosquitto_new(persistent ? o.client_id.c_str() : nullptr, !persistent, &state));
    if (!mosq) throw AuditStartError("cannot create an MQTT client");
    check(mosquitto_int_option(mosq.get(), MOSQ_OPT_PROTOCOL_VERSION,
                               o.mqtt_version == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311),
          "MQTT version");
    if (o.username) {
        check(mosquitto_username_pw_set(mosq.get(), o.username->c_str(), o.password ? o.password->c_str() : nullptr),
              "username");
    }
    if (o.cafile || o.capath) {
        check(mosquitto_tls_set(mosq.get(), o.cafile ? o.cafile->c_str() : nullptr,
                                o.capath ? o.capath->c_str() : nullptr, nullptr, nullptr, nullptr),
              "TLS settings");
    }
    mosquitto_connect_v5_callback_set(mosq.get(), on_connect);
    mosquitto_disconnect_v5_callback_set(mosq.get(), on_disconnect);
    mosquitto_subscribe_v5_callback_set(mosq.get(), on_subscribe);
    mosquitto_message_v5_callback_set(mosq.get(), on_message);
    return mosq;
}

int connect(mosquitto* mosq, const SubscribeOptions& o) {
    mosquitto_property* props = nullptr;
    if (o.mqtt_version == 5 && !o.client_id.empty()) {
        mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, o.session_expiry_s);
    }
    const int rc = mosquitto_connect_bind_v5(mosq, o.host.c_str(), o.port, o.keepalive_s, nullptr, props);
    mosquitto_property_free_all(&props);
    return rc;
}

}  // namespace

void subscribe_and_audit(const SubscribeOptions& o, SequenceAudit& audit, const volatile std::sig_atomic_t& stop) {
    LinkState state;
    state.audit = &audit;
    state.options = &o;
    auto mosq = make_client(o, state);
    const auto where = o.host + ":" + std::to_string(o.port);

    // Start-up: the first CONNACK within the connect timeout, or a clear reason why not.
    const auto start = Clock::now();
    int rc = connect(mosq.get(), o);
    if (rc != MOSQ_ERR_SUCCESS) {
        throw AuditStartError("cannot connect to " + where + ": " +
                              (rc == MOSQ_ERR_ERRNO ? std::strerror(errno) : mosquitto_strerror(rc)));
    }
    while (!state.connack && !stop) {
        rc = mosquitto_loop(mosq.get(), 100, 1);
        if (rc != MOSQ_ERR_SUCCESS && !state.connack) {
            throw AuditStartError("connection to " + where + " failed: " + mosquitto_strerror(rc));
        }
        if (Clock::now() - start > std::chrono::seconds(o.connect_timeout_s)) {
            throw AuditStartError("no CONNACK from " + where + " within " + std::to_string(o.connect_timeout_s) + " s");
        }
    }
    if (state.connack && *state.connack != 0) {
        throw AuditStartError("the broker at " + where +
                              " refused the connection: " + connack_words(*state.connack, o.mqtt_version));
    }
    core::log_info("audit.connected", "connected", {{"broker", where}, {"mqtt", o.mqtt_version}});

    // Running: up (looping), connecting (a reconnect waits for its CONNACK) or down (waits a second).
    enum class Link { up, connecting, down } link = Link::up;
    const auto began = Clock::now();
    state.last_activity = began;
    auto since = began;  // when the current link state began
    while (!stop) {
        const auto now = Clock::now();
        if (o.duration_s && Seconds(now - began).count() >= *o.duration_s) break;
        if (o.idle_s && Seconds(now - state.last_activity).count() >= *o.idle_s) break;
        if (link == Link::down) {
            if (now - since < std::chrono::seconds(1)) {
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
                continue;
            }
            state.connack.reset();
            link = mosquitto_reconnect(mosq.get()) == MOSQ_ERR_SUCCESS ? Link::connecting : Link::down;
            since = now;
            continue;
        }
        rc = mosquitto_loop(mosq.get(), 100, 1);
        if (link == Link::connecting && state.connack) {
            if (*state.connack == 0) {
                link = Link::up;
                core::log_info("audit.reconnected", "subscribed again", {{"broker", where}});
            } else {
                core::log_warn("audit.refused", connack_words(*state.connack, o.mqtt_version), {{"broker", where}});
            }
        }
        const bool timed_out = link == Link::connecting && now - since > std::chrono::seconds(o.connect_timeout_s);
        if (rc != MOSQ_ERR_SUCCESS || timed_out || (state.connack && *state.connack != 0)) {
            if (timed_out || (state.connack && *state.connack != 0)) mosquitto_disconnect(mosq.get());
            link = Link::down;
            since = Clock::now();
        }
    }
    state.connected = false;
    mosquitto_disconnect(mosq.get());
    // Let the DISCONNECT go out; nothing is awaited.
    mosquitto_loop(mosq.get(), 50, 1);
}

}  // namespace outpost::audit
