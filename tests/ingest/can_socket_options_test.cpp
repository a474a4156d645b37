#include "outpost/ingest/can/socket_options.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

using namespace outpost::ingest;

namespace {

// SO_RCVBUF behaves the same on any socket: an ordinary UDP socket stands in for a CAN one.
class UdpSocket {
public:
    UdpSocket() : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {}
    ~UdpSocket() {
        if (fd_ >= 0) ::close(fd_);
    }
    int fd() const { return fd_; }

private:
    int fd_;
};

}  // namespace

TEST(SocketOptions, ReadBackIsHalvedAndACapIsReported) {
    auto r = receive_buffer_result(1 << 20, 2 << 20, true);
    EXPECT_EQ(r.granted, 1 << 20);
    EXPECT_FALSE(r.capped());
    // Without CAP_NET_ADMIN, SO_RCVBUF stops at rmem_max (212992 by default): Linux reports twice that.
    r = receive_buffer_result(1 << 20, 2 * 212992, false);
    EXPECT_EQ(r.granted, 212992);
    EXPECT_TRUE(r.capped());
    r.error = std::make_error_code(std::errc::bad_file_descriptor);
    EXPECT_FALSE(r.capped()) << "an error is an error, not a cap";
}

TEST(SocketOptions, ReceiveBufferIsSetAndReadBack) {
    UdpSocket s;
    ASSERT_GE(s.fd(), 0);
    const auto r = set_receive_buffer(s.fd(), 1 << 20);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.requested, 1 << 20);
    EXPECT_GT(r.granted, 0);
    if (r.forced) {
        EXPECT_EQ(r.granted, 1 << 20) << "SO_RCVBUFFORCE is not capped";
    } else {
        // Unprivileged: granted is whatever rmem_max allows, and capped() says whether it fell short.
        EXPECT_EQ(r.capped(), r.granted < (1 << 20));
    }
    int read_back = 0;
    ASSERT_FALSE(get_int_option(s.fd(), SOL_SOCKET, SO_RCVBUF, read_back));
    EXPECT_EQ(read_back / 2, r.granted);
}

TEST(SocketOptions, ErrorsCarryErrno) {
    EXPECT_EQ(set_int_option(-1, SOL_SOCKET, SO_TIMESTAMP, 1), std::make_error_code(std::errc::bad_file_descriptor));
    int v = 0;
    EXPECT_EQ(get_int_option(-1, SOL_SOCKET, SO_RCVBUF, v), std::make_error_code(std::errc::bad_file_descriptor));
    const auto r = set_receive_buffer(-1, 4096);
    EXPECT_EQ(r.error, std::make_error_code(std::errc::bad_file_descriptor));
    UdpSocket s;
    EXPECT_FALSE(set_int_option(s.fd(), SOL_SOCKET, SO_TIMESTAMP, 1));
    EXPECT_EQ(set_int_option(s.fd(), SOL_SOCKET, 0x7FFF, 1), std::make_error_code(std::errc::no_protocol_option));
}
