#include "outpost/uplink/uplink.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <mutex>
#include <random>

#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <openssl/ssl.h>

#include "outpost/core/log.hpp"
#include "outpost/core/wall_clock.hpp"
#include "outpost/uplink/envelope.hpp"
#include "tls_context.hpp"

namespace outpost::uplink {
namespace {

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

struct Failure {
    UplinkError error;
    std::string detail;
};

// A failed libmosquitto call as an UplinkError with its reason in words; `err` is errno captured
// right after the call, `connected` whether a CONNACK had been received.
Failure failure(int rc, int err, int keepalive_s, bool connected) {
    switch (rc) {
        case MOSQ_ERR_TLS:
        case MOSQ_ERR_TLS_HANDSHAKE:
            if (auto why = tls_verify_failure(); !why.empty()) return {UplinkError::tls_failed, "TLS: " + why};
            return {UplinkError::connect_failed,
                    std::string(mosquitto_strerror(rc)) + (last_library_error.empty() ? "" : " " + last_library_error)};
        case MOSQ_ERR_KEEPALIVE:
            return {UplinkError::keepalive_timeout,
                    "nothing received from the broker for 1.5 x " + std::to_string(keepalive_s) + " s"};
        case MOSQ_ERR_NOMEM: return {UplinkError::out_of_memory, "libmosquitto is out of memory"};
        case MOSQ_ERR_EAI: return {UplinkError::resolve_failed, "the broker's host name did not resolve"};
        case MOSQ_ERR_PROTOCOL:
        case MOSQ_ERR_MALFORMED_PACKET: return {UplinkError::protocol_error, mosquitto_strerror(rc)};
        default: break;
    }
    const auto kind = connected ? UplinkError::connection_lost : UplinkError::connect_failed;
    if ((rc == MOSQ_ERR_ERRNO || rc == MOSQ_ERR_CONN_LOST) && err != 0) {
        return {kind, std::string("connection closed: ") + std::strerror(err)};
    }
    if (rc == MOSQ_ERR_ERRNO || rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_NO_CONN) {
        return {kind, "connection closed by the broker or the network"};
    }
    return {kind, mosquitto_strerror(rc)};
}

// Why mosquitto_publish refused a message: for good (this message), or for now (the link).
UplinkError publish_error(int rc) {
    switch (rc) {
        case MOSQ_ERR_NOMEM: return UplinkError::out_of_memory;
        case MOSQ_ERR_NO_CONN:
        case MOSQ_ERR_CONN_LOST:
        case MOSQ_ERR_ERRNO: return UplinkError::connection_lost;
        default: return UplinkError::message_unpublishable;
    }
}

// Where the link's day and month totals are kept in the outbox (committed with the readings).
constexpr const char* usage_day_key = "link:day";
constexpr const char* usage_day_bytes_key = "link:day_bytes";
constexpr const char* usage_month_key = "link:month";
constexpr const char* usage_month_bytes_key = "link:month_bytes";

const char* loss_reason(UplinkError e) {
    return e == UplinkError::message_rejected ? "rejected_by_broker" : "unpublishable";
}

DeliveryOptions delivery_options(const UplinkOptions& o, const std::vector<BrokerAddress>& addresses) {
    DeliveryOptions d;
    d.addresses.clear();
    for (const auto& a : addresses) d.addresses.push_back(a.host + ":" + std::to_string(a.port));
    d.window = o.inflight_window;
    d.backoff_initial = o.backoff_initial;
    d.backoff_max = o.backoff_max;
    d.connect_timeout = o.connect_timeout;
    d.stable_after = o.stable_after;
    d.progress_timeout = o.progress_timeout;
    d.failback_after = o.failback_after;
    d.health_interval = o.health_interval;
    d.seed = random_seed();
    d.gateway_id = o.gateway_id;
    d.batch = o.batch;
    d.live_first = o.live_first;
    d.max_bytes_per_s = o.max_bytes_per_s;
    d.max_inflight_bytes = o.max_inflight_bytes;
    d.budget = o.budget;
    return d;
}

std::vector<BrokerAddress> all_addresses(const UplinkOptions& o) {
    std::vector<BrokerAddress> all{{o.host, o.port, std::nullopt}};
    all.insert(all.end(), o.alternates.begin(), o.alternates.end());
    return all;
}

}  // namespace

Uplink::Uplink(boost::asio::io_context& io, UplinkOptions options, outbox::Outbox& outbox)
    : io_(io),
      options_(std::move(options)),
      outbox_(outbox),
      source_(outbox),
      addresses_(all_addresses(options_)),
      machine_(delivery_options(options_, addresses_), source_),
      status_topic_(options_.status_topic.empty() ? "outpost/" + options_.gateway_id : options_.status_topic),
      socket_(io),
      machine_timer_(io),
      tick_timer_(io) {
    init_library_once();
    if (options_.client_id.empty()) options_.client_id = "outpost-" + options_.gateway_id;
    payload_.reserve(256);
    // The day's and month's use so far, as the last run left it.
    usage_.day = outbox_.position(usage_day_key).value_or(0);
    usage_.day_bytes = static_cast<std::uint64_t>(outbox_.position(usage_day_bytes_key).value_or(0));
    usage_.month = outbox_.position(usage_month_key).value_or(0);
    usage_.month_bytes = static_cast<std::uint64_t>(outbox_.position(usage_month_bytes_key).value_or(0));
}

Uplink::~Uplink() {
    alive_.reset();
    connector_.join();  // waits for a connect in progress (at most the resolver's timeout)
    close_handle(false);
}

void Uplink::HandleDeleter::operator()(mosquitto* m) const noexcept { mosquitto_destroy(m); }

void Uplink::set_health_source(std::function<std::string()> source) { health_source_ = std::move(source); }

void Uplink::set_commit_request(std::function<void()> request) { commit_request_ = std::move(request); }

UplinkStats Uplink::stats() const noexcept {
    auto s = machine_.stats();
    s.payload_bytes = payload_bytes_;
    return s;
}

const BrokerAddress& Uplink::address(std::size_t i) const { return addresses_[i % addresses_.size()]; }

const TlsOptions& Uplink::tls_for(std::size_t i) const {
    const auto& a = address(i);
    return a.tls ? *a.tls : options_.tls;
}

void Uplink::start() {
    started_ = std::chrono::steady_clock::now();
    stopped_ = false;
    account_usage();  // a budget spent earlier today holds from the start
    feed(event::Start{});
    tick();
}

void Uplink::stop() {
    feed(event::Stop{});
    stopped_ = true;
    machine_timer_.cancel();
    tick_timer_.cancel();
    close_handle(false);
    account_usage();  // the last connection's bytes, into the day's and month's totals
}

void Uplink::notify() { feed(event::OutboxChanged{}); }

void Uplink::feed(Event e, std::uint64_t generation) {
    queue_.push_back({generation, std::move(e)});
    run_queue();
}

void Uplink::run_queue() {
    if (feeding_) return;
    feeding_ = true;
    while (!queue_.empty()) {
        auto q = std::move(queue_.front());
        queue_.pop_front();
        if (q.generation != 0 && q.generation != generation_) continue;  // from a closed handle
        actions_.clear();
        machine_.handle(q.event, Clock::now(), actions_);
        // execute() queues what it causes (Published, PublishRefused) instead of feeding it, so
        // one batch of actions runs to its end before the next event.
        for (std::size_t i = 0; i < actions_.size(); ++i) execute(actions_[i]);
        take_incoming();
    }
    feeding_ = false;
    arm_write();
    if (commit_request_ && outbox_.pending_acks() >= ack_commit_batch) commit_request_();
}

void Uplink::take_incoming() {
    // libmosquitto callbacks (a QoS 0 message written inside the publish call) come after what
    // the calls that triggered them queued.
    for (auto& e : incoming_) queue_.push_back({generation_, std::move(e)});
    incoming_.clear();
}

void Uplink::execute(Action& a) {
    if (auto* p = std::get_if<action::Publish>(&a)) {
        publish(p->message);
    } else if (auto* b = std::get_if<action::PublishBatch>(&a)) {
        publish_batch(b->batch);
    } else if (auto* ack = std::get_if<action::Acknowledge>(&a)) {
        outbox_.acknowledge(ack->seq, ack->priority, ack->stored_bytes);
    } else if (auto* d = std::get_if<action::Discard>(&a)) {
        outbox_.discard(d->seq, d->priority, loss_reason(d->error));
    } else if (auto* t = std::get_if<action::ArmTimer>(&a)) {
        arm_timer(t->at);
    } else if (auto* c = std::get_if<action::Connect>(&a)) {
        open(c->address);
    } else if (auto* s = std::get_if<action::PublishStatus>(&a)) {
        publish_status(s->online);
    } else if (std::holds_alternative<action::PublishHealth>(a)) {
        publish_health();
    } else if (auto* cl = std::get_if<action::Close>(&a)) {
        close_handle(cl->graceful);
    }
}

void Uplink::publish(core::StoredMessage& m) {
    if (!mosq_) return;  // closed earlier in this batch: the machine expects nothing back
    render_payload(payload_, options_.gateway_id, m.epoch, m.seq, m.message.body);
    mosquitto_property* props = nullptr;
    if (options_.protocol == MqttProtocol::v5) {
        char seq_text[24];
        char epoch_text[16];
        *std::to_chars(seq_text, seq_text + sizeof seq_text - 1, m.seq).ptr = '\0';
        *std::to_chars(epoch_text, epoch_text + sizeof epoch_text - 1, m.epoch).ptr = '\0';
        mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, "gw", options_.gateway_id.c_str());
        mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, "seq", seq_text);
        mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, "ep", epoch_text);
    }
    publish_payload(m.message.topic, m.message.qos, m.message.retain, props, m.seq, m.message.priority,
                    m.message.created_ns);
}

