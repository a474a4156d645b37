#pragma once
// The Boost.Beast shell around http_routes.hpp: accepts on the gateway's io_context and answers
// GET requests, one at a time per connection (keep-alive allowed).
//
// Limits, so that a slow or hostile client cannot block the gateway or grow its memory: request
// headers up to 8 KiB and no body (larger is answered 431/400 and closed); every read of a request
// and every write of a response has a deadline (options.request_timeout); at most
// options.max_connections at once (more are accepted and closed at once, and counted). Each
// connection holds a bounded read buffer and its one response.
//
// Thread: everything runs on the io_context's thread, the endpoints' callbacks included (they read
// the gateway's counters without locks). Construction binds the socket: it throws
// boost::system::system_error at start-up if the address cannot be used.
#include <cstdint>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "http_routes.hpp"
#include "outpost/app/http_options.hpp"

namespace outpost::app {

struct HttpServerStats {
    std::uint64_t connections = 0;          // accepted and served
    std::uint64_t refused_connections = 0;  // over max_connections, closed at once
    std::uint64_t requests = 0;             // answered
    std::uint64_t bad_requests = 0;         // could not be parsed, or over a limit
    std::uint64_t timeouts = 0;             // connections closed at a deadline
};

class HttpServer {
public:
    HttpServer(boost::asio::io_context& io, const HttpOptions& options, HttpEndpoints endpoints);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    void start();
    // Stops accepting and closes every connection. Idempotent.
    void stop();
    std::uint16_t port() const noexcept { return port_; }
    const HttpServerStats& stats() const noexcept;
    std::size_t open_connections();

private:
    class Session;
    struct Shared;
    void accept();

    std::shared_ptr<Shared> shared_;  // what connections use; they may outlive this object in the io_context
    boost::asio::ip::tcp::acceptor acceptor_;
    boost::asio::steady_timer retry_timer_;
    std::vector<std::weak_ptr<Session>> sessions_;
    std::uint16_t port_ = 0;
    bool stopped_ = false;
};

}  // namespace outpost::app
