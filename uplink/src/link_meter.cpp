#include "outpost/uplink/link_meter.hpp"

#include <cstddef>

#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace outpost::uplink {

void LinkMeter::attach(int fd) noexcept {
    detach();
    fd_ = fd;
    seen_ = {};
}

void LinkMeter::sample() noexcept {
    if (fd_ < 0) return;
    tcp_info info{};
    socklen_t len = sizeof info;
    if (::getsockopt(fd_, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return;
    // Older kernels fill less of the structure: bytes_sent (4.19) falls back to bytes_acked (4.1).
    const bool has_sent = len >= offsetof(tcp_info, tcpi_bytes_sent) + sizeof info.tcpi_bytes_sent;
    const LinkCounters now{has_sent ? info.tcpi_bytes_sent : info.tcpi_bytes_acked, info.tcpi_bytes_received,
                           info.tcpi_segs_out, info.tcpi_segs_in};
    auto add = [](std::uint64_t& total, std::uint64_t now_value, std::uint64_t& seen) {
        if (now_value > seen) total += now_value - seen;
        seen = now_value;
    };
    add(total_.bytes_sent, now.bytes_sent, seen_.bytes_sent);
    add(total_.bytes_received, now.bytes_received, seen_.bytes_received);
    add(total_.segments_sent, now.segments_sent, seen_.segments_sent);
    add(total_.segments_received, now.segments_received, seen_.segments_received);
}

void LinkMeter::detach() noexcept {
    sample();
    fd_ = -1;
    seen_ = {};
}

}  // namespace outpost::uplink
