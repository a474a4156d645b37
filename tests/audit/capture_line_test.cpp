#include "audit/capture_line.hpp"

#include <gtest/gtest.h>

using outpost::audit::parse_capture_line;

TEST(CaptureLine, VerboseFormIsTopicThenPayload) {
    const auto l = parse_capture_line(R"(site/gw/bms/v {"gw":"gw","seq":1} )");
    ASSERT_TRUE(l);
    EXPECT_FALSE(l->received);
    EXPECT_EQ(l->topic, "site/gw/bms/v");
    EXPECT_EQ(l->payload, R"({"gw":"gw","seq":1} )");
}

TEST(CaptureLine, TimestampedFormAsPercentUPrintsIt) {
    const auto l = parse_capture_line("1700000000.250000000 site/gw/x {\"a\": 1}\r");
    ASSERT_TRUE(l);
    ASSERT_TRUE(l->received);
    EXPECT_DOUBLE_EQ(*l->received, 1700000000.25);
    EXPECT_EQ(l->topic, "site/gw/x");
    EXPECT_EQ(l->payload, "{\"a\": 1}");
}

TEST(CaptureLine, ANumericTopicWithoutAFractionIsATopic) {
    const auto l = parse_capture_line("12345 {\"gw\":\"a\"}");
    ASSERT_TRUE(l);
    EXPECT_FALSE(l->received);
    EXPECT_EQ(l->topic, "12345");
    // A time followed by nothing else is a topic with an empty payload.
    const auto t = parse_capture_line("1700000000.5");
    ASSERT_TRUE(t);
    EXPECT_FALSE(t->received);
    EXPECT_EQ(t->topic, "1700000000.5");
    EXPECT_EQ(t->payload, "");
}

TEST(CaptureLine, EmptyLinesAndLinesWithoutATopic) {
    EXPECT_FALSE(parse_capture_line(""));
    EXPECT_FALSE(parse_capture_line("\r"));
    EXPECT_FALSE(parse_capture_line(" {\"gw\":\"a\"}"));
    const auto only_topic = parse_capture_line("a/b");
    ASSERT_TRUE(only_topic);
    EXPECT_EQ(only_topic->payload, "");
}
