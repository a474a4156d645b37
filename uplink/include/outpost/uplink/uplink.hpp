#pragma once
// The uplink's I/O shell: libmosquitto driven from the io_context (its external-loop API, no
// libmosquitto thread) around the Sans-I/O DeliveryMachine (delivery_machine.hpp), which decides
// everything: when and where to connect, what to publish, what to acknowledge or discard in the
// outbox, when a connection is dead. This class executes its actions and feeds it events: what
// libmosquitto's callbacks report is queued as event values and fed after the loop call returns.
//
// On the cloud side every gateway has a status topic family `<status_topic>/status` (retained:
// "online" with version, config digest, start time and address after each CONNACK; "offline" as
// the last will, and before a clean stop) and `<status_topic>/health` (retained, QoS 0: the
// gateway's counters every `health_interval`, from the health source).
//
// Errors: every failure is an UplinkError (uplink_error.hpp) logged with its reason in words:
// OpenSSL's verify result for a refused certificate, the errno of a dead connection, a keepalive
// timeout as such, the broker's CONNACK or DISCONNECT reason code.
//
// Thread: all members run on the io_context's thread; libmosquitto callbacks fire inside the loop
// calls this class makes on that thread. The one exception is the connect call itself (name
// resolution blocks), made on a private connector thread while this thread keeps ingesting; the
// handle is not touched here until it comes back (a TLS handshake that fails inside that connect
// is diagnosed on the connector thread and reported back with it).
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "outpost/outbox/outbox.hpp"
#include "outpost/uplink/delivery_machine.hpp"
#include "outpost/uplink/link_meter.hpp"
#include "outpost/uplink/message_source.hpp"

struct mosquitto;
struct mqtt5__property;
typedef struct mqtt5__property mosquitto_property;

