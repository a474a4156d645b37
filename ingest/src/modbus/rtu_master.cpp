#include "outpost/ingest/modbus/rtu_master.hpp"

#include <termios.h>

#include <exception>
#include <random>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/serial_port.hpp>

#include "outpost/core/backoff.hpp"
#include "outpost/core/log.hpp"
#include "outpost/ingest/modbus/rtu_framer.hpp"
#include "transaction.hpp"

namespace outpost::ingest {

namespace asio = boost::asio;
using detail::steady;

struct RtuMaster::Impl {
    using Transaction = detail::Transaction;

    Impl(asio::io_context& io, RtuLineOptions o, ModbusSink& s)
        : options(std::move(o)),
          sink(s),
          port(io),
          timer(io),
          engine(options.devices, steady::now(), std::random_device{}()),
          backoff(options.reopen_initial, options.reopen_max, std::random_device{}()),
          t35(t3_5(options.format)) {
        const auto silence = options.drain_silence.count() > 0
                                 ? std::chrono::nanoseconds(options.drain_silence)
                                 : std::max<std::chrono::nanoseconds>(2 * t35, std::chrono::milliseconds{10});
        drain_silence = silence;
    }

    bool open();
    void close(const char* why);
    asio::awaitable<void> run();
    void log_bad(const Transaction& t, const ModbusRead& read, std::size_t device);

