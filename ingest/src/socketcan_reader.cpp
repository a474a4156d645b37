#include "outpost/ingest/socketcan_reader.hpp"

#include <linux/can.h>
#include <linux/can/error.h>
#include <linux/can/raw.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <system_error>

#include <boost/asio/post.hpp>

namespace outpost::ingest {

const char* to_string(BusState state) noexcept {
    switch (state) {
        case BusState::down: return "down";
        case BusState::error_active: return "error_active";
        case BusState::error_warning: return "error_warning";
        case BusState::error_passive: return "error_passive";
        case BusState::bus_off: return "bus_off";
    }
    return "unknown";
}

SocketCanReader::SocketCanReader(boost::asio::io_context& io, SocketCanOptions options, FrameSink& sink)
    : io_(io),
      options_(std::move(options)),
      sink_(sink),
      socket_(io),
      reopen_timer_(io),
      backoff_(options_.reopen_initial, options_.reopen_max, std::random_device{}()) {}

SocketCanReader::~SocketCanReader() { close(); }

void SocketCanReader::start() {
    // Fail loudly at start-up if the kernel cannot do CAN at all: no amount of retrying helps.
    const int probe = ::socket(PF_CAN, SOCK_RAW, CAN_RAW);
    if (probe < 0) {
        throw std::system_error(errno, std::generic_category(),
                                "SocketCAN is not available in this kernel (bus " + options_.bus_name + ")");
    }
    ::close(probe);
    if (!open()) schedule_reopen("could not open");
}

void SocketCanReader::stop() {
    stopped_ = true;
    reopen_timer_.cancel();
    close();
}

void SocketCanReader::close() {
    if (socket_.is_open()) {
        boost::system::error_code ignored;
        socket_.close(ignored);
    }
}

bool SocketCanReader::open() {
    close();
    const int fd = ::socket(PF_CAN, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, CAN_RAW);
    if (fd < 0) return false;
    auto fail = [&](const char* what) {
        const int err = errno;
        ::close(fd);
        std::uint64_t suppressed = 0;
        if (open_log_.allow(std::chrono::steady_clock::now(), suppressed)) {
            core::log_warn("socketcan.open_failed", std::string("cannot open the CAN interface: ") + what,
                           {{"bus", options_.bus_name}, {"interface", options_.interface},
                            {"error", std::strerror(err)}, {"suppressed_since_last", suppressed}});
        }
        return false;
    };
    const unsigned index = ::if_nametoindex(options_.interface.c_str());
    if (index == 0) return fail("no such interface");
    {
        // A socket binds to a down interface without complaint and then reads ENETDOWN at once:
        // wait for the link to be up instead of spinning.
        ifreq ifr{};
        std::strncpy(ifr.ifr_name, options_.interface.c_str(), IFNAMSIZ - 1);
        if (::ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) return fail("SIOCGIFFLAGS");
        if (!(ifr.ifr_flags & IFF_UP)) {
            errno = ENETDOWN;
            return fail("the interface is down");
        }
    }

    // Kernel filters: only the ids the mapping uses reach this process.
    if (!options_.filters.empty()) {
        std::vector<can_filter> filters;
        for (const auto& f : options_.filters) {
            can_filter k{};
            k.can_id = f.extended ? (f.id | CAN_EFF_FLAG) : f.id;
            k.can_mask = (f.extended ? (f.mask & CAN_EFF_MASK) : (f.mask & CAN_SFF_MASK)) | CAN_EFF_FLAG | CAN_RTR_FLAG;
            filters.push_back(k);
        }
        if (::setsockopt(fd, SOL_CAN_RAW, CAN_RAW_FILTER, filters.data(),
                         static_cast<socklen_t>(filters.size() * sizeof(can_filter))) != 0) {
            return fail("CAN_RAW_FILTER");
        }
    }
    const can_err_mask_t err_mask = CAN_ERR_BUSOFF | CAN_ERR_CRTL | CAN_ERR_RESTARTED | CAN_ERR_TX_TIMEOUT;
    if (::setsockopt(fd, SOL_CAN_RAW, CAN_RAW_ERR_FILTER, &err_mask, sizeof err_mask) != 0) return fail("CAN_RAW_ERR_FILTER");

    // CAN FD only where the interface carries it (its MTU says so).
    fd_enabled_ = false;
    if (options_.fd) {
        ifreq ifr{};
        std::strncpy(ifr.ifr_name, options_.interface.c_str(), IFNAMSIZ - 1);
        if (::ioctl(fd, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu == CANFD_MTU) {
            const int on = 1;
            fd_enabled_ = ::setsockopt(fd, SOL_CAN_RAW, CAN_RAW_FD_FRAMES, &on, sizeof on) == 0;
        }
    }
    const int size = options_.receive_buffer;
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) {
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
    const int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMP, &on, sizeof on);
    ::setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on);

    sockaddr_can addr{};
    addr.can_family = AF_CAN;
    addr.can_ifindex = static_cast<int>(index);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return fail("bind");

    boost::system::error_code ec;
    socket_.assign(fd, ec);
    if (ec) {
        ::close(fd);
        return false;
    }
    ++stats_.opens;
    last_drop_counter_ = 0;
    backoff_.reset();
    set_state(BusState::error_active, "socket open");
    core::log_info("socketcan.open", "reading CAN", {{"bus", options_.bus_name}, {"interface", options_.interface},
                   {"fd", fd_enabled_}, {"filters", options_.filters.size()}, {"opens", stats_.opens}});
    wait_readable();
    return true;
}