namespace outpost::uplink {

enum class MqttProtocol { v5, v311 };

struct TlsOptions {
    bool enabled = false;
    std::string ca_file;
    std::string cert_file;
    std::string key_file;
    bool verify_hostname = true;
};

struct BrokerAddress {
    std::string host;
    std::uint16_t port = 1883;
    std::optional<TlsOptions> tls;  // when it differs from the broker's TLS settings
};

struct UplinkOptions {
    std::string gateway_id;
    // The first (preferred) address; `alternates` are tried in turn when it fails.
    std::string host = "127.0.0.1";
    std::uint16_t port = 1883;
    std::vector<BrokerAddress> alternates;
    std::string client_id;
    MqttProtocol protocol = MqttProtocol::v5;
    int keepalive_s = 30;
    std::string username;
    std::string password;
    TlsOptions tls;
    std::chrono::milliseconds backoff_initial{500};
    std::chrono::milliseconds backoff_max{30'000};
    std::chrono::milliseconds connect_timeout{10'000};
    std::chrono::milliseconds stable_after{30'000};
    std::chrono::milliseconds progress_timeout{30'000};
    std::chrono::milliseconds failback_after{300'000};
    std::size_t inflight_window = 256;
    // Status topic family root; empty: "outpost/<gateway_id>".
    std::string status_topic;
    // JSON members (without braces) added to the birth message, e.g. "version":"1.0","config_digest":"...".
    std::string birth_members;
    std::chrono::milliseconds health_interval{60'000};  // 0: no health messages
    // The 4G budget (delivery_machine.hpp): batches, live before backlog, pacing, byte budgets.
    BatchOptions batch;
    bool live_first = false;
    std::uint64_t max_bytes_per_s = 0;
    std::size_t max_inflight_bytes = 0;
    BudgetOptions budget;
};

// The link's use, measured on the socket (link_meter.hpp), and its running day and month totals
// (UTC), which survive restarts in the outbox.
struct LinkUsageStats {
    LinkCounters total;              // since start
    std::uint64_t day_bytes = 0;     // wire bytes today
    std::uint64_t month_bytes = 0;   // wire bytes this month
    std::int64_t day = 0;            // days since 1970-01-01
    std::int64_t month = 0;          // year * 12 + month - 1
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

    // The health message's payload (a JSON object), asked for every health_interval while connected.
    void set_health_source(std::function<std::string()> source);
    // Called when acknowledgements pile up in the outbox (at least `ack_commit_batch` waiting to be
    // deleted): the owner should start a commit instead of waiting for its commit interval.
    void set_commit_request(std::function<void()> request);
    static constexpr std::size_t ack_commit_batch = 8192;
    // Connects in the background and keeps reconnecting until stop().
    void start();
    // New messages were committed to the outbox: publish them if there is room in the window.
    void notify();
    // Publishes "offline" and disconnects cleanly; what is unacknowledged stays in the outbox.
    void stop();

    UplinkStats stats() const noexcept;
    const LinkUsageStats& link_usage() const noexcept { return usage_; }
    // Connected, nothing in flight, nothing left to fetch.
    bool drained() const { return machine_.drained(); }
    const std::string& status_topic() const noexcept { return status_topic_; }

private:
    struct HandleDeleter {
        void operator()(mosquitto* m) const noexcept;
    };
    using Handle = std::unique_ptr<mosquitto, HandleDeleter>;

    void feed(Event e, std::uint64_t generation = 0);
    void run_queue();
    void take_incoming();
    void execute(Action& a);
    void open(std::size_t address);
    void publish(core::StoredMessage& m);
    void publish_batch(EncodedBatch& b);
    bool publish_payload(const std::string& topic, int qos, bool retain, mosquitto_property* props,
                         std::uint64_t first_seq, std::uint8_t priority, std::int64_t oldest_created_ns);
    void account_usage();
    void publish_status(bool online);
    void publish_health();
    void socket_started(Handle handle, int rc, int err);
    void close_handle(bool graceful);
    void arm_timer(Clock::time_point at);
    void wait_read();
    bool tcp_connect_failed();  // true: it failed and was reported
    void read_packets();
    void arm_write();
    void tick();
    void lost(UplinkError error, std::string detail);
    const BrokerAddress& address(std::size_t i) const;
    const TlsOptions& tls_for(std::size_t i) const;

    static void on_connect_cb(mosquitto*, void* self, int rc, int flags, const mqtt5__property*);
    static void on_disconnect_cb(mosquitto*, void* self, int rc, const mqtt5__property*);
    static void on_publish_cb(mosquitto*, void* self, int mid, int reason, const mqtt5__property*);

    boost::asio::io_context& io_;
    UplinkOptions options_;
    outbox::Outbox& outbox_;
    OutboxSource source_;
    std::vector<BrokerAddress> addresses_;
    DeliveryMachine machine_;
    std::string status_topic_;
    std::function<std::string()> health_source_;
    std::function<void()> commit_request_;
    boost::asio::posix::stream_descriptor socket_;
    boost::asio::steady_timer machine_timer_;
    boost::asio::steady_timer tick_timer_;
    std::string payload_;

    mosquitto* mosq_ = nullptr;
    std::size_t address_ = 0;
    bool connecting_ = false;      // the TCP/TLS connect is under way
    std::uint64_t generation_ = 0;  // bumps with every handle; stale handlers check it
    bool write_waiting_ = false;
    bool first_publish_logged_ = false;
    bool stopped_ = false;
    std::uint64_t payload_bytes_ = 0;
    std::chrono::steady_clock::time_point started_{};
    LinkMeter meter_;
    LinkUsageStats usage_;
    std::uint64_t accounted_ = 0;  // meter_'s wire bytes already in the day and month totals

    // Events waiting to be fed, each with the handle generation it belongs to (0: any); events of a
    // closed handle are dropped. Callbacks queue into incoming_, moved here after the loop call.
    struct Queued {
        std::uint64_t generation;
        Event event;
    };
    std::deque<Queued> queue_;
    std::vector<Event> incoming_;
    std::vector<Action> actions_;
    bool feeding_ = false;

    // Runs libmosquitto's connect, which resolves the host name with a blocking call; completions
    // come back through io_ and are dropped once this object is gone.
    boost::asio::thread_pool connector_{1};
    std::shared_ptr<char> alive_ = std::make_shared<char>();
};

}  // namespace outpost::uplink