void Uplink::publish_batch(EncodedBatch& b) {
    if (!mosq_) return;
    // The payload says who and which seqs: no user properties (they would cost 30 bytes a message).
    payload_.swap(b.payload);
    publish_payload(b.topic, b.qos, false, nullptr, b.members.front().seq, b.priority, b.oldest_created_ns);
}

bool Uplink::publish_payload(const std::string& topic, int qos, bool retain, mosquitto_property* props,
                             std::uint64_t first_seq, std::uint8_t priority, std::int64_t oldest_created_ns) {
    // MQTT 5 message expiry: what is left of the oldest reading's TTL, so that a broker holding the
    // message for an offline subscriber drops it when the outbox would have.
    if (options_.protocol == MqttProtocol::v5) {
        if (const auto ttl = outbox_.ttl(priority)) {
            const auto age_s = std::max<std::int64_t>(0, (core::wall_clock_ns() - oldest_created_ns) / 1'000'000'000);
            const auto left = std::max<std::int64_t>(1, ttl->count() - age_s);
            mosquitto_property_add_int32(&props, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL, static_cast<std::uint32_t>(left));
        }
    }
    int mid = 0;
    const int rc = mosquitto_publish_v5(mosq_, &mid, topic.c_str(), static_cast<int>(payload_.size()), payload_.data(),
                                        qos, retain, props);
    mosquitto_property_free_all(&props);
    if (rc != MOSQ_ERR_SUCCESS) {
        queue_.push_back({generation_, event::PublishRefused{publish_error(rc), mosquitto_strerror(rc)}});
        return false;
    }
    queue_.push_back({generation_, event::Published{mid}});
    payload_bytes_ += payload_.size();
    if (!first_publish_logged_) {
        first_publish_logged_ = true;
        const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_).count();
        core::log_info("uplink.first_publish", "first message handed to the broker", {{"ms_since_start", ms}, {"seq", first_seq}});
    }
    return true;
}

