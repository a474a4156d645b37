#include "outpost/ingest/can/receive_control.hpp"

#include <cstring>

namespace outpost::ingest {

ReceiveControl parse_control(msghdr& msg) noexcept {
    ReceiveControl out;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET) continue;
        const auto payload = c->cmsg_len >= CMSG_LEN(0) ? c->cmsg_len - CMSG_LEN(0) : 0;
        // memcpy: CMSG_DATA is aligned for cmsghdr, not necessarily for the payload's type.
        if (c->cmsg_type == SO_TIMESTAMP && payload >= sizeof(timeval)) {
            timeval tv{};
            std::memcpy(&tv, CMSG_DATA(c), sizeof tv);
            out.timestamp_ns = static_cast<std::int64_t>(tv.tv_sec) * 1'000'000'000 + static_cast<std::int64_t>(tv.tv_usec) * 1000;
        } else if (c->cmsg_type == SO_RXQ_OVFL && payload >= sizeof(std::uint32_t)) {
            std::uint32_t dropped = 0;
            std::memcpy(&dropped, CMSG_DATA(c), sizeof dropped);
            out.drop_counter = dropped;
        }
    }
    return out;
}

}  // namespace outpost::ingest
