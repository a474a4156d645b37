#include "outpost/uplink/uplink.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>
#include <random>
#include <stdexcept>

#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <openssl/ssl.h>

#include "outpost/core/log.hpp"
#include "outpost/uplink/envelope.hpp"
#include "tls_context.hpp"

namespace outpost::uplink {
namespace {

constexpr std::size_t fetch_batch = 512;

void init_library_once() {
    static std::once_flag once;
    std::call_once(once, [] { mosquitto_lib_init(); });
}

std::uint64_t random_seed() {
    std::random_device rd;
    return (std::uint64_t{rd()} << 32) ^ rd();
}

// libmosquitto's last error line (MOSQ_LOG_ERR), e.g. OpenSSL's error text for a TLS failure
// that is not a certificate problem. Per thread, like the certificate check's record: cleared
// before a libmosquitto call, read after it.
thread_local std::string last_library_error;

void record_library_log(mosquitto*, void*, int level, const char* text) {
    if (level == MOSQ_LOG_ERR && text) last_library_error = text;
}

void clear_failure_records() {
    clear_tls_verify_failure();
    last_library_error.clear();
}

// The reason for a failed libmosquitto call, `err` being errno captured right after it.
std::string failure_text(int rc, int err, int keepalive_s) {
    if (rc == MOSQ_ERR_TLS || rc == MOSQ_ERR_TLS_HANDSHAKE) {
        if (auto why = tls_verify_failure(); !why.empty()) return "TLS: " + why;
        return std::string(mosquitto_strerror(rc)) + (last_library_error.empty() ? "" : " " + last_library_error);
    }
    if (rc == MOSQ_ERR_KEEPALIVE) {
        return "keepalive timeout: nothing received from the broker for 1.5 x " + std::to_string(keepalive_s) + " s";
    }
    if (rc == MOSQ_ERR_ERRNO || rc == MOSQ_ERR_CONN_LOST) {
        if (err != 0) return std::string("connection closed: ") + std::strerror(err);
        return "connection closed by the broker or the network";
    }
    return mosquitto_strerror(rc);
}

}  // namespace

Uplink::Uplink(boost::asio::io_context& io, UplinkOptions options, outbox::Outbox& outbox)
    : io_(io),
      options_(std::move(options)),
      outbox_(outbox),
      socket_(io),
      retry_timer_(io),
      connect_timer_(io),
      tick_timer_(io),
      backoff_(options_.backoff_initial, options_.backoff_max, random_seed()),
      window_(options_.inflight_window) {
    init_library_once();
    if (options_.client_id.empty()) options_.client_id = "outpost-" + options_.gateway_id;
    payload_.reserve(256);
}

Uplink::~Uplink() {
    alive_.reset();
    connector_.join();  // waits for a connect in progress (at most the resolver's timeout)
    close_handle();
}

void Uplink::HandleDeleter::operator()(mosquitto* m) const noexcept { mosquitto_destroy(m); }

void Uplink::start() {
    started_ = std::chrono::steady_clock::now();
    state_ = State::idle;
    open();
    tick();
}

void Uplink::stop() {
    state_ = State::stopped;
    retry_timer_.cancel();
    connect_timer_.cancel();
    tick_timer_.cancel();
    if (mosq_ && stats_.connected) {
        mosquitto_disconnect(mosq_);
        mosquitto_loop_write(mosq_, 1);
    }
    close_handle();
    stats_.connected = false;
}

bool Uplink::drained() const {
    return stats_.connected && window_.empty() && ready_pos_ >= ready_.size() && outbox_.stats().rows == 0 &&
           outbox_.staged() == 0;
}

void Uplink::notify() {
    if (state_ == State::connected && !in_after_io_) after_io();
}

void Uplink::open() {
    close_handle();
    ++stats_.connect_attempts;
    Handle handle(mosquitto_new(options_.client_id.c_str(), true, this));
    if (!handle) {
        lost("mosquitto_new failed (out of memory?)");
        return;
    }
    mosquitto* m = handle.get();
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION,
                         options_.protocol == MqttProtocol::v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
    mosquitto_connect_v5_callback_set(m, &Uplink::on_connect_cb);
    mosquitto_disconnect_v5_callback_set(m, &Uplink::on_disconnect_cb);
    mosquitto_publish_v5_callback_set(m, &Uplink::on_publish_cb);
    mosquitto_log_callback_set(m, &record_library_log);
    if (!options_.username.empty()) {
        mosquitto_username_pw_set(m, options_.username.c_str(),
                                  options_.password.empty() ? nullptr : options_.password.c_str());
    }
    if (options_.tls.enabled) {
        // Our own, complete OpenSSL context (CA, client certificate, host-name check) so that a
        // refused certificate is logged with OpenSSL's reason; libmosquitto keeps a reference.
        // Its defaults stay off: they would replace our verify callback with its own, which in
        // 2.0.11 rejects every certificate of a context it did not create.
        std::string error;
        SSL_CTX* ctx = make_tls_context(options_.tls, options_.host, error);
        if (!ctx) {
            lost("TLS set-up failed: " + error);
            return;
        }
        int set = mosquitto_int_option(m, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
        if (set == MOSQ_ERR_SUCCESS) set = mosquitto_void_option(m, MOSQ_OPT_SSL_CTX, ctx);
        SSL_CTX_free(ctx);
        if (set != MOSQ_ERR_SUCCESS) {
            lost(std::string("TLS set-up failed: ") + mosquitto_strerror(set));
            return;
        }
    }
    connack_rc_ = -1;
    disconnect_seen_ = false;
    completions_.clear();
    state_ = State::resolving;
    const auto gen = ++generation_;
    connect_timer_.expires_after(options_.connect_timeout);
    connect_timer_.async_wait([this, gen](boost::system::error_code tec) {
        if (tec || gen != generation_) return;
        if (state_ == State::resolving) lost("the broker's address was not resolved and connected within the connect timeout");
        if (state_ == State::connecting) lost("no CONNACK within the connect timeout");
    });
    // libmosquitto resolves the host name with a blocking getaddrinfo (it must: TLS verifies and
    // sends that name), which can hang for the resolver's timeout while the link is down. It runs
    // on the connector thread; the handle comes back to this thread with the result.
    boost::asio::post(connector_, [this, gen, alive = std::weak_ptr<char>(alive_), handle = std::move(handle)]() mutable {
        clear_failure_records();
        errno = 0;
        const int rc = mosquitto_connect_bind_async(handle.get(), options_.host.c_str(), options_.port,
                                                    options_.keepalive_s, nullptr);
        const int err = errno;
        // On loopback the handshake can fail inside the connect, on this thread: say why here.
        std::string tls_reason;
        if (rc == MOSQ_ERR_TLS || rc == MOSQ_ERR_TLS_HANDSHAKE) tls_reason = failure_text(rc, err, options_.keepalive_s);
        boost::asio::post(io_, [this, gen, alive = std::move(alive), handle = std::move(handle), rc, err,
                                tls_reason = std::move(tls_reason)]() mutable {
            if (alive.expired() || gen != generation_ || state_ != State::resolving) return;
            if (!tls_reason.empty()) {
                lost("connect to " + options_.host + ":" + std::to_string(options_.port) + " failed: " + tls_reason);
                return;
            }
            socket_started(std::move(handle), rc, err);
        });
    });
}

void Uplink::socket_started(Handle handle, int rc, int err) {
    mosq_ = handle.release();
    const int fd = mosquitto_socket(mosq_);
    if (rc != MOSQ_ERR_SUCCESS || fd < 0) {
        lost("connect to " + options_.host + ":" + std::to_string(options_.port) + " failed: " +
             (rc == MOSQ_ERR_ERRNO ? std::strerror(err) : mosquitto_strerror(rc)));
        return;
    }
    boost::system::error_code ec;
    socket_.assign(fd, ec);
    if (ec) {
        lost("cannot watch the MQTT socket: " + ec.message());
        return;
    }
    state_ = State::connecting;
    wait_read();
    arm_write();
}

void Uplink::close_handle() {
    write_waiting_ = false;
    if (socket_.is_open()) {
        boost::system::error_code ignored;
        socket_.cancel(ignored);
        // libmosquitto owns the descriptor: release it from Asio without closing it.
        (void)socket_.release();
    }
    if (mosq_) {
        mosquitto_destroy(mosq_);
        mosq_ = nullptr;
    }
    ++generation_;
}

void Uplink::lost(const std::string& why) {
    if (state_ == State::stopped) return;
    const bool was_connected = stats_.connected;
    if (was_connected) {
        ++stats_.disconnects;
        core::log_warn("uplink.disconnected", "lost the broker connection; messages stay in the outbox",
                       {{"reason", why}, {"inflight", window_.size()}, {"backlog", outbox_.stats().rows}});
    } else {
        ++stats_.connect_failures;
    }
    close_handle();
    stats_.connected = false;
    window_.clear();
    stats_.inflight = 0;
    ready_.clear();
    ready_pos_ = 0;
    connect_timer_.cancel();
    schedule_reconnect();
    if (!was_connected) {
        core::log_warn("uplink.connect_failed", "could not connect to the broker",
                       {{"reason", why}, {"host", options_.host}, {"port", options_.port},
                        {"attempt", backoff_.attempts()}});
    }
}

const char* Uplink::connack_text(int rc) const {
    return options_.protocol == MqttProtocol::v5 ? mosquitto_reason_string(rc) : mosquitto_connack_string(rc);
}

void Uplink::schedule_reconnect() {
    state_ = State::waiting;
    const auto delay = backoff_.next();
    retry_timer_.expires_after(delay);
    const auto gen = generation_;
    core::log(core::LogLevel::debug, "uplink.retry", "next connection attempt scheduled", {{"delay_ms", delay.count()}});
    retry_timer_.async_wait([this, gen](boost::system::error_code ec) {
        if (!ec && gen == generation_ && state_ == State::waiting) open();
    });
}

void Uplink::wait_read() {
    const auto gen = generation_;
    socket_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this, gen](boost::system::error_code ec) {
        if (ec || gen != generation_ || !mosq_) return;
        if (!read_packets()) return;
        after_io();
        if (gen == generation_) wait_read();
    });
}

