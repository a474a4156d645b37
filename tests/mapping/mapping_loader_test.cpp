#include "outpost/mapping/mapping_loader.hpp"

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
