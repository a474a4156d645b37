#include "outpost/ingest/socketcan_reader.hpp"

#include <linux/can.h>
#include <linux/can/error.h>
#include <linux/can/raw.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include <boost/asio/post.hpp>

#include "outpost/ingest/can/frame_conversion.hpp"
#include "outpost/ingest/can/receive_control.hpp"
#include "outpost/ingest/can/socket_options.hpp"
#include "outpost/core/wall_clock.hpp"

namespace outpost::ingest {
namespace {

// What warn_once() remembers.
enum Warning : unsigned {
    warn_filter = 1u << 0,
    warn_err_filter = 1u << 1,
    warn_fd = 1u << 2,
    warn_rcvbuf = 1u << 3,
    warn_rcvbuf_capped = 1u << 4,
    warn_timestamp = 1u << 5,
    warn_rxq_ovfl = 1u << 6,
    warn_filter_plan = 1u << 7,
};

std::error_code errno_code() noexcept { return {errno, std::generic_category()}; }

}  // namespace

SocketCanReader::SocketCanReader(boost::asio::io_context& io, SocketCanOptions options, FrameSink& sink)
    : io_(io),
      options_(std::move(options)),
      sink_(sink),
      socket_(io),
      reopen_timer_(io),
      pace_timer_(io),
      pacer_(options_.pace_interval),
      backoff_(options_.reopen_initial, options_.reopen_max, std::random_device{}()),
      filter_plan_(plan_filters(options_.filters)) {}

SocketCanReader::~SocketCanReader() { close(); }

void SocketCanReader::start() {
    // Fail loudly at start-up if the kernel cannot do CAN at all: no amount of retrying helps.
    const int probe = ::socket(PF_CAN, SOCK_RAW, CAN_RAW);
    if (probe < 0) {
        const int err = errno;
        throw std::system_error(err, std::generic_category(),
                                "SocketCAN is not available in this kernel (bus " + options_.bus_name + ")");
    }
    ::close(probe);
    if (!open()) schedule_reopen("could not open");
}

void SocketCanReader::stop() {
    stopped_ = true;
    reopen_timer_.cancel();
    pace_timer_.cancel();
    close();
}

void SocketCanReader::close() {
    pace_timer_.cancel();
    if (socket_.is_open()) {
        boost::system::error_code ignored;
        socket_.close(ignored);
    }
}

void SocketCanReader::warn_once(unsigned what, const char* event, const std::string& message, const std::error_code& ec) {
    if (warned_ & what) return;
    warned_ |= what;
    nlohmann::json fields = {{"bus", options_.bus_name}, {"interface", options_.interface}};
    if (ec) fields["error"] = ec.message();
    core::log_warn(event, message, fields);
}

bool SocketCanReader::open() {
    close();
    const int fd = ::socket(PF_CAN, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, CAN_RAW);
    if (fd < 0) {
        const auto ec = errno_code();
        std::uint64_t suppressed = 0;
        if (open_log_.allow(std::chrono::steady_clock::now(), suppressed)) {
            core::log_warn("socketcan.open_failed", "cannot create a CAN socket",
                           {{"bus", options_.bus_name}, {"error", ec.message()}, {"suppressed_since_last", suppressed}});
        }
        return false;
    }
    // `ec` is captured by the caller right after the call that failed, before close() or a log line
    // can overwrite errno.
    auto fail = [&](const char* what, std::error_code ec) {
        ::close(fd);
        std::uint64_t suppressed = 0;
        if (open_log_.allow(std::chrono::steady_clock::now(), suppressed)) {
            core::log_warn("socketcan.open_failed", std::string("cannot open the CAN interface: ") + what,
                           {{"bus", options_.bus_name}, {"interface", options_.interface},
                            {"error", ec.message()}, {"suppressed_since_last", suppressed}});
        }
        return false;
    };
    const unsigned index = ::if_nametoindex(options_.interface.c_str());
    if (index == 0) return fail("no such interface", errno_code());
    {
        // A socket binds to a down interface without complaint and then reads ENETDOWN at once:
        // wait for the link to be up instead of spinning.
        ifreq ifr{};
        std::strncpy(ifr.ifr_name, options_.interface.c_str(), IFNAMSIZ - 1);
        if (::ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) return fail("SIOCGIFFLAGS", errno_code());
        if (!(ifr.ifr_flags & IFF_UP)) return fail("the interface is down", std::make_error_code(std::errc::network_down));
    }
    apply_socket_options(fd);

    sockaddr_can addr{};
    addr.can_family = AF_CAN;
    addr.can_ifindex = static_cast<int>(index);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return fail("bind", errno_code());

    boost::system::error_code ec;
    socket_.assign(fd, ec);
    if (ec) {
        ::close(fd);
        return fail("assign", ec);
    }
    ++stats_.opens;
    drops_.reset();
    backoff_.reset();
    apply(bus_state_.on_open());
    core::log_info("socketcan.open", "reading CAN",
                   {{"bus", options_.bus_name}, {"interface", options_.interface}, {"fd", fd_enabled_},
                    {"filters", options_.filters.size()}, {"kernel_filters", stats_.kernel_filters},
                    {"filter_mode", to_string(filter_plan_.mode)}, {"receive_buffer", stats_.receive_buffer},
                    {"opens", stats_.opens}});
    wait_readable();
    return true;
}

// Every option is checked. None of them is worth not reading the bus for: a failure is logged once
// (a reopen meets the same failure again) and the reader goes on without what it could not get.
void SocketCanReader::apply_socket_options(int fd) {
    // Kernel filters: only the ids the mapping uses reach this process. Past the kernel's limit
    // they are merged (filter_plan.hpp); if the kernel still refuses them, no kernel filter at
    // all: the mapper discards what no rule maps.
    stats_.kernel_filters = 0;
    if (filter_plan_.mode == FilterMode::merged) {
        warn_once(warn_filter_plan, "socketcan.filters_merged", describe(filter_plan_), {});
    }
    if (!filter_plan_.filters.empty()) {
        const auto filters = to_kernel(filter_plan_);
        if (::setsockopt(fd, SOL_CAN_RAW, CAN_RAW_FILTER, filters.data(),
                         static_cast<socklen_t>(filters.size() * sizeof(can_filter))) == 0) {
            stats_.kernel_filters = filters.size();
        } else {
            const auto ec = errno_code();
            warn_once(warn_filter, "socketcan.no_kernel_filter",
                      "the kernel refused the CAN filters; reading every frame, the mapper discards what no rule maps", ec);
        }
    }
    const can_err_mask_t err_mask =
        CAN_ERR_BUSOFF | CAN_ERR_CRTL | CAN_ERR_RESTARTED | CAN_ERR_TX_TIMEOUT | CAN_ERR_CNT;
    if (::setsockopt(fd, SOL_CAN_RAW, CAN_RAW_ERR_FILTER, &err_mask, sizeof err_mask) != 0) {
        const auto ec = errno_code();
        warn_once(warn_err_filter, "socketcan.no_error_frames",
                  "cannot subscribe to CAN error frames: bus-off and error-passive will not be reported", ec);
    }

    // CAN FD only where the interface carries it (its MTU says so).
    fd_enabled_ = false;
    if (options_.fd) {
        ifreq ifr{};
        std::strncpy(ifr.ifr_name, options_.interface.c_str(), IFNAMSIZ - 1);
        if (::ioctl(fd, SIOCGIFMTU, &ifr) != 0) {
            const auto ec = errno_code();
            warn_once(warn_fd, "socketcan.no_fd", "cannot read the interface's MTU; reading classic CAN only", ec);
        } else if (ifr.ifr_mtu == CANFD_MTU) {
            const auto ec = set_int_option(fd, SOL_CAN_RAW, CAN_RAW_FD_FRAMES, 1);
            fd_enabled_ = !ec;
            if (ec) warn_once(warn_fd, "socketcan.no_fd", "cannot enable CAN FD frames; reading classic CAN only", ec);
        }
    }

    // The receive buffer rides out bursts while the io thread is busy elsewhere. Without
    // CAP_NET_ADMIN (an unprivileged container) SO_RCVBUF is silently capped at rmem_max: read it
    // back and say so, as can-utils does.
    const auto rcvbuf = set_receive_buffer(fd, options_.receive_buffer);
    stats_.receive_buffer = rcvbuf.granted;
    if (rcvbuf.error) {
        warn_once(warn_rcvbuf, "socketcan.receive_buffer", "cannot set the CAN socket's receive buffer", rcvbuf.error);
    } else if (rcvbuf.capped() && !(warned_ & warn_rcvbuf_capped)) {
        warned_ |= warn_rcvbuf_capped;
        core::log_warn("socketcan.receive_buffer_capped",
                       "the CAN receive buffer is smaller than asked for (capped at net.core.rmem_max; raise it or "
                       "grant CAP_NET_ADMIN): bursts may be dropped by the kernel, and counted",
                       {{"bus", options_.bus_name}, {"interface", options_.interface},
                        {"requested", rcvbuf.requested}, {"granted", rcvbuf.granted}});
    }
    if (const auto ec = set_int_option(fd, SOL_SOCKET, SO_TIMESTAMP, 1)) {
        warn_once(warn_timestamp, "socketcan.no_timestamps",
                  "no kernel receive timestamps; frames are stamped when they are read", ec);
    }
    if (const auto ec = set_int_option(fd, SOL_SOCKET, SO_RXQ_OVFL, 1)) {
        warn_once(warn_rxq_ovfl, "socketcan.no_drop_counter",
                  "the kernel's drop counter is unavailable: frames dropped by the kernel cannot be counted", ec);
    }
}

void SocketCanReader::schedule_reopen(const std::string& why) {
    if (stopped_) return;
    close();
    apply(bus_state_.on_down(), why.c_str());
    reopen_timer_.expires_after(backoff_.next());
    reopen_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || stopped_) return;
        if (!open()) schedule_reopen("could not reopen");
    });
}