bool Uplink::tcp_connect_failed() {
    if (state_ != State::connecting) return false;
    // While the TCP connect is pending, a readiness event that leaves the socket unconnected
    // means the connect failed. libmosquitto's TLS handshake would otherwise retry writing to
    // the dead socket on every event, never reporting it.
    const int fd = mosquitto_socket(mosq_);
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) == 0) return false;
    int err = 0;
    socklen_t err_len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0 || err == 0) err = ECONNREFUSED;
    lost("connect to " + options_.host + ":" + std::to_string(options_.port) + " failed: " + std::strerror(err));
    return true;
}

bool Uplink::read_packets() {
    if (tcp_connect_failed()) return false;
    clear_failure_records();
    errno = 0;
    const int rc = mosquitto_loop_read(mosq_, 1);
    const int err = errno;
    if (rc == MOSQ_ERR_SUCCESS) return true;
    handle_completions();
    if (connack_rc_ > 0) {
        // A refusing CONNACK (bad credentials, banned client id...): libmosquitto reports the
        // closed connection, the reason code says why.
        lost(std::string("broker refused the connection: ") + connack_text(connack_rc_));
        return false;
    }
    lost(failure_text(rc, err, options_.keepalive_s));
    return false;
}

void Uplink::arm_write() {
    if (write_waiting_ || !mosq_ || !mosquitto_want_write(mosq_)) return;
    write_waiting_ = true;
    const auto gen = generation_;
    socket_.async_wait(boost::asio::posix::stream_descriptor::wait_write, [this, gen](boost::system::error_code ec) {
        if (gen != generation_) return;
        write_waiting_ = false;
        if (ec || !mosq_ || tcp_connect_failed()) return;
        clear_failure_records();
        errno = 0;
        const int rc = mosquitto_loop_write(mosq_, 1);
        const int err = errno;
        if (rc != MOSQ_ERR_SUCCESS) {
            lost("write failed: " + failure_text(rc, err, options_.keepalive_s));
            return;
        }
        after_io();
    });
}

