#include "outpost/mapping/mapping_loader.hpp"

#include <cstdio>
#include <ctime>

#include <gtest/gtest.h>

#include "config_issues.hpp"

#include "process.hpp"

using namespace outpost::mapping;
using outpost::core::ConfigIssues;

using outpost::test::has_issue;

TEST(MappingLoader, LoadsTheDemoMapping) {
    ConfigIssues issues;
    const auto m = load_mapping_file(outpost::test::source_dir() + "/configs/demo/bms_mapping.json",
                                     {"demo-bess-01", {"bms"}}, issues);
    ASSERT_TRUE(issues.empty()) << issues.to_string();
    ASSERT_EQ(m.can.size(), 4u);
    EXPECT_EQ(m.can[0].signals[0].topic, "site/demo-bess-01/bms/pack/pack_voltage");
    EXPECT_EQ(m.can[0].signals[0].priority, 7);
    EXPECT_EQ(m.can[0].signals[2].priority, 5);  // from the file's defaults
    EXPECT_TRUE(m.can[0].signals[2].retain);
    EXPECT_EQ(m.can[1].signals[0].spec.byte_order, ByteOrder::motorola);
    EXPECT_EQ(m.can[3].id, 0x18FF50E5u);
    EXPECT_TRUE(m.can[3].extended);
    EXPECT_EQ(m.can[3].signals[0].topic, "site/demo-bess-01/safety/insulation_resistance");
    EXPECT_EQ(m.can[0].bus, 0);
}

TEST(MappingLoader, ReportsEveryMistakeWithItsPath) {
    outpost::test::TempDir dir;
    const auto file = dir.file("bad.json");
    outpost::test::write_file(file, R"({
      "defaults": {"priority": 12},
      "can": [
        {"name": "a", "id": "0x900", "signals": [
          {"name": "x", "start_bit": 60, "length": 16, "unit": "V"},
          {"name": "x", "start_bit": 0, "length": 8, "byte_order": "big", "topic": "t/{nope}"}
        ]},
        {"name": "b", "id": 256, "bus": "can9", "signals": [
          {"name": "f", "start_bit": 0, "length": 16, "type": "float", "factor": 0, "topic": "a/+/b", "qos": 3}
        ]},
        {"name": "c", "id": "0x100", "signals": [], "lenght": 8}
      ]
    })");
    ConfigIssues issues;
    load_mapping_file(file, {"gw", {"bms"}}, issues);
    const auto text = issues.to_string();
    EXPECT_TRUE(has_issue(issues, "/defaults/priority", "out of range 0..9")) << text;
    EXPECT_TRUE(has_issue(issues, "/can/0/id", "out of range")) << text;
    EXPECT_TRUE(has_issue(issues, "/can/0/signals/0/start_bit", "needs 10 bytes but the message has 8")) << text;
    EXPECT_TRUE(has_issue(issues, "/can/0/signals/1/name", "another signal")) << text;
    EXPECT_TRUE(has_issue(issues, "/can/0/signals/1/byte_order", "\"big\" is not one of")) << text;
    EXPECT_TRUE(has_issue(issues, "/can/0/signals/1/topic", "unknown placeholder {nope}")) << text;
    EXPECT_TRUE(has_issue(issues, "/can/1/bus", "no bus named \"can9\"")) << text;
    EXPECT_TRUE(has_issue(issues, "/can/1/signals/0/length", "float signal is 32 bits")) << text;
    EXPECT_TRUE(has_issue(issues, "/can/1/signals/0/factor", "must not be 0")) << text;
    EXPECT_TRUE(has_issue(issues, "/can/1/signals/0/topic", "wildcard")) << text;
    EXPECT_TRUE(has_issue(issues, "/can/1/signals/0/qos", "out of range 0..2")) << text;
    EXPECT_TRUE(has_issue(issues, "/can/2/id", "already maps this id")) << text;
    EXPECT_TRUE(has_issue(issues, "/can/2/signals", "at least one signal")) << text;
    EXPECT_TRUE(has_issue(issues, "/can/2/lenght", "did you mean \"length\"")) << text;
    EXPECT_EQ(issues.size(), 14u) << text;
}