void SocketCanReader::apply(const std::optional<BusStateChange>& change, const char* why) {
    const auto& c = bus_state_.counters();
    stats_.error_frames = c.error_frames;
    stats_.bus_off = c.bus_off;
    stats_.error_passive = c.error_passive;
    stats_.error_warning = c.error_warning;
    stats_.restarted = c.restarted;
    stats_.state = bus_state_.state();
    if (!change) return;
    const auto level = change->to == BusState::error_active ? core::LogLevel::info : core::LogLevel::warn;
    core::log(level, "socketcan.state",
              std::string("bus state ") + to_string(change->from) + " -> " + to_string(change->to),
              {{"bus", options_.bus_name}, {"interface", options_.interface}, {"state", to_string(change->to)},
               {"reason", why ? why : change->reason}, {"kernel_drops", stats_.kernel_drops}});
}

void SocketCanReader::on_drop_counter(std::uint32_t counter) {
    if (drops_.update(counter) == 0) return;
    stats_.kernel_drops = drops_.total();
    std::uint64_t suppressed = 0;
    if (drop_log_.allow(std::chrono::steady_clock::now(), suppressed)) {
        core::log_warn("socketcan.kernel_drops", "the kernel dropped CAN frames (receive queue full)",
                       {{"bus", options_.bus_name}, {"kernel_drops", stats_.kernel_drops},
                        {"suppressed_since_last", suppressed}});
    }
}