void Uplink::account_usage() {
    meter_.sample();
    usage_.total = meter_.total();
    const auto wire = usage_.total.wire_bytes();
    const auto delta = wire - accounted_;
    accounted_ = wire;
    const auto now = core::wall_clock_ns();
    const std::time_t t = static_cast<std::time_t>(now / 1'000'000'000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    const std::int64_t day = t / 86'400;
    const std::int64_t month = (tm.tm_year + 1900) * 12 + tm.tm_mon;
    const bool rolled = day != usage_.day || month != usage_.month;
    if (day != usage_.day) usage_.day_bytes = 0;
    if (month != usage_.month) usage_.month_bytes = 0;
    usage_.day = day;
    usage_.month = month;
    usage_.day_bytes += delta;
    usage_.month_bytes += delta;
    if (delta > 0 || rolled) {
        outbox_.set_position(usage_day_key, usage_.day);
        outbox_.set_position(usage_day_bytes_key, static_cast<std::int64_t>(usage_.day_bytes));
        outbox_.set_position(usage_month_key, usage_.month);
        outbox_.set_position(usage_month_bytes_key, static_cast<std::int64_t>(usage_.month_bytes));
    }
    feed(event::LinkUsage{usage_.day_bytes, usage_.month_bytes});
}

void Uplink::publish_status(bool online) {
    if (!mosq_) return;
    nlohmann::json j = {{"gw", options_.gateway_id}, {"state", online ? "online" : "offline"}};
    if (online) {
        j["address"] = address(address_).host + ":" + std::to_string(address(address_).port);
        j["connected_at"] = core::utc_text(core::wall_clock_ns());
    } else {
        j["reason"] = "stopped";
    }
    std::string text = j.dump();
    if (online && !options_.birth_members.empty()) {
        text.pop_back();
        text += "," + options_.birth_members + "}";
    }
    const auto topic = status_topic_ + "/status";
    (void)mosquitto_publish_v5(mosq_, nullptr, topic.c_str(), static_cast<int>(text.size()), text.data(), 1, true, nullptr);
}

void Uplink::publish_health() {
    if (!mosq_ || !health_source_) return;
    const std::string text = health_source_();
    const auto topic = status_topic_ + "/health";
    (void)mosquitto_publish_v5(mosq_, nullptr, topic.c_str(), static_cast<int>(text.size()), text.data(), 0, true, nullptr);
}

void Uplink::open(std::size_t index) {
    close_handle(false);
    address_ = index;
    const auto& where = address(index);
    const auto gen = generation_;
    auto fail = [&](UplinkError e, std::string why) {
        // Reported as an event once this batch of actions is done.
        queue_.push_back({gen, event::Lost{e, std::move(why)}});
    };
    Handle handle(mosquitto_new(options_.client_id.c_str(), true, this));
    if (!handle) {
        fail(UplinkError::out_of_memory, "mosquitto_new failed");
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
    // The cloud learns that this gateway is gone when the broker loses it: "offline", retained.
    const std::string will = nlohmann::json{{"gw", options_.gateway_id}, {"state", "offline"}, {"reason", "connection lost"}}.dump();
    const auto will_topic = status_topic_ + "/status";
    if (const int rc = mosquitto_will_set_v5(m, will_topic.c_str(), static_cast<int>(will.size()), will.data(), 1, true, nullptr);
        rc != MOSQ_ERR_SUCCESS) {
        fail(UplinkError::protocol_error,
             std::string("cannot set the last will: ") + mosquitto_strerror(rc));
        return;
    }
    const auto& tls = tls_for(index);
    if (tls.enabled) {
        // Our own, complete OpenSSL context (CA, client certificate, host-name check) so that a
        // refused certificate is logged with OpenSSL's reason; libmosquitto keeps a reference.
        // Its defaults stay off: they would replace our verify callback with its own, which in
        // 2.0.11 rejects every certificate of a context it did not create.
        std::string error;
        SSL_CTX* ctx = make_tls_context(tls, where.host, error);
        if (!ctx) {
            fail(UplinkError::tls_failed, "TLS set-up failed: " + error);
            return;
        }
        int set = mosquitto_int_option(m, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
        if (set == MOSQ_ERR_SUCCESS) set = mosquitto_void_option(m, MOSQ_OPT_SSL_CTX, ctx);
        SSL_CTX_free(ctx);
        if (set != MOSQ_ERR_SUCCESS) {
            fail(UplinkError::tls_failed, std::string("TLS set-up failed: ") + mosquitto_strerror(set));
            return;
        }
    }
    connecting_ = true;
    // libmosquitto resolves the host name with a blocking getaddrinfo (it must: TLS verifies and
    // sends that name), which can hang for the resolver's timeout while the link is down. It runs
    // on the connector thread; the handle comes back to this thread with the result. The machine's
    // connect timeout covers a resolver that never answers.
    boost::asio::post(connector_, [this, gen, host = where.host, port = where.port,
                                   alive = std::weak_ptr<char>(alive_), handle = std::move(handle)]() mutable {
        clear_failure_records();
        errno = 0;
        const int rc = mosquitto_connect_bind_async(handle.get(), host.c_str(), port, options_.keepalive_s, nullptr);
        const int err = errno;
        // On loopback the handshake can fail inside the connect, on this thread: say why here.
        std::optional<Failure> tls_failure;
        if (rc == MOSQ_ERR_TLS || rc == MOSQ_ERR_TLS_HANDSHAKE) tls_failure = failure(rc, err, options_.keepalive_s, false);
        boost::asio::post(io_, [this, gen, alive = std::move(alive), handle = std::move(handle), rc, err,
                                tls_failure = std::move(tls_failure)]() mutable {
            if (alive.expired() || gen != generation_ || !connecting_) return;
            if (tls_failure) {
                connecting_ = false;
                feed(event::Lost{tls_failure->error, tls_failure->detail}, gen);
                return;
            }
            socket_started(std::move(handle), rc, err);
        });
    });
}

void Uplink::socket_started(Handle handle, int rc, int err) {
    mosq_ = handle.release();
    const auto gen = generation_;
    const int fd = mosquitto_socket(mosq_);
    if (rc != MOSQ_ERR_SUCCESS || fd < 0) {
        connecting_ = false;
        auto f = failure(rc == MOSQ_ERR_SUCCESS ? MOSQ_ERR_NO_CONN : rc, err, options_.keepalive_s, false);
        if (rc == MOSQ_ERR_ERRNO && err != 0) f.detail = std::strerror(err);
        feed(event::Lost{f.error, "connect to " + machine_.options().addresses[address_] + " failed: " + f.detail}, gen);
        return;
    }
    meter_.attach(fd);
    boost::system::error_code ec;
    socket_.assign(fd, ec);
    if (ec) {
        feed(event::Lost{UplinkError::connect_failed, "cannot watch the MQTT socket: " + ec.message()}, gen);
        return;
    }
    wait_read();
    arm_write();
}

void Uplink::close_handle(bool graceful) {
    write_waiting_ = false;
    connecting_ = false;
    // Before the DISCONNECT: libmosquitto closes the socket once it is written.
    meter_.detach();
    if (mosq_ && graceful) {
        mosquitto_disconnect(mosq_);
        mosquitto_loop_write(mosq_, 1);
    }
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
    incoming_.clear();
    ++generation_;
}

void Uplink::arm_timer(Clock::time_point at) {
    machine_timer_.cancel();
    if (at == Clock::time_point::max() || stopped_) return;
    machine_timer_.expires_at(at);
    machine_timer_.async_wait([this](boost::system::error_code ec) {
        if (!ec && !stopped_) feed(event::TimerFired{});
    });
}

void Uplink::lost(UplinkError error, std::string detail) {
    feed(event::Lost{error, std::move(detail)}, generation_);
}

void Uplink::wait_read() {
    const auto gen = generation_;
    socket_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this, gen](boost::system::error_code ec) {
        if (ec || gen != generation_ || !mosq_) return;
        read_packets();
        if (gen == generation_ && mosq_) wait_read();
    });
}

bool Uplink::tcp_connect_failed() {
    if (!connecting_) return false;
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
    lost(UplinkError::connect_failed, "connect to " + machine_.options().addresses[address_] + " failed: " + std::strerror(err));
    return true;
}

void Uplink::read_packets() {
    if (tcp_connect_failed()) return;
    clear_failure_records();
    errno = 0;
    const auto gen = generation_;
    const int rc = mosquitto_loop_read(mosq_, 1);
    const int err = errno;
    take_incoming();
    if (rc != MOSQ_ERR_SUCCESS) {
        auto f = failure(rc, err, options_.keepalive_s, !connecting_);
        queue_.push_back({gen, event::Lost{f.error, std::move(f.detail)}});
    }
    run_queue();
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
        take_incoming();
        if (rc != MOSQ_ERR_SUCCESS) {
            auto f = failure(rc, err, options_.keepalive_s, !connecting_);
            queue_.push_back({gen, event::Lost{f.error, "write failed: " + f.detail}});
        }
        run_queue();
    });
}

