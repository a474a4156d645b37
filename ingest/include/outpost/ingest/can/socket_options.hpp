#pragma once
// Socket options with their results checked and read back (can-utils' candump does the same).
// Every function captures errno at once, before anything else can overwrite it.
#include <system_error>

namespace outpost::ingest {

// setsockopt / getsockopt of an int; the error is errno's (empty on success).
std::error_code set_int_option(int fd, int level, int name, int value) noexcept;
std::error_code get_int_option(int fd, int level, int name, int& value) noexcept;

struct ReceiveBuffer {
    int requested = 0;     // bytes asked for
    int granted = 0;       // bytes the kernel grants (SO_RCVBUF read back, halved: Linux doubles it)
    bool forced = false;   // SO_RCVBUFFORCE worked (CAP_NET_ADMIN); otherwise SO_RCVBUF, capped at rmem_max
    std::error_code error; // neither option could be set, or the read-back failed
    bool capped() const noexcept { return !error && granted < requested; }
};

// What the kernel granted, from the value SO_RCVBUF reads back (Linux stores and reports twice
// the size asked for, to leave room for its bookkeeping).
ReceiveBuffer receive_buffer_result(int requested, int read_back, bool forced) noexcept;

// SO_RCVBUFFORCE, falling back to SO_RCVBUF when the process may not exceed rmem_max, then reads
// the size back.
ReceiveBuffer set_receive_buffer(int fd, int bytes) noexcept;

}  // namespace outpost::ingest