void SocketCanReader::wait_readable() {
    socket_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](boost::system::error_code ec) {
        if (ec || stopped_) return;
        read_ready();
    });
}

void SocketCanReader::read_ready() {
    canfd_frame raw{};
    ControlBuffer control{};
    // Read what is there now, but yield to the rest of the io_context now and then.
    std::size_t frames = 0;
    for (int i = 0; i < 256; ++i) {
        iovec iov{&raw, sizeof raw};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.bytes;
        msg.msg_controllen = sizeof control.bytes;
        const ssize_t n = ::recvmsg(socket_.native_handle(), &msg, 0);
        if (n < 0) {
            const int err = errno;
            if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR) {
                // All read: look again at once while the bus is quiet, a pacing interval later while it is busy.
                const auto now = std::chrono::steady_clock::now();
                const auto next = pacer_.on_look(now, frames);
                if (next <= now) {
                    wait_readable();
                } else {
                    pace_timer_.expires_at(next);
                    pace_timer_.async_wait([this](boost::system::error_code ec) {
                        if (!ec && !stopped_ && socket_.is_open()) wait_readable();
                    });
                }
                return;
            }
            // ENETDOWN (link set down), ENODEV (interface deleted), ...: reopen with backoff.
            ++stats_.read_errors;
            const auto why = std::generic_category().message(err);
            core::log_warn("socketcan.read_error", "the CAN interface stopped delivering; reopening",
                           {{"bus", options_.bus_name}, {"interface", options_.interface}, {"error", why}});
            schedule_reopen(why);
            return;
        }
        const auto meta = parse_control(msg);
        if (meta.drop_counter) on_drop_counter(*meta.drop_counter);
        core::CanFrame f;
        if (!from_kernel(raw, static_cast<std::size_t>(n), f)) continue;  // not a frame; ignore
        f.bus = options_.bus;
        f.timestamp_ns = meta.timestamp_ns.value_or(0);
        if (f.timestamp_ns == 0) {
            f.timestamp_ns = core::wall_clock_ns();
        }
        ++frames;
        if (f.error) {
            apply(bus_state_.on_error_frame(f));
        } else {
            ++stats_.frames;
            apply(bus_state_.on_data_frame());
        }
        sink_.on_frame(f);
        if (stopped_) return;
    }
    if (!stopped_ && socket_.is_open()) {
        // More may be waiting: come back after other handlers had their turn.
        boost::asio::post(io_, [this] {
            if (!stopped_ && socket_.is_open()) wait_readable();
        });
    }
}

}  // namespace outpost::ingest
