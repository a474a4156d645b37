#include "http_routes.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/verb.hpp>

using namespace outpost::app;
namespace http = boost::beast::http;

namespace {

struct Fixture {
    int metrics_calls = 0;
    bool ready = true;
    HttpEndpoints endpoints{[this] {
                                ++metrics_calls;
                                return std::string("outpost_up 1\n");
                            },
                            [this] { return Readiness{ready, ready ? "{\"ready\":true}" : "{\"ready\":false}"}; }};
};

HttpRequest request(http::verb verb, const std::string& target, unsigned version = 11) {
    HttpRequest r{verb, target, version};
    r.set(http::field::host, "127.0.0.1");
    return r;
}

}  // namespace

TEST(HttpRoutes, MetricsAreServedAsPrometheusText) {
    Fixture f;
    const auto res = respond(request(http::verb::get, "/metrics"), f.endpoints);
    EXPECT_EQ(res.result(), http::status::ok);
    EXPECT_EQ(res[http::field::content_type], "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_EQ(res.body(), "outpost_up 1\n");
    EXPECT_EQ(res[http::field::content_length], "13");
    EXPECT_TRUE(res.keep_alive());
    EXPECT_EQ(f.metrics_calls, 1);
    // Query parameters are ignored, not a different path.
    EXPECT_EQ(respond(request(http::verb::get, "/metrics?x=1"), f.endpoints).result(), http::status::ok);
}

TEST(HttpRoutes, HealthAndReadiness) {
    Fixture f;
    auto res = respond(request(http::verb::get, "/healthz"), f.endpoints);
    EXPECT_EQ(res.result(), http::status::ok);
    EXPECT_EQ(res.body(), "ok\n");
    EXPECT_EQ(f.metrics_calls, 0);
    res = respond(request(http::verb::get, "/readyz"), f.endpoints);
    EXPECT_EQ(res.result(), http::status::ok);
    EXPECT_EQ(res.body(), "{\"ready\":true}\n");
    f.ready = false;
    res = respond(request(http::verb::get, "/readyz"), f.endpoints);
    EXPECT_EQ(res.result(), http::status::service_unavailable);
    EXPECT_EQ(res.body(), "{\"ready\":false}\n");
}

TEST(HttpRoutes, HeadHasTheLengthWithoutTheBody) {
    Fixture f;
    const auto res = respond(request(http::verb::head, "/metrics"), f.endpoints);
    EXPECT_EQ(res.result(), http::status::ok);
    EXPECT_TRUE(res.body().empty());
    EXPECT_EQ(res[http::field::content_length], "13");
}

TEST(HttpRoutes, UnknownPathsAndMethods) {
    Fixture f;
    EXPECT_EQ(respond(request(http::verb::get, "/"), f.endpoints).result(), http::status::not_found);
    EXPECT_EQ(respond(request(http::verb::get, "/metrics/"), f.endpoints).result(), http::status::not_found);
    const auto res = respond(request(http::verb::post, "/metrics"), f.endpoints);
    EXPECT_EQ(res.result(), http::status::method_not_allowed);
    EXPECT_EQ(res[http::field::allow], "GET, HEAD");
    EXPECT_EQ(f.metrics_calls, 0);
}

TEST(HttpRoutes, KeepAliveFollowsTheRequest) {
    Fixture f;
    auto req = request(http::verb::get, "/healthz");
    req.keep_alive(false);
    EXPECT_FALSE(respond(req, f.endpoints).keep_alive());
    EXPECT_FALSE(respond(request(http::verb::get, "/healthz", 10), f.endpoints).keep_alive());  // HTTP/1.0
    const auto err = error_response(http::status::bad_request, "bad");
    EXPECT_FALSE(err.keep_alive());
    EXPECT_EQ(err.body(), "bad\n");
}
