#include "http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/executor_work_guard.hpp>

#include "process.hpp"

using namespace outpost::app;
using namespace std::chrono_literals;

namespace {

// A blocking loopback client that can also misbehave (send half a request, stall, flood).
class Client {
public:
    explicit Client(std::uint16_t port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    }
    ~Client() { ::close(fd_); }
    bool connected() const { return connected_; }
    bool send(const std::string& s) { return ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size()); }
    // Reads until `marker` has arrived (or the peer closed, or the timeout passed).
    std::string read_until(const std::string& marker, std::chrono::milliseconds timeout) {
        const auto end = std::chrono::steady_clock::now() + timeout;
        while (got_.find(marker) == std::string::npos && !closed_) {
            if (!wait_readable(end)) break;
        }
        return got_;
    }
    // True if the peer closed the connection before the timeout.
    bool wait_closed(std::chrono::milliseconds timeout) {
        const auto end = std::chrono::steady_clock::now() + timeout;
        while (!closed_ && wait_readable(end)) {
        }
        return closed_;
    }
    void clear() { got_.clear(); }

private:
    bool wait_readable(std::chrono::steady_clock::time_point end) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
        char buf[65536];
        const auto n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) {
            closed_ = true;
            return false;
        }
        got_.append(buf, static_cast<std::size_t>(n));
        return true;
    }
    int fd_ = -1;
    bool connected_ = false;
    bool closed_ = false;
    std::string got_;
};

// The server on its own io thread, as in the gateway.
class Served {
public:
    explicit Served(HttpOptions options) {
        options.enabled = true;
        options.address = "127.0.0.1";
        options.port = 0;
        server_ = std::make_unique<HttpServer>(io_, options, HttpEndpoints{[] { return std::string(metrics_body); },
                                                                          [] { return Readiness{true, "{}"}; }});
        server_->start();
        thread_ = std::thread([this] { io_.run(); });
    }
    ~Served() {
        boost::asio::post(io_, [this] { server_->stop(); });
        work_.reset();
        io_.stop();
        thread_.join();
    }
    std::uint16_t port() const { return server_->port(); }
    HttpServerStats stats() {
        std::promise<HttpServerStats> p;
        boost::asio::post(io_, [&] { p.set_value(server_->stats()); });
        return p.get_future().get();
    }
    static constexpr const char* metrics_body = "outpost_up 1\n";

private:
    boost::asio::io_context io_{1};
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{io_.get_executor()};
    std::unique_ptr<HttpServer> server_;
    std::thread thread_;
};

const std::string get_metrics = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";

}  // namespace

TEST(HttpServer, AnswersSeveralRequestsOnOneKeepAliveConnection) {
    Served s({});
    Client c(s.port());
    ASSERT_TRUE(c.connected());
    for (int i = 0; i < 3; ++i) {
        c.clear();
        ASSERT_TRUE(c.send(get_metrics));
        const auto got = c.read_until("outpost_up 1\n", 10s);
        EXPECT_EQ(got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << got;
        EXPECT_NE(got.find("Content-Length: 13\r\n"), std::string::npos) << got;
    }
    c.clear();
    ASSERT_TRUE(c.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    EXPECT_TRUE(c.wait_closed(10s));
    EXPECT_NE(c.read_until("ok\n", 0ms).find("\r\n\r\nok\n"), std::string::npos);
    EXPECT_EQ(s.stats().requests, 4u);
}

TEST(HttpServer, HeadersOverTheLimitAreRefusedAndTheConnectionClosed) {
    Served s({});
    Client c(s.port());
    ASSERT_TRUE(c.send("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(16 * 1024, 'a') + "\r\n\r\n"));
    const auto got = c.read_until("\r\n\r\n", 10s);
    EXPECT_EQ(got.rfind("HTTP/1.1 431", 0), 0u) << got.substr(0, 200);
    EXPECT_TRUE(c.wait_closed(10s));
    EXPECT_TRUE(outpost::test::wait_until([&] { return s.stats().bad_requests == 1; }, 10s));
    EXPECT_EQ(s.stats().requests, 0u);
}

TEST(HttpServer, RequestsWithABodyOrGarbageAreRefused) {
    Served s({});
    {
        Client c(s.port());
        ASSERT_TRUE(c.send("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"));
        EXPECT_EQ(c.read_until("\r\n\r\n", 10s).rfind("HTTP/1.1 400", 0), 0u);
        EXPECT_TRUE(c.wait_closed(10s));
    }
    {
        Client c(s.port());
        ASSERT_TRUE(c.send("\x16\x03\x01 not http at all\r\n\r\n"));
        EXPECT_EQ(c.read_until("\r\n\r\n", 10s).rfind("HTTP/1.1 400", 0), 0u);
        EXPECT_TRUE(c.wait_closed(10s));
    }
    EXPECT_EQ(s.stats().bad_requests, 2u);
}

TEST(HttpServer, ASlowClientIsCutOffAtTheDeadlineWhileOthersAreServed) {
    HttpOptions o;
    o.request_timeout = 500ms;
    Served s(o);
    Client slow(s.port());
    ASSERT_TRUE(slow.send("GET /metrics HTTP/1.1\r\nHo"));  // and nothing more
    const auto t0 = std::chrono::steady_clock::now();
    // Meanwhile the io thread serves everybody else.
    Client other(s.port());
    ASSERT_TRUE(other.send(get_metrics));
    EXPECT_NE(other.read_until("outpost_up 1\n", 10s).find("200 OK"), std::string::npos);
    // The contract: closed at the deadline; the margin only absorbs a loaded machine.
    EXPECT_TRUE(slow.wait_closed(o.request_timeout + 10s));
    EXPECT_GE(std::chrono::steady_clock::now() - t0, o.request_timeout - 50ms);
    // (The client may see the close before the io thread has counted it.)
    EXPECT_TRUE(outpost::test::wait_until([&] { return s.stats().timeouts >= 1; }, 10s));
    // An idle keep-alive connection goes the same way.
    EXPECT_TRUE(other.wait_closed(o.request_timeout + 10s));
    EXPECT_TRUE(outpost::test::wait_until([&] { return s.stats().timeouts == 2; }, 10s));
}

TEST(HttpServer, ConnectionsOverTheCapAreClosedAtOnce) {
    HttpOptions o;
    o.max_connections = 2;
    Served s(o);
    auto a = std::make_unique<Client>(s.port());
    Client b(s.port());
    ASSERT_TRUE(a->send(get_metrics));
    ASSERT_TRUE(b.send(get_metrics));
    ASSERT_NE(a->read_until("outpost_up 1\n", 10s).find("200 OK"), std::string::npos);
    ASSERT_NE(b.read_until("outpost_up 1\n", 10s).find("200 OK"), std::string::npos);
    Client c(s.port());  // the kernel completes the handshake; the server closes it unanswered
    c.send(get_metrics);
    EXPECT_TRUE(c.wait_closed(10s));
    EXPECT_EQ(c.read_until("HTTP", 0ms), "");
    EXPECT_TRUE(outpost::test::wait_until([&] { return s.stats().refused_connections == 1; }, 10s));
    a.reset();  // a slot frees up
    bool served = false;
    for (int i = 0; i < 100 && !served; ++i) {
        Client d(s.port());
        d.send(get_metrics);
        served = d.read_until("outpost_up 1\n", 2s).find("200 OK") != std::string::npos;
        if (!served) std::this_thread::sleep_for(50ms);
    }
    EXPECT_TRUE(served);
}
