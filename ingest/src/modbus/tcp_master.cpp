#include "outpost/ingest/modbus/tcp_master.hpp"

#include <exception>
#include <random>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "outpost/core/backoff.hpp"
#include "outpost/core/log.hpp"
#include "outpost/ingest/modbus/mbap_framer.hpp"
#include "outpost/ingest/modbus/rtu_framer.hpp"
#include "transaction.hpp"

namespace outpost::ingest {

namespace asio = boost::asio;
using asio::ip::tcp;
using detail::steady;

const char* to_string(TcpFraming framing) noexcept {
    switch (framing) {
        case TcpFraming::mbap: return "mbap";
        case TcpFraming::rtu: return "rtu";
    }
    return "unknown";
}

struct ModbusTcpMaster::Impl {
    Impl(asio::io_context& io, ModbusTcpOptions o, ModbusSink& s)
        : options(std::move(o)),
          sink(s),
          socket(io),
          resolver(io),
          timer(io),
          engine(options.devices, steady::now(), std::random_device{}()),
          backoff(options.reconnect_initial, options.reconnect_max, std::random_device{}()) {}

    asio::awaitable<bool> connect();
    void close(const char* why);
    asio::awaitable<void> run();

    ModbusTcpOptions options;
    ModbusSink& sink;
    tcp::socket socket;
    tcp::resolver resolver;
    asio::steady_timer timer;
    PollEngine engine;
    MbapFramer mbap;
    RtuFramer rtu;
    core::Backoff backoff;
    ModbusLineStats line;
    core::ModbusBlock block{};
    bool stopped = false;
    bool started = false;
    core::LogLimiter connect_log;
    core::LogLimiter bad_log;
};

asio::awaitable<bool> ModbusTcpMaster::Impl::connect() {
    const auto deadline = steady::now() + options.connect_timeout;
    timer.expires_at(deadline);
    auto [order, resolve_ec, endpoints, t1] = co_await asio::experimental::make_parallel_group(
        resolver.async_resolve(options.host, std::to_string(options.port), asio::deferred), timer.async_wait(asio::deferred))
        .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    (void)t1;
    boost::system::error_code ec = order[0] == 1 ? boost::system::error_code(asio::error::timed_out) : resolve_ec;
    if (!ec) {
        timer.expires_at(deadline);
        auto [order2, connect_ec, endpoint, t2] = co_await asio::experimental::make_parallel_group(
            asio::async_connect(socket, endpoints, asio::deferred), timer.async_wait(asio::deferred))
            .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
        (void)t2;
        (void)endpoint;
        ec = order2[0] == 1 ? boost::system::error_code(asio::error::timed_out) : connect_ec;
    }
    if (ec || stopped) {
        ++line.open_failures;
        boost::system::error_code ignored;
        socket.close(ignored);
        std::uint64_t suppressed = 0;
        if (!stopped && connect_log.allow(steady::now(), suppressed)) {
            core::log_warn("modbus.connect_failed", "cannot connect to the Modbus server",
                           {{"server", options.name}, {"host", options.host}, {"port", options.port},
                            {"error", ec.message()}, {"suppressed_since_last", suppressed}});
        }
        co_return false;
    }
    socket.set_option(tcp::no_delay(true), ec);
    ++line.opens;
    line.connected = true;
    backoff.reset();
    // A fresh random start, so a late answer from the last connection never matches.
    mbap.set_next_transaction_id(static_cast<std::uint16_t>(std::random_device{}()));
    core::log_info("modbus.connected", "polling the Modbus server",
                   {{"server", options.name}, {"host", options.host}, {"port", options.port},
                    {"framing", to_string(options.framing)}, {"devices", engine.device_count()}, {"opens", line.opens}});
    co_return true;
}

void ModbusTcpMaster::Impl::close(const char* why) {
    if (socket.is_open()) {
        core::log_warn("modbus.disconnected", "the Modbus connection failed; reconnecting with backoff",
                       {{"server", options.name}, {"host", options.host}, {"port", options.port}, {"reason", why}});
        boost::system::error_code ignored;
        socket.close(ignored);
    }
    line.connected = false;
}

asio::awaitable<void> ModbusTcpMaster::Impl::run() {
    while (!stopped) {
        if (!socket.is_open() && !co_await connect()) {
            if (stopped) break;
            co_await detail::sleep_until(timer, steady::now() + backoff.next());
            continue;
        }
        const auto now = steady::now();
        const auto step = engine.next(now);
        if (step.kind == PollEngine::Step::Kind::wait) {
            co_await detail::sleep_until(timer, std::min(step.wake, now + std::chrono::seconds{1}));
            continue;
        }
        const std::chrono::nanoseconds none{0};
        detail::Transaction t;
        if (options.framing == TcpFraming::mbap) {
            const auto stale_before = mbap.stale();
            t = co_await detail::transact(socket, timer, mbap, step.read, step.response_timeout, none,
                                          options.inter_byte_timeout, options.bus, line, block);
            line.stale += mbap.stale() - stale_before;
        } else {
            t = co_await detail::transact(socket, timer, rtu, step.read, step.response_timeout, none,
                                          options.inter_byte_timeout, options.bus, line, block);
        }
        if (stopped) break;
        const auto done = steady::now();
        if (t.io_failed) {
            engine.on_transport_down(done);
            close("read or write failed");
            continue;
        }
        engine.on_result(done, t.outcome, t.exception, t.response_ns);
        if (t.outcome == ModbusOutcome::ok) {
            sink.on_modbus(block);
            if (stopped) break;
        } else if (t.outcome != ModbusOutcome::exception) {
            std::uint64_t suppressed = 0;
            if (bad_log.allow(done, suppressed)) {
                core::log_warn("modbus.transaction", std::string("Modbus read failed: ") + to_string(t.outcome),
                               {{"server", options.name}, {"device", engine.device(step.device).name},
                                {"unit", step.read.unit}, {"function", step.read.function()},
                                {"address", step.read.address}, {"count", step.read.count},
                                {"outcome", to_string(t.outcome)}, {"suppressed_since_last", suppressed}});
            }
        }
        if (t.desync) {
            close("the byte stream lost its framing");
            continue;
        }
        const bool clean = t.outcome == ModbusOutcome::ok || t.outcome == ModbusOutcome::exception ||
                           t.outcome == ModbusOutcome::wrong_unit;
        // MBAP needs no drain: transaction ids sort late answers out. RTU over TCP does.
        if (options.framing == TcpFraming::rtu && (!clean || t.extra_bytes)) {
            if (!co_await detail::drain(socket, timer, options.drain_silence, options.drain_max, line)) {
                close("read failed while draining");
            }
        }
    }
}

ModbusTcpMaster::ModbusTcpMaster(asio::io_context& io, ModbusTcpOptions options, ModbusSink& sink)
    : impl_(std::make_shared<Impl>(io, std::move(options), sink)) {}

ModbusTcpMaster::~ModbusTcpMaster() { stop(); }

void ModbusTcpMaster::start() {
    if (impl_->started) return;
    impl_->started = true;
    auto self = impl_;
    asio::co_spawn(self->socket.get_executor(), [self]() { return self->run(); }, [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
    });
}

void ModbusTcpMaster::stop() {
    if (!impl_ || impl_->stopped) return;
    impl_->stopped = true;
    impl_->timer.cancel();
    impl_->resolver.cancel();
    boost::system::error_code ignored;
    impl_->socket.close(ignored);
    impl_->line.connected = false;
}

const ModbusTcpOptions& ModbusTcpMaster::options() const noexcept { return impl_->options; }

ModbusLineStats ModbusTcpMaster::stats() const {
    ModbusLineStats s = impl_->line;
    s.counters = impl_->engine.line_counters();
    return s;
}

std::size_t ModbusTcpMaster::device_count() const noexcept { return impl_->engine.device_count(); }

ModbusDeviceStats ModbusTcpMaster::device_stats(std::size_t index) const { return impl_->engine.device_stats(index); }

}  // namespace outpost::ingest
