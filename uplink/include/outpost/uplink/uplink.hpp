#pragma once
// Drains the outbox to an MQTT broker with libmosquitto driven from the io_context (its
// external-loop API: no libmosquitto thread). Keeps an application-side in-flight window,
// acknowledges messages in the outbox only when the broker acknowledged them (PUBACK/PUBCOMP;
// for QoS 0, when written to the socket), and reconnects with exponential backoff and full jitter.
// Every connection starts from a fresh libmosquitto handle and resends, from the outbox, what
// the last one left unacknowledged, before anything newer at the same priority.
//
// Errors: a failed connection is logged with its reason and retried: OpenSSL's verify result for a
// refused certificate (an unknown CA reads differently from a host-name mismatch), the errno of a
// dead connection, a keepalive timeout as such, the broker's reason code for a refusing CONNACK.
//
// Thread: all members run on the io_context's thread; libmosquitto callbacks fire inside the
// loop calls this class makes on that thread. The one exception is the connect call itself
// (name resolution blocks), made on a private connector thread while this thread keeps
// ingesting; the handle is not touched here until it comes back (a TLS handshake that fails
// inside that connect is diagnosed on the connector thread and reported back with it).
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "outpost/core/backoff.hpp"
#include "outpost/outbox/outbox.hpp"
#include "outpost/uplink/inflight_window.hpp"

struct mosquitto;
struct mqtt5__property;

namespace outpost::uplink {

enum class MqttProtocol { v5, v311 };

struct TlsOptions {
    bool enabled = false;
    std::string ca_file;
    std::string cert_file;
    std::string key_file;
    bool verify_hostname = true;
};

struct UplinkOptions {
    std::string gateway_id;
    std::string host = "127.0.0.1";
    std::uint16_t port = 1883;
    std::string client_id;
    MqttProtocol protocol = MqttProtocol::v5;
    int keepalive_s = 30;
    std::string username;
    std::string password;
    TlsOptions tls;
    std::chrono::milliseconds backoff_initial{500};
    std::chrono::milliseconds backoff_max{60'000};
    std::chrono::milliseconds connect_timeout{10'000};
    std::size_t inflight_window = 256;
};

struct UplinkStats {
    std::uint64_t connect_attempts = 0;
    std::uint64_t connects = 0;
    std::uint64_t connect_failures = 0;
    std::uint64_t disconnects = 0;
    std::uint64_t published = 0;
    std::uint64_t acknowledged = 0;
    std::uint64_t rejected = 0;  // refused by the broker (reason code >= 0x80), recorded as losses
    std::uint64_t payload_bytes = 0;
    std::size_t inflight = 0;
    bool connected = false;
};

class Uplink {
public:
    // Calls mosquitto_lib_init() once per process; does not connect (start() does). Never throws for
    // the options: what makes a connection impossible (a TLS file that cannot be loaded) is
    // reported and retried like any other connect failure.
    Uplink(boost::asio::io_context& io, UplinkOptions options, outbox::Outbox& outbox);
    ~Uplink();
    Uplink(const Uplink&) = delete;
    Uplink& operator=(const Uplink&) = delete;

    // Connects in the background and keeps reconnecting until stop().
    void start();
    // New messages were committed to the outbox: publish them if there is room in the window.
    void notify();
    // Disconnects cleanly; what is unacknowledged stays in the outbox.
    void stop();

    const UplinkStats& stats() const noexcept { return stats_; }
    // Connected, nothing in flight, nothing left to fetch.
    bool drained() const;

private:
    enum class State { idle, resolving, connecting, connected, waiting, stopped };

    struct HandleDeleter {
        void operator()(mosquitto* m) const noexcept;
    };
    using Handle = std::unique_ptr<mosquitto, HandleDeleter>;

    void open();
    void socket_started(Handle handle, int rc, int err);
    void lost(const std::string& why);
    void schedule_reconnect();
    const char* connack_text(int rc) const;
    void close_handle();
    void wait_read();
    bool tcp_connect_failed();  // true: it failed and was handled
    bool read_packets();  // false: the connection is gone (already handled)
    void arm_write();
    void after_io();
    void handle_completions();
    void pump();
    void tick();

    static void on_connect_cb(mosquitto*, void* self, int rc, int flags, const mqtt5__property*);
    static void on_disconnect_cb(mosquitto*, void* self, int rc, const mqtt5__property*);
    static void on_publish_cb(mosquitto*, void* self, int mid, int reason, const mqtt5__property*);

    boost::asio::io_context& io_;
    UplinkOptions options_;
    outbox::Outbox& outbox_;
    boost::asio::posix::stream_descriptor socket_;
    boost::asio::steady_timer retry_timer_;
    boost::asio::steady_timer connect_timer_;
    boost::asio::steady_timer tick_timer_;
    core::Backoff backoff_;
    InflightWindow window_;
    outbox::DrainCursor cursor_;
    std::vector<core::StoredMessage> ready_;
    std::size_t ready_pos_ = 0;
    std::string payload_;

    mosquitto* mosq_ = nullptr;
    State state_ = State::idle;
    std::uint64_t generation_ = 0;  // bumps with every connection; stale handlers check it
    bool write_waiting_ = false;
    bool in_after_io_ = false;
    bool first_publish_logged_ = false;
    std::chrono::steady_clock::time_point started_{};

    // Filled by libmosquitto callbacks, handled after the loop call returns.
    struct Completion {
        int mid;
        int reason;
    };
    std::vector<Completion> completions_;
    int connack_rc_ = -1;  // -1: none pending
    bool disconnect_seen_ = false;

    UplinkStats stats_;
    // Runs libmosquitto's connect, which resolves the host name with a blocking call; completions
    // come back through io_ and are dropped once this object is gone.
    boost::asio::thread_pool connector_{1};
    std::shared_ptr<char> alive_ = std::make_shared<char>();
};

}  // namespace outpost::uplink