void SocketCanReader::schedule_reopen(const std::string& why) {
    if (stopped_) return;
    close();
    set_state(BusState::down, why.c_str());
    reopen_timer_.expires_after(backoff_.next());
    reopen_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || stopped_) return;
        if (!open()) schedule_reopen("could not reopen");
    });
}

void SocketCanReader::set_state(BusState state, const char* why) {
    if (state == stats_.state) return;
    const auto level = state == BusState::error_active ? core::LogLevel::info : core::LogLevel::warn;
    core::log(level, "socketcan.state", std::string("bus state ") + to_string(stats_.state) + " -> " + to_string(state),
              {{"bus", options_.bus_name}, {"interface", options_.interface}, {"state", to_string(state)},
               {"reason", why}, {"kernel_drops", stats_.kernel_drops}});
    stats_.state = state;
}

void SocketCanReader::wait_readable() {
    socket_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](boost::system::error_code ec) {
        if (ec || stopped_) return;
        read_ready();
    });
}

void SocketCanReader::read_ready() {
    canfd_frame raw{};
    char control[CMSG_SPACE(sizeof(timeval)) + CMSG_SPACE(sizeof(std::uint32_t))];
    // Read what is there now, but yield to the rest of the io_context now and then.
    for (int i = 0; i < 256; ++i) {
        iovec iov{&raw, sizeof raw};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        const ssize_t n = ::recvmsg(socket_.native_handle(), &msg, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
            // ENETDOWN (link set down), ENODEV (interface deleted), ...: reopen with backoff.
            ++stats_.read_errors;
            core::log_warn("socketcan.read_error", "the CAN interface stopped delivering; reopening",
                           {{"bus", options_.bus_name}, {"interface", options_.interface}, {"error", std::strerror(errno)}});
            schedule_reopen(std::strerror(errno));
            return;
        }
        core::CanFrame f;
        f.bus = options_.bus;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET) continue;
            if (c->cmsg_type == SO_TIMESTAMP) {
                timeval tv{};
                std::memcpy(&tv, CMSG_DATA(c), sizeof tv);
                f.timestamp_ns = static_cast<std::int64_t>(tv.tv_sec) * 1'000'000'000 + tv.tv_usec * 1000;
            } else if (c->cmsg_type == SO_RXQ_OVFL) {
                std::uint32_t dropped = 0;
                std::memcpy(&dropped, CMSG_DATA(c), sizeof dropped);
                if (dropped != last_drop_counter_) {
                    stats_.kernel_drops += dropped - last_drop_counter_;  // unsigned wrap is right here
                    last_drop_counter_ = dropped;
                    std::uint64_t suppressed = 0;
                    if (drop_log_.allow(std::chrono::steady_clock::now(), suppressed)) {
                        core::log_warn("socketcan.kernel_drops", "the kernel dropped CAN frames (receive queue full)",
                                       {{"bus", options_.bus_name}, {"kernel_drops", stats_.kernel_drops}});
                    }
                }
            }
        }
        if (f.timestamp_ns == 0) {
            f.timestamp_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 std::chrono::system_clock::now().time_since_epoch()).count();
        }
        if (n != CAN_MTU && n != CANFD_MTU) continue;  // not a frame; ignore
        f.fd = n == CANFD_MTU;
        f.extended = (raw.can_id & CAN_EFF_FLAG) != 0;
        f.remote = (raw.can_id & CAN_RTR_FLAG) != 0;
        f.error = (raw.can_id & CAN_ERR_FLAG) != 0;
        f.id = raw.can_id & (f.extended || f.error ? CAN_EFF_MASK : CAN_SFF_MASK);
        f.len = std::min<std::uint8_t>(raw.len, f.fd ? CANFD_MAX_DLEN : CAN_MAX_DLEN);
        f.fd_flags = f.fd ? raw.flags : 0;
        std::memcpy(f.data.data(), raw.data, f.len);
        if (f.error) {
            ++stats_.error_frames;
            if (raw.can_id & CAN_ERR_BUSOFF) {
                ++stats_.bus_off;
                set_state(BusState::bus_off, "bus-off error frame");
            } else if (raw.can_id & CAN_ERR_RESTARTED) {
                ++stats_.restarted;
                set_state(BusState::error_active, "controller restarted");
            } else if ((raw.can_id & CAN_ERR_CRTL) &&
                       (raw.data[1] & (CAN_ERR_CRTL_RX_PASSIVE | CAN_ERR_CRTL_TX_PASSIVE))) {
                ++stats_.error_passive;
                set_state(BusState::error_passive, "error-passive");
            } else if ((raw.can_id & CAN_ERR_CRTL) &&
                       (raw.data[1] & (CAN_ERR_CRTL_RX_WARNING | CAN_ERR_CRTL_TX_WARNING))) {
                set_state(BusState::error_warning, "error warning level");
            }
        } else {
            ++stats_.frames;
            if (stats_.state != BusState::error_active && stats_.state != BusState::down) {
                set_state(BusState::error_active, "frames flowing again");
            }
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