void Uplink::handle_completions() {
    for (const auto& c : completions_) {
        const auto entry = window_.release(c.mid);
        if (!entry) continue;  // an ack for a packet of an earlier connection
        if (c.reason >= 0x80) {
            ++stats_.rejected;
            outbox_.discard(entry->seq, entry->priority, "rejected_by_broker");
            core::log_error("uplink.rejected", "the broker refused a message; it is recorded as a loss",
                            {{"seq", entry->seq}, {"reason_code", c.reason}, {"reason", mosquitto_reason_string(c.reason)}});
        } else {
            ++stats_.acknowledged;
            outbox_.acknowledge(entry->seq, entry->stored_bytes);
        }
    }
    completions_.clear();
    stats_.inflight = window_.size();
}

void Uplink::after_io() {
    if (!mosq_ || in_after_io_) return;
    in_after_io_ = true;
    for (;;) {
        handle_completions();
        if (disconnect_seen_) {
            in_after_io_ = false;
            lost("the broker ended the session");
            return;
        }
        if (connack_rc_ >= 0) {
            const int rc = connack_rc_;
            connack_rc_ = -1;
            if (rc != 0) {
                in_after_io_ = false;
                lost(std::string("broker refused the connection: ") + connack_text(rc));
                return;
            }
            state_ = State::connected;
            // libmosquitto formats a line for every packet while a log callback is set (a tenth of
            // the drain's instructions); its text only explains a failed connect or handshake.
            mosquitto_log_callback_set(mosq_, nullptr);
            stats_.connected = true;
            ++stats_.connects;
            backoff_.reset();
            connect_timer_.cancel();
            // Resend what the last connection left unacknowledged: start every priority over.
            cursor_.reset();
            ready_.clear();
            ready_pos_ = 0;
            core::log_info("uplink.connected", "connected to the broker",
                           {{"host", options_.host}, {"port", options_.port}, {"client_id", options_.client_id},
                            {"protocol", options_.protocol == MqttProtocol::v5 ? "mqtt5" : "mqtt3.1.1"},
                            {"backlog", outbox_.stats().rows}});
        }
        pump();
        if (!mosq_ || (completions_.empty() && !disconnect_seen_ && connack_rc_ < 0)) break;
    }
    in_after_io_ = false;
    arm_write();
}

