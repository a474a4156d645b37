#pragma once
// The ancillary data a raw CAN socket delivers with each frame (recvmsg's control buffer):
// the kernel receive time (SO_TIMESTAMP) and the kernel's drop counter (SO_RXQ_OVFL).
// Sans-I/O: parse_control() reads a msghdr that recvmsg (or a test) filled.
#include <sys/socket.h>
#include <sys/time.h>

#include <cstdint>
#include <optional>

namespace outpost::ingest {

// A control buffer aligned for cmsghdr: CMSG_FIRSTHDR/CMSG_NXTHDR read it through cmsghdr*, which
// a plain char array does not allow (undefined behaviour, and a fault on strict-alignment CPUs).
union ControlBuffer {
    cmsghdr header;
    char bytes[CMSG_SPACE(sizeof(timeval)) + CMSG_SPACE(sizeof(std::uint32_t))];
};

struct ReceiveControl {
    std::optional<std::int64_t> timestamp_ns;   // SO_TIMESTAMP, nanoseconds since the Unix epoch
    std::optional<std::uint32_t> drop_counter;  // SO_RXQ_OVFL: frames dropped since the socket opened
};

// Reads the SOL_SOCKET messages of `msg` (its msg_control and msg_controllen as recvmsg left them);
// others are ignored, and so is a message too short for its payload.
ReceiveControl parse_control(msghdr& msg) noexcept;

}  // namespace outpost::ingest
