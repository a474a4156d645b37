#pragma once
// What the gateway's HTTP endpoint answers, Sans-I/O: a parsed request in, a response out; no
// socket, no clock (http_server.hpp is the shell that reads and writes them).
//   GET /metrics  Prometheus text exposition (text/plain; version=0.0.4)
//   GET /healthz  200 "ok": the io thread answered (it is the one serving this)
//   GET /readyz   200 when ready, 503 when not; a JSON body says why either way
// HEAD is answered like GET without the body; other methods get 405, other paths 404.
#include <functional>
#include <string>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace outpost::app {

using HttpRequest = boost::beast::http::request<boost::beast::http::empty_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

struct Readiness {
    bool ready = false;
    std::string body;  // JSON
};

struct HttpEndpoints {
    std::function<std::string()> metrics;
    std::function<Readiness()> readiness;
};

// The response to `request` (keep-alive as the request asks; Content-Length set).
HttpResponse respond(const HttpRequest& request, const HttpEndpoints& endpoints);
// A plain-text error answer that closes the connection (for requests that could not be parsed).
HttpResponse error_response(boost::beast::http::status status, const std::string& why);

}  // namespace outpost::app