void Uplink::pump() {
    if (state_ != State::connected || !mosq_) return;
    const bool v5 = options_.protocol == MqttProtocol::v5;
    char seq_text[24];
    char epoch_text[16];
    while (window_.room() > 0) {
        if (ready_pos_ >= ready_.size()) {
            ready_.clear();
            ready_pos_ = 0;
            if (outbox_.fetch(cursor_, std::min(fetch_batch, std::max<std::size_t>(window_.capacity(), 1)), ready_) == 0) {
                return;
            }
        }
        const auto& m = ready_[ready_pos_];
        render_payload(payload_, options_.gateway_id, m.epoch, m.seq, m.message.body);
        mosquitto_property* props = nullptr;
        if (v5) {
            const auto r = std::to_chars(seq_text, seq_text + sizeof seq_text - 1, m.seq);
            *r.ptr = '\0';
            mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, "gw", options_.gateway_id.c_str());
            mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, "seq", seq_text);
            const auto e = std::to_chars(epoch_text, epoch_text + sizeof epoch_text - 1, m.epoch);
            *e.ptr = '\0';
            mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, "ep", epoch_text);
        }
        int mid = 0;
        const int rc = mosquitto_publish_v5(mosq_, &mid, m.message.topic.c_str(), static_cast<int>(payload_.size()),
                                            payload_.data(), m.message.qos, m.message.retain, props);
        mosquitto_property_free_all(&props);
        if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_ERRNO) {
            disconnect_seen_ = true;  // handled by after_io's loop
            return;
        }
        ++ready_pos_;
        if (rc != MOSQ_ERR_SUCCESS) {
            // The message can never be sent as it is (too large for the broker, QoS not allowed...).
            ++stats_.rejected;
            outbox_.discard(m.seq, m.message.priority, "unpublishable");
            core::log_error("uplink.unpublishable", "a message cannot be published; it is recorded as a loss",
                            {{"seq", m.seq}, {"topic", m.message.topic}, {"error", mosquitto_strerror(rc)}});
            continue;
        }
        window_.add(mid, m.seq, m.message.priority,
                    static_cast<std::uint32_t>(m.message.topic.size() + m.message.body.size()));
        ++stats_.published;
        stats_.payload_bytes += payload_.size();
        if (!first_publish_logged_) {
            first_publish_logged_ = true;
            const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_).count();
            core::log_info("uplink.first_publish", "first message handed to the broker",
                           {{"ms_since_start", ms}, {"seq", m.seq}});
        }
    }
    stats_.inflight = window_.size();
}

void Uplink::tick() {
    tick_timer_.expires_after(std::chrono::seconds(1));
    tick_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || state_ == State::stopped) return;
        if (mosq_ && (state_ == State::connected || state_ == State::connecting)) {
            // libmosquitto reads at most as many packets per call as it has messages in flight, and
            // Asio's epoll is edge-triggered: a packet left behind (a PINGRESP after the last PUBACK)
            // would wait for the next arrival. Collect it here, well within the keepalive.
            if (state_ == State::connected && !read_packets()) {
                tick();
                return;
            }
            clear_failure_records();
            errno = 0;
            const int rc = mosquitto_loop_misc(mosq_);
            const int err = errno;
            if (rc != MOSQ_ERR_SUCCESS) {
                lost("keepalive: " + failure_text(rc, err, options_.keepalive_s));
            } else {
                after_io();
            }
        }
        tick();
    });
}

void Uplink::on_connect_cb(mosquitto*, void* self, int rc, int, const mqtt5__property*) {
    static_cast<Uplink*>(self)->connack_rc_ = rc;
}

void Uplink::on_disconnect_cb(mosquitto*, void* self, int, const mqtt5__property*) {
    static_cast<Uplink*>(self)->disconnect_seen_ = true;
}

void Uplink::on_publish_cb(mosquitto*, void* self, int mid, int reason, const mqtt5__property*) {
    static_cast<Uplink*>(self)->completions_.push_back({mid, reason});
}

}  // namespace outpost::uplink