namespace {

Mapping load(const std::string& dir_file, const std::string& json, ConfigIssues& issues) {
    outpost::test::write_file(dir_file, json);
    return load_mapping_file(dir_file, {"gw", {"bms"}}, issues);
}

}  // namespace

TEST(MappingLoader, LengthAcceptShortFramesAndOutOfRange) {
    outpost::test::TempDir dir;
    ConfigIssues issues;
    const auto m = load(dir.file("m.json"), R"({"can": [
        {"name": "a", "id": 1, "signals": [{"name": "x", "start_bit": 0, "length": 8}]},
        {"name": "b", "id": 2, "length": 6, "accept_short_frames": true, "out_of_range": "publish", "signals": [
           {"name": "x", "start_bit": 0, "length": 8, "max": 10},
           {"name": "y", "start_bit": 8, "length": 8, "max": 10, "out_of_range": "drop"}]}]})", issues);
    ASSERT_TRUE(issues.empty()) << issues.to_string();
    ASSERT_EQ(m.can.size(), 2u);
    EXPECT_FALSE(m.can[0].length) << "no \"length\": the frame must hold every signal";
    EXPECT_FALSE(m.can[0].accept_short_frames);
    EXPECT_FALSE(m.can[0].signals[0].publish_out_of_range);
    EXPECT_EQ(m.can[1].length, std::optional<std::uint8_t>(6));
    EXPECT_TRUE(m.can[1].accept_short_frames);
    EXPECT_TRUE(m.can[1].signals[0].publish_out_of_range) << "from the message";
    EXPECT_FALSE(m.can[1].signals[1].publish_out_of_range) << "the signal says otherwise";

    ConfigIssues bad;
    load(dir.file("bad.json"), R"({"can": [{"name": "a", "id": 1, "accept_short_frames": 1, "out_of_range": "keep",
        "signals": [{"name": "x", "start_bit": 0, "length": 8, "out_of_range": true}]}]})", bad);
    EXPECT_TRUE(has_issue(bad, "/can/0/accept_short_frames", "")) << bad.to_string();
    EXPECT_TRUE(has_issue(bad, "/can/0/out_of_range", "")) << bad.to_string();
    EXPECT_TRUE(has_issue(bad, "/can/0/signals/0/out_of_range", "")) << bad.to_string();
}

TEST(MappingLoader, DbcMessagesKeepTheirLengthAndTakeTheOptions) {
    outpost::test::TempDir dir;
    outpost::test::write_file(dir.file("x.dbc"), "BO_ 256 pack: 8 BMS\n SG_ v : 0|16@1+ (0.1,0) [0|100] \"V\" GW\n"
                                                 "BO_ 257 cells: 4 BMS\n SG_ c : 0|16@1+ (1,0) [0|5] \"V\" GW\n"
                                                 " SG_ d : 16|16@1+ (1,0) [0|5] \"V\" GW\n");
    ConfigIssues issues;
    const auto m = load(dir.file("m.json"), R"({"dbc": [{"file": "x.dbc", "out_of_range": "publish", "messages": {
        "pack": {"accept_short_frames": true},
        "cells": {"out_of_range": "drop", "signals": {"c": {"out_of_range": "publish"}, "d": {}}}}}]})", issues);
    ASSERT_TRUE(issues.empty()) << issues.to_string();
    ASSERT_EQ(m.can.size(), 2u);
    const auto& pack = m.can[0].name == "pack" ? m.can[0] : m.can[1];
    const auto& cells = m.can[0].name == "pack" ? m.can[1] : m.can[0];
    EXPECT_EQ(pack.length, std::optional<std::uint8_t>(8));
    EXPECT_TRUE(pack.accept_short_frames);
    EXPECT_TRUE(pack.signals[0].publish_out_of_range) << "from the import";
    EXPECT_EQ(cells.length, std::optional<std::uint8_t>(4));
    EXPECT_FALSE(cells.accept_short_frames);
    EXPECT_TRUE(cells.signals[0].publish_out_of_range) << "from the signal";
    EXPECT_FALSE(cells.signals[1].publish_out_of_range) << "from the message";
}

