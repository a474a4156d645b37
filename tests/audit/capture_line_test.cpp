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

TEST(CaptureLine, HexFormTakesThePayloadFromTheLastField) {
    using outpost::audit::CaptureForm;
    // As mosquitto_sub 2.0.11 prints -F '%t %x': lowercase hex, no separators.
    const auto l = parse_capture_line("site/gw/batch 8700ff2041420a", CaptureForm::hex);
    ASSERT_TRUE(l);
    EXPECT_FALSE(l->received);
    EXPECT_EQ(l->topic, "site/gw/batch");
    EXPECT_EQ(l->payload, "8700ff2041420a");
    // A topic with a space; an empty payload still has its space.
    const auto spaced = parse_capture_line("a/d e 78\r", CaptureForm::hex);
    ASSERT_TRUE(spaced);
    EXPECT_EQ(spaced->topic, "a/d e");
    EXPECT_EQ(spaced->payload, "78");
    const auto empty = parse_capture_line("a/c ", CaptureForm::hex);
    ASSERT_TRUE(empty);
    EXPECT_EQ(empty->topic, "a/c");
    EXPECT_EQ(empty->payload, "");
    // -F '%U %t %x'.
    const auto timed = parse_capture_line("1700000000.250000000 a/d e 7b7d", CaptureForm::hex);
    ASSERT_TRUE(timed);
    ASSERT_TRUE(timed->received);
    EXPECT_DOUBLE_EQ(*timed->received, 1700000000.25);
    EXPECT_EQ(timed->topic, "a/d e");
    EXPECT_EQ(timed->payload, "7b7d");
    // A numeric topic and its payload, without a receive time.
    const auto numeric = parse_capture_line("1700000000.5 7b7d", CaptureForm::hex);
    ASSERT_TRUE(numeric);
    EXPECT_FALSE(numeric->received);
    EXPECT_EQ(numeric->topic, "1700000000.5");
    EXPECT_EQ(numeric->payload, "7b7d");
    EXPECT_FALSE(parse_capture_line(" 7b7d", CaptureForm::hex));
}

TEST(CaptureLine, HexDigitsOfEitherCase) {
    std::string out = "stale";
    EXPECT_TRUE(outpost::audit::decode_hex("", out));
    EXPECT_EQ(out, "");
    EXPECT_TRUE(outpost::audit::decode_hex("7B2200ffFF", out));
    EXPECT_EQ(out, std::string("{\"\0\xFF\xFF", 5));
    EXPECT_FALSE(outpost::audit::decode_hex("7", out));
    EXPECT_FALSE(outpost::audit::decode_hex("7g", out));
    EXPECT_FALSE(outpost::audit::decode_hex("7b 7d", out));
}
