#include "outpost/ingest/modbus/rtu_tap.hpp"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <random>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/serial_port.hpp>

#include "outpost/core/backoff.hpp"
#include "outpost/core/log.hpp"
#include "transaction.hpp"

namespace outpost::ingest {

namespace asio = boost::asio;
using detail::steady;

namespace {
RtuSnifferOptions sniffer_options(const RtuTapOptions& o) {
    RtuSnifferOptions s;
    s.bus = o.bus;
    const auto gap = o.frame_gap.count() > 0
                         ? std::chrono::nanoseconds(o.frame_gap)
                         : std::max<std::chrono::nanoseconds>(t3_5(o.format), std::chrono::milliseconds{20});
    s.frame_gap_ns = gap.count();
    s.response_timeout_ns = std::chrono::nanoseconds(o.response_timeout).count();
    return s;
}
}  // namespace

struct RtuTap::Impl {
    Impl(asio::io_context& io, RtuTapOptions o, ModbusSink& s)
        : options(std::move(o)),
          sink(s),
          port(io),
          timer(io),
          sniffer(sniffer_options(options)),
          backoff(options.reopen_initial, options.reopen_max, std::random_device{}()) {}

    bool open();
    void close(const char* why);
    asio::awaitable<void> run();

    RtuTapOptions options;
    ModbusSink& sink;
    asio::serial_port port;
    asio::steady_timer timer;
    RtuSniffer sniffer;
    core::Backoff backoff;
    RtuTapStats stats;
    bool stopped = false;
    bool started = false;
    core::LogLimiter open_log;
};

bool RtuTap::Impl::open() {
    // Read-only on purpose: listen-only must not be able to disturb the line's own master.
    const int fd = ::open(options.device.c_str(), O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    boost::system::error_code ec;
    if (fd < 0) {
        ec.assign(errno, boost::system::system_category());
    } else {
        port.assign(fd, ec);
        if (ec) ::close(fd);
    }
    if (!ec) {
        const auto& f = options.format;
        using sp = asio::serial_port_base;
        const auto parity = f.parity == SerialParity::none  ? sp::parity::none
                            : f.parity == SerialParity::even ? sp::parity::even
                                                             : sp::parity::odd;
        // A raw line, as serial_port::open() would set it up. VMIN 1: with VMIN and VTIME both 0
        // a read finds 0 bytes on an idle line even when non-blocking, which Asio reports as end
        // of file; the tap closed and reopened an idle line about 10,000 times a second.
        termios tio{};
        if (::tcgetattr(port.native_handle(), &tio) == 0) {
            ::cfmakeraw(&tio);
            tio.c_cflag |= CREAD | CLOCAL;
            tio.c_cc[VMIN] = 1;
            tio.c_cc[VTIME] = 0;
            ::tcsetattr(port.native_handle(), TCSANOW, &tio);
        }
        port.set_option(sp::baud_rate(f.baud), ec);
        if (!ec) port.set_option(sp::parity(parity), ec);
        if (!ec) port.set_option(sp::character_size(f.data_bits), ec);
        if (!ec) port.set_option(sp::stop_bits(f.stop_bits == 2 ? sp::stop_bits::two : sp::stop_bits::one), ec);
    }
    if (ec) {
        ++stats.open_failures;
        std::uint64_t suppressed = 0;
        if (open_log.allow(steady::now(), suppressed)) {
            core::log_warn("modbus.tap_open_failed", "cannot open the serial line to listen",
                           {{"line", options.name}, {"device", options.device}, {"error", ec.message()},
                            {"suppressed_since_last", suppressed}});
        }
        boost::system::error_code ignored;
        port.close(ignored);
        return false;
    }
    ++stats.opens;
    stats.connected = true;
    core::log_info("modbus.tap_open", "listening to the serial line (listen-only)",
                   {{"line", options.name}, {"device", options.device}, {"baud", options.format.baud}});
    return true;
}

void RtuTap::Impl::close(const char* why) {
    if (port.is_open()) {
        core::log_warn("modbus.tap_closed", "the serial line failed; reopening with backoff",
                       {{"line", options.name}, {"device", options.device}, {"reason", why}});
        boost::system::error_code ignored;
        port.close(ignored);
    }
    stats.connected = false;
}

asio::awaitable<void> RtuTap::Impl::run() {
    const auto gap = std::chrono::nanoseconds(sniffer_options(options).frame_gap_ns);
    std::array<std::uint8_t, 512> buffer{};
    while (!stopped) {
        if (!port.is_open() && !open()) {
            co_await detail::sleep_until(timer, steady::now() + backoff.next());
            continue;
        }
        const auto r = co_await detail::read_some_until(port, timer, asio::buffer(buffer), steady::now() + gap);
        if (stopped) break;
        if (r.ec == asio::error::timed_out) {
            sniffer.idle(detail::wall_clock_ns(), sink);
            continue;
        }
        if (r.ec) {
            ++stats.read_errors;
            close(r.ec.message().c_str());
            // A line that opens and fails at once must not be reopened in a loop: the backoff
            // starts over only once the line has delivered bytes.
            co_await detail::sleep_until(timer, steady::now() + backoff.next());
            continue;
        }
        backoff.reset();
        stats.bytes_in += r.n;
        sniffer.feed(detail::wall_clock_ns(), std::span<const std::uint8_t>(buffer.data(), r.n), sink);
    }
}

RtuTap::RtuTap(asio::io_context& io, RtuTapOptions options, ModbusSink& sink)
    : impl_(std::make_shared<Impl>(io, std::move(options), sink)) {}

RtuTap::~RtuTap() { stop(); }

void RtuTap::start() {
    if (impl_->started) return;
    impl_->started = true;
    auto self = impl_;
    asio::co_spawn(self->port.get_executor(), [self]() { return self->run(); }, [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
    });
}

void RtuTap::stop() {
    if (!impl_ || impl_->stopped) return;
    impl_->stopped = true;
    impl_->timer.cancel();
    boost::system::error_code ignored;
    impl_->port.close(ignored);
    impl_->stats.connected = false;
}

const RtuTapOptions& RtuTap::options() const noexcept { return impl_->options; }

RtuTapStats RtuTap::stats() const {
    RtuTapStats s = impl_->stats;
    s.sniffer = impl_->sniffer.stats();
    return s;
}

}  // namespace outpost::ingest
