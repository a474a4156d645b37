#include "outpost/uplink/envelope.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

TEST(Envelope, WrapsTheBodyWithGatewayEpochAndSequence) {
    std::string out;
    outpost::uplink::render_payload(out, "bess-01", 7345, 1234, R"("ts":1700000000.100000,"value":52.3,"unit":"V")");
    EXPECT_EQ(out, R"({"gw":"bess-01","ep":7345,"seq":1234,"ts":1700000000.100000,"value":52.3,"unit":"V"})");
    const auto j = nlohmann::json::parse(out);
    EXPECT_EQ(j["seq"], 1234);
    EXPECT_EQ(j["ep"], 7345);
    EXPECT_EQ(j["value"], 52.3);
}

TEST(Envelope, EmptyBodyStillValidJson) {
    std::string out = "stale";
    outpost::uplink::render_payload(out, "g", 4294967295u, 18446744073709551615ull, "");
    EXPECT_EQ(out, R"({"gw":"g","ep":4294967295,"seq":18446744073709551615})");
    EXPECT_TRUE(nlohmann::json::accept(out));
}
