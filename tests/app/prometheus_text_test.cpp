#include "prometheus_text.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>

using outpost::app::MetricType;
using outpost::app::PrometheusText;

TEST(PrometheusText, GroupsSamplesUnderOneHelpAndTypePerFamilyInFirstSeenOrder) {
    PrometheusText t;
    t.add("outpost_x_total", MetricType::counter, "things", {{"bus", "a"}}, std::uint64_t{1});
    t.gauge("outpost_up", "up", 1);
    t.add("outpost_x_total", MetricType::counter, "things", {{"bus", "b"}}, std::uint64_t{18446744073709551615ull});
    EXPECT_EQ(t.families(), 2u);
    EXPECT_EQ(t.text(),
              "# HELP outpost_x_total things\n"
              "# TYPE outpost_x_total counter\n"
              "outpost_x_total{bus=\"a\"} 1\n"
              "outpost_x_total{bus=\"b\"} 18446744073709551615\n"
              "# HELP outpost_up up\n"
              "# TYPE outpost_up gauge\n"
              "outpost_up 1\n");
}

TEST(PrometheusText, EscapesLabelValuesAndHelp) {
    PrometheusText t;
    t.add("outpost_g", MetricType::gauge, "a \\ b\nc", {{"device", "q\"uote\\back\nline"}, {"unit", "1"}}, 0.5);
    EXPECT_EQ(t.text(),
              "# HELP outpost_g a \\\\ b\\nc\n"
              "# TYPE outpost_g gauge\n"
              "outpost_g{device=\"q\\\"uote\\\\back\\nline\",unit=\"1\"} 0.5\n");
}

TEST(PrometheusText, FormatsSpecialAndFractionalValues) {
    PrometheusText t;
    t.add("a", MetricType::gauge, "h", {{"k", "nan"}}, std::numeric_limits<double>::quiet_NaN());
    t.add("a", MetricType::gauge, "h", {{"k", "inf"}}, std::numeric_limits<double>::infinity());
    t.add("a", MetricType::gauge, "h", {{"k", "-inf"}}, -std::numeric_limits<double>::infinity());
    t.add("a", MetricType::gauge, "h", {{"k", "tenth"}}, 0.1);
    const auto text = t.text();
    EXPECT_NE(text.find("a{k=\"nan\"} NaN\n"), std::string::npos) << text;
    EXPECT_NE(text.find("a{k=\"inf\"} +Inf\n"), std::string::npos) << text;
    EXPECT_NE(text.find("a{k=\"-inf\"} -Inf\n"), std::string::npos) << text;
    // Round-trips exactly.
    const auto pos = text.find("a{k=\"tenth\"} ") + 13;
    EXPECT_EQ(std::stod(text.substr(pos)), 0.1);
}

TEST(PrometheusText, RefusesWhatPrometheusWouldReject) {
    PrometheusText t;
    EXPECT_THROW(t.gauge("1abc", "h", 1), std::logic_error);
    EXPECT_THROW(t.gauge("a-b", "h", 1), std::logic_error);
    EXPECT_THROW(t.add("ok", MetricType::gauge, "h", {{"__reserved", "x"}}, 1.0), std::logic_error);
    EXPECT_THROW(t.add("ok2", MetricType::gauge, "h", {{"bad-label", "x"}}, 1.0), std::logic_error);
    EXPECT_THROW(t.counter("no_suffix", "h", 1), std::logic_error);      // a counter ends in _total
    EXPECT_THROW(t.gauge("gauge_total", "h", 1), std::logic_error);     // and only a counter does
    t.gauge("dup", "h", 1);
    EXPECT_THROW(t.gauge("dup", "h", 2), std::logic_error);             // the same series twice
    EXPECT_THROW(t.counter("dup_total", "h", 1); t.counter("dup_total", "other help", 1), std::logic_error);
    EXPECT_THROW(t.add("dup", MetricType::counter, "h", {{"a", "b"}}, 1.0), std::logic_error);  // type changed
    EXPECT_TRUE(PrometheusText::valid_name("outpost:recorded_rule_total"));
    EXPECT_FALSE(PrometheusText::valid_label_name("a:b"));
}
