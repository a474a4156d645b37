#include "http_routes.hpp"

#include <string_view>

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/verb.hpp>

namespace outpost::app {
namespace http = boost::beast::http;

namespace {

HttpResponse make(http::status status, unsigned version, std::string_view type, std::string body) {
    HttpResponse res{status, version};
    res.set(http::field::server, "outpost");
    res.set(http::field::content_type, type);
    res.set(http::field::cache_control, "no-store");
    res.body() = std::move(body);
    return res;
}

}  // namespace

HttpResponse respond(const HttpRequest& request, const HttpEndpoints& endpoints) {
    auto target = std::string_view(request.target().data(), request.target().size());
    target = target.substr(0, target.find('?'));  // Prometheus may add parameters; none are used
    const bool head = request.method() == http::verb::head;
    HttpResponse res;
    if (target != "/metrics" && target != "/healthz" && target != "/readyz") {
        res = make(http::status::not_found, request.version(), "text/plain; charset=utf-8",
                   "not found; try /metrics, /healthz or /readyz\n");
    } else if (request.method() != http::verb::get && !head) {
        res = make(http::status::method_not_allowed, request.version(), "text/plain; charset=utf-8",
                   "only GET and HEAD\n");
        res.set(http::field::allow, "GET, HEAD");
    } else if (target == "/metrics") {
        res = make(http::status::ok, request.version(), "text/plain; version=0.0.4; charset=utf-8", endpoints.metrics());
    } else if (target == "/healthz") {
        res = make(http::status::ok, request.version(), "text/plain; charset=utf-8", "ok\n");
    } else {
        auto r = endpoints.readiness();
        res = make(r.ready ? http::status::ok : http::status::service_unavailable, request.version(),
                   "application/json", std::move(r.body) + "\n");
    }
    res.keep_alive(request.keep_alive());
    const auto length = res.body().size();
    if (head) res.body().clear();
    res.content_length(length);
    return res;
}

HttpResponse error_response(http::status status, const std::string& why) {
    auto res = make(status, 11, "text/plain; charset=utf-8", why + "\n");
    res.keep_alive(false);
    res.content_length(res.body().size());
    return res;
}

}  // namespace outpost::app