void Uplink::tick() {
    tick_timer_.expires_after(std::chrono::seconds(1));
    tick_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || stopped_) return;
        if (mosq_) {
            const auto gen = generation_;
            // libmosquitto reads at most as many packets per call as it has messages in flight, and
            // Asio's epoll is edge-triggered: a packet left behind (a PINGRESP after the last PUBACK)
            // would wait for the next arrival. Collect it here, well within the keepalive.
            if (!connecting_) read_packets();
            if (mosq_ && gen == generation_) {
                clear_failure_records();
                errno = 0;
                const int rc = mosquitto_loop_misc(mosq_);
                const int err = errno;
                take_incoming();
                if (rc != MOSQ_ERR_SUCCESS) {
                    auto f = failure(rc, err, options_.keepalive_s, !connecting_);
                    queue_.push_back({gen, event::Lost{f.error, std::move(f.detail)}});
                }
            }
        }
        // Also a periodic look at the outbox: rows may have come back without a commit (salvage).
        feed(event::OutboxChanged{});
        account_usage();
        tick();
    });
}

void Uplink::on_connect_cb(mosquitto*, void* self, int rc, int, const mqtt5__property* props) {
    auto* u = static_cast<Uplink*>(self);
    u->connecting_ = false;
    // libmosquitto's text only explains a failed connect or handshake; while connected it would
    // format a line for every packet (a tenth of the drain's instructions).
    mosquitto_log_callback_set(u->mosq_, nullptr);
    const int code = u->options_.protocol == MqttProtocol::v5 ? rc : connack_v311_to_reason_code(rc);
    std::uint16_t receive_maximum = 0;
    if (props) mosquitto_property_read_int16(props, MQTT_PROP_RECEIVE_MAXIMUM, &receive_maximum, false);
    u->incoming_.push_back(event::ConnAck{code, receive_maximum});
}

void Uplink::on_disconnect_cb(mosquitto*, void* self, int rc, const mqtt5__property*) {
    auto* u = static_cast<Uplink*>(self);
    // A DISCONNECT from the broker carries its reason code (>= 0x80); a local failure a
    // libmosquitto error, which the failed loop call reports with its errno.
    if (rc >= 0x80) {
        u->incoming_.push_back(event::Lost{disconnect_error(rc), "the broker ended the session: " + reason_code_text(rc)});
    }
}

void Uplink::on_publish_cb(mosquitto*, void* self, int mid, int reason, const mqtt5__property*) {
    static_cast<Uplink*>(self)->incoming_.push_back(event::Acked{mid, reason});
}

}  // namespace outpost::uplink
