#include "http_server.hpp"

#include <algorithm>
#include <optional>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "outpost/core/log.hpp"

namespace outpost::app {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr std::uint32_t header_limit = 8 * 1024;
// The read buffer: a request's headers, plus what a pipelining client sent after them.
constexpr std::size_t buffer_limit = 2 * header_limit;
}  // namespace

struct HttpServer::Shared {
    HttpOptions options;
    HttpEndpoints endpoints;
    HttpServerStats stats;
};

class HttpServer::Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket socket, std::shared_ptr<Shared> shared)
        : stream_(std::move(socket)), buffer_(buffer_limit), shared_(std::move(shared)) {}

    void start() { read(); }

    void close() noexcept {
        boost::system::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
        stream_.socket().close(ignored);
    }

private:
    void read() {
        parser_.emplace();
        parser_->header_limit(header_limit);
        stream_.expires_after(shared_->options.request_timeout);
        http::async_read(stream_, buffer_, *parser_,
                         [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec) {
        if (ec == asio::error::operation_aborted) return;
        if (ec == beast::error::timeout) {
            ++shared_->stats.timeouts;
            return close();
        }
        if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset) {
            return close();
        }
        if (ec) {
            if (&ec.category() != &http::make_error_code(http::error::end_of_stream).category() &&
                ec != http::error::buffer_overflow) {
                return close();  // a socket error: nobody to answer
            }
            ++shared_->stats.bad_requests;
            const bool too_big = ec == http::error::header_limit || ec == http::error::buffer_overflow;
            response_ = error_response(too_big ? http::status::request_header_fields_too_large
                                               : http::status::bad_request,
                                       ec.message());
            return write();
        }
        ++shared_->stats.requests;
        try {
            response_ = respond(parser_->get(), shared_->endpoints);
        } catch (const std::exception& e) {
            // A bug in making the answer must not end the gateway: the scrape fails, visibly.
            core::log_error("http.handler_failed", "could not answer an HTTP request", {{"error", e.what()}});
            response_ = error_response(http::status::internal_server_error, "internal error");
        }
        write();
    }

    void write() {
        stream_.expires_after(shared_->options.request_timeout);
        http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec == beast::error::timeout) ++self->shared_->stats.timeouts;
            if (ec || !self->response_.keep_alive()) return self->close();
            self->read();
        });
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::empty_body>> parser_;
    HttpResponse response_;
    std::shared_ptr<Shared> shared_;
};

HttpServer::HttpServer(asio::io_context& io, const HttpOptions& options, HttpEndpoints endpoints)
    : shared_(std::make_shared<Shared>(Shared{options, std::move(endpoints), {}})),
      acceptor_(io),
      retry_timer_(io) {
    const tcp::endpoint endpoint(asio::ip::make_address(options.address), options.port);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
    port_ = acceptor_.local_endpoint().port();
}

HttpServer::~HttpServer() { stop(); }

const HttpServerStats& HttpServer::stats() const noexcept { return shared_->stats; }

std::size_t HttpServer::open_connections() {
    sessions_.erase(std::remove_if(sessions_.begin(), sessions_.end(), [](const auto& s) { return s.expired(); }),
                    sessions_.end());
    return sessions_.size();
}

void HttpServer::start() {
    core::log_info("http.listening", "serving /metrics, /healthz and /readyz",
                   {{"address", shared_->options.address}, {"port", port_},
                    {"max_connections", shared_->options.max_connections}});
    accept();
}

void HttpServer::accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
        if (stopped_ || ec == asio::error::operation_aborted) return;
        if (ec) {
            // Out of descriptors or similar: try again shortly rather than spin.
            core::log_warn("http.accept_failed", "could not accept a connection; retrying", {{"error", ec.message()}});
            retry_timer_.expires_after(std::chrono::milliseconds(200));
            retry_timer_.async_wait([this](boost::system::error_code wec) {
                if (!wec && !stopped_) accept();
            });
            return;
        }
        if (open_connections() >= shared_->options.max_connections) {
            ++shared_->stats.refused_connections;
            boost::system::error_code ignored;
            socket.close(ignored);
        } else {
            ++shared_->stats.connections;
            auto session = std::make_shared<Session>(std::move(socket), shared_);
            sessions_.push_back(session);
            session->start();
        }
        accept();
    });
}

void HttpServer::stop() {
    if (stopped_) return;
    stopped_ = true;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    retry_timer_.cancel();
    for (auto& weak : sessions_) {
        if (auto s = weak.lock()) s->close();
    }
    sessions_.clear();
}

}  // namespace outpost::app