TEST(MappingLoader, ANanFactorInADbcIsReportedWithFileAndLine) {
    outpost::test::TempDir dir;
    outpost::test::write_file(dir.file("x.dbc"), "BO_ 256 pack: 8 BMS\n SG_ v : 0|16@1+ (NaN,0) [0|0] \"V\" GW\n");
    ConfigIssues issues;
    load(dir.file("m.json"), R"({"dbc": [{"file": "x.dbc"}]})", issues);
    EXPECT_TRUE(has_issue(issues, "line 2", "factor and offset must be finite")) << issues.to_string();
    const auto text = issues.to_string();
    EXPECT_NE(text.find("x.dbc"), std::string::npos) << text;
}

TEST(MappingLoader, ADbcThatIsNotARegularFileIsRefused) {
    ConfigIssues issues;
    outpost::test::TempDir dir;
    load(dir.file("m.json"), R"({"dbc": [{"file": "/dev/zero"}]})", issues);
    EXPECT_TRUE(has_issue(issues, "/dbc/0/file", "not a regular file")) << issues.to_string();
}

// `outpost check` on a DBC message with 100k signals: linear, not quadratic (it took > 20 s).
// Process CPU time, so a loaded machine does not make it fail; and the 10x larger message may
// take at most 40x as long (linear is 10x, quadratic 100x), whatever the machine's speed. The
// absolute bound is a quarter of the quadratic time: measured 0.15 s, but CPU time itself grew
// to 1.03 s with both cores of this VM busy.
TEST(MappingLoader, ADbcMessageWith100kSignalsLoadsInLinearTime) {
    outpost::test::TempDir dir;
    auto cpu_seconds = [] { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; };
    auto write_dbc = [&](const std::string& name, int signals) {
        std::string text = "BO_ 256 big: 64 X\n";
        text.reserve(static_cast<std::size_t>(signals) * 60);
        for (int i = 0; i < signals; ++i) {
            text += " SG_ s" + std::to_string(i) + " : " + std::to_string(i % 512) + "|1@1+ (1,0) [0|1] \"\" X\n";
        }
        for (int i = 0; i < signals; i += 10) text += "VAL_ 256 s" + std::to_string(i) + " 0 \"off\" 1 \"on\" ;\n";
        outpost::test::write_file(dir.file(name), text);
    };
    auto time_load = [&](const std::string& dbc, const std::string& json, std::size_t expected) {
        ConfigIssues issues;
        const double start = cpu_seconds();
        const auto m = load(dir.file(dbc + ".json"), json, issues);
        const double took = cpu_seconds() - start;
        EXPECT_TRUE(issues.empty()) << issues.to_string().substr(0, 500);
        EXPECT_EQ(m.can.size(), 1u);
        if (!m.can.empty()) {
            EXPECT_EQ(m.can[0].signals.size(), expected);
        }
        return took;
    };
    write_dbc("small.dbc", 10'000);
    write_dbc("big.dbc", 100'000);
    const double small = time_load("small", R"({"dbc": [{"file": "small.dbc"}]})", 10'000);
    const double big = time_load("big", R"({"dbc": [{"file": "big.dbc"}]})", 100'000);
    std::printf("100k signals: %.3f s CPU; 10k: %.3f s\n", big, small);
    EXPECT_LT(big, 5.0);
    EXPECT_LT(big, 40 * std::max(small, 0.005));
    // Listing every signal by name goes through the same lookups.
    std::string names = "[";
    for (int i = 0; i < 100'000; ++i) names += (i ? ",\"s" : "\"s") + std::to_string(i) + "\"";
    names += "]";
    const double listed =
        time_load("listed", R"({"dbc": [{"file": "big.dbc", "messages": {"big": {"signals": )" + names + "}}}]}", 100'000);
    std::printf("100k signals listed by name: %.3f s CPU\n", listed);
    EXPECT_LT(listed, 2.0);
}
