#include "outpost/ingest/can/socket_options.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace outpost::ingest {

std::error_code set_int_option(int fd, int level, int name, int value) noexcept {
    if (::setsockopt(fd, level, name, &value, sizeof value) == 0) return {};
    return {errno, std::generic_category()};
}

std::error_code get_int_option(int fd, int level, int name, int& value) noexcept {
    socklen_t size = sizeof value;
    if (::getsockopt(fd, level, name, &value, &size) == 0) return {};
    return {errno, std::generic_category()};
}

ReceiveBuffer receive_buffer_result(int requested, int read_back, bool forced) noexcept {
    ReceiveBuffer out;
    out.requested = requested;
    out.granted = read_back / 2;
    out.forced = forced;
    return out;
}

ReceiveBuffer set_receive_buffer(int fd, int bytes) noexcept {
    bool forced = true;
    auto ec = set_int_option(fd, SOL_SOCKET, SO_RCVBUFFORCE, bytes);
    if (ec) {
        forced = false;
        ec = set_int_option(fd, SOL_SOCKET, SO_RCVBUF, bytes);
    }
    int read_back = 0;
    if (!ec) ec = get_int_option(fd, SOL_SOCKET, SO_RCVBUF, read_back);
    auto out = receive_buffer_result(bytes, read_back, forced);
    out.error = ec;
    return out;
}

}  // namespace outpost::ingest