    RtuLineOptions options;
    ModbusSink& sink;
    asio::serial_port port;
    asio::steady_timer timer;
    PollEngine engine;
    RtuFramer framer;
    core::Backoff backoff;
    ModbusLineStats line;
    core::ModbusBlock block{};
    std::chrono::nanoseconds t35;
    std::chrono::nanoseconds drain_silence{};
    steady::time_point last_activity{};
    bool stopped = false;
    bool started = false;
    core::LogLimiter open_log;
    core::LogLimiter bad_log;
};

bool RtuMaster::Impl::open() {
    boost::system::error_code ec;
    port.open(options.device, ec);
    auto fail = [&](const char* what) {
        ++line.open_failures;
        std::uint64_t suppressed = 0;
        if (open_log.allow(steady::now(), suppressed)) {
            core::log_warn("modbus.open_failed", std::string("cannot open the serial line: ") + what,
                           {{"line", options.name}, {"device", options.device}, {"error", ec.message()},
                            {"suppressed_since_last", suppressed}});
        }
        boost::system::error_code ignored;
        port.close(ignored);
        return false;
    };
    if (ec) return fail("open");
    const auto& f = options.format;
    using sp = asio::serial_port_base;
    const auto parity = f.parity == SerialParity::none  ? sp::parity::none
                        : f.parity == SerialParity::even ? sp::parity::even
                                                         : sp::parity::odd;
    port.set_option(sp::baud_rate(f.baud), ec);
    if (ec) return fail("baud rate");
    port.set_option(sp::parity(parity), ec);
    if (!ec) port.set_option(sp::character_size(f.data_bits), ec);
    if (!ec) port.set_option(sp::stop_bits(f.stop_bits == 2 ? sp::stop_bits::two : sp::stop_bits::one), ec);
    if (!ec) port.set_option(sp::flow_control(sp::flow_control::none), ec);
    if (ec) return fail("line settings");
    ::tcflush(port.native_handle(), TCIOFLUSH);
    ++line.opens;
    line.connected = true;
    backoff.reset();
    last_activity = steady::now();
    core::log_info("modbus.open", "polling the serial line",
                   {{"line", options.name}, {"device", options.device}, {"baud", f.baud},
                    {"parity", to_string(f.parity)}, {"data_bits", f.data_bits}, {"stop_bits", f.stop_bits},
                    {"devices", engine.device_count()}, {"opens", line.opens}});
    return true;
}

void RtuMaster::Impl::close(const char* why) {
    if (port.is_open()) {
        core::log_warn("modbus.closed", "the serial line failed; reopening with backoff",
                       {{"line", options.name}, {"device", options.device}, {"reason", why}});
        boost::system::error_code ignored;
        port.close(ignored);
    }
    line.connected = false;
}

void RtuMaster::Impl::log_bad(const Transaction& t, const ModbusRead& read, std::size_t device) {
    std::uint64_t suppressed = 0;
    if (!bad_log.allow(steady::now(), suppressed)) return;
    nlohmann::json fields{{"line", options.name}, {"device", engine.device(device).name}, {"unit", read.unit},
                          {"function", read.function()}, {"address", read.address}, {"count", read.count},
                          {"outcome", to_string(t.outcome)}, {"suppressed_since_last", suppressed}};
    if (t.outcome == ModbusOutcome::exception) fields["exception"] = to_string(t.exception);
    core::log_warn("modbus.transaction", std::string("Modbus read failed: ") + to_string(t.outcome), fields);
}

asio::awaitable<void> RtuMaster::Impl::run() {
    const auto on_wire = frame_time(options.format, RtuFramer::request_size);
    while (!stopped) {
        if (!port.is_open() && !open()) {
            co_await detail::sleep_until(timer, steady::now() + backoff.next());
            continue;
        }
        auto now = steady::now();
        const auto step = engine.next(now);
        if (step.kind == PollEngine::Step::Kind::wait) {
            co_await detail::sleep_until(timer, std::min(step.wake, now + std::chrono::seconds{1}));
            continue;
        }
        // Inter-frame silence before every request, whoever spoke last.
        const auto quiet = last_activity + t35;
        if (now < quiet) co_await detail::sleep_until(timer, quiet);
        if (stopped) break;
        // Anything that arrived unasked since the last transaction is not the next response.
        ::tcflush(port.native_handle(), TCIFLUSH);
        const auto t = co_await detail::transact(port, timer, framer, step.read, step.response_timeout, on_wire,
                                                 options.inter_byte_timeout, options.bus, line, block);
        if (stopped) break;
        last_activity = steady::now();
        if (t.io_failed) {
            engine.on_transport_down(last_activity);
            close("read or write failed");
            continue;
        }
        engine.on_result(last_activity, t.outcome, t.exception, t.response_ns);
        if (t.outcome == ModbusOutcome::ok) {
            sink.on_modbus(block);
            if (stopped) break;
        } else if (t.outcome != ModbusOutcome::exception) {
            log_bad(t, step.read, step.device);
        }
        const bool clean = t.outcome == ModbusOutcome::ok || t.outcome == ModbusOutcome::exception ||
                           t.outcome == ModbusOutcome::wrong_unit;
        if (!clean || t.extra_bytes) {
            if (!co_await detail::drain(port, timer, drain_silence, options.drain_max, line)) {
                close("read failed while draining");
                continue;
            }
            last_activity = steady::now();
        }
    }
}

RtuMaster::RtuMaster(asio::io_context& io, RtuLineOptions options, ModbusSink& sink)
    : impl_(std::make_shared<Impl>(io, std::move(options), sink)) {}

RtuMaster::~RtuMaster() { stop(); }

void RtuMaster::start() {
    if (impl_->started) return;
    impl_->started = true;
    auto self = impl_;
    asio::co_spawn(self->port.get_executor(), [self]() { return self->run(); }, [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
    });
}

void RtuMaster::stop() {
    if (!impl_ || impl_->stopped) return;
    impl_->stopped = true;
    impl_->timer.cancel();
    boost::system::error_code ignored;
    impl_->port.close(ignored);
    impl_->line.connected = false;
}

const RtuLineOptions& RtuMaster::options() const noexcept { return impl_->options; }

ModbusLineStats RtuMaster::stats() const {
    ModbusLineStats s = impl_->line;
    s.counters = impl_->engine.line_counters();
    return s;
}

std::size_t RtuMaster::device_count() const noexcept { return impl_->engine.device_count(); }

ModbusDeviceStats RtuMaster::device_stats(std::size_t index) const { return impl_->engine.device_stats(index); }

}  // namespace outpost::ingest
