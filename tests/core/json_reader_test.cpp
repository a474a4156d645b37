#include "outpost/core/json_reader.hpp"

#include <gtest/gtest.h>

#include "config_issues.hpp"

using namespace outpost::core;

using outpost::test::has_issue;

TEST(JsonReader, CollectsEveryProblemWithItsPath) {
    const auto j = nlohmann::json::parse(R"({"host": 5, "port": 70000, "protocl": "mqtt5", "tls": {"enabld": true}})");
    ConfigIssues issues;
    JsonReader r(j, "site.json", "/broker", issues);
    r.require_string("host");
    r.integer("port", 1883, 1, 65535);
    r.choice("protocol", "mqtt5", {"mqtt5", "mqtt3.1.1"});
    r.require_string("client_id");
    if (auto t = r.child("tls")) {
        t->boolean("enabled", false);
        t->finish();
    }
    r.finish();
    EXPECT_EQ(issues.size(), 5u) << issues.to_string();
    EXPECT_TRUE(has_issue(issues, "/broker/host", "expected a string, found number"));
    EXPECT_TRUE(has_issue(issues, "/broker/port", "70000 is out of range 1..65535"));
    EXPECT_TRUE(has_issue(issues, "/broker/protocl", "did you mean \"protocol\""));
    EXPECT_TRUE(has_issue(issues, "/broker/client_id", "missing"));
    EXPECT_TRUE(has_issue(issues, "/broker/tls/enabld", "did you mean \"enabled\""));
}

TEST(JsonReader, HexAndDecimalIds) {
    const auto j = nlohmann::json::parse(R"({"a": "0x18FF50E5", "b": 256, "c": "0x800", "d": "12z"})");
    ConfigIssues issues;
    JsonReader r(j, "m.json", "/can/0", issues);
    EXPECT_EQ(r.require_id("a", 0, 0x1FFFFFFF).value(), 0x18FF50E5);
    EXPECT_EQ(r.require_id("b", 0, 0x7FF).value(), 256);
    EXPECT_FALSE(r.require_id("c", 0, 0x7FF));
    EXPECT_FALSE(r.require_id("d", 0, 0x7FF));
    EXPECT_TRUE(has_issue(issues, "/can/0/c", "out of range"));
    EXPECT_TRUE(has_issue(issues, "/can/0/d", "not an integer"));
}

TEST(JsonReader, NotAnObjectIsReportedOnceAndFallbacksApply) {
    const auto j = nlohmann::json::parse("[1,2]");
    ConfigIssues issues;
    JsonReader r(j, "x.json", "/outbox", issues);
    EXPECT_EQ(r.integer("max_rows", 42, 0, 100), 42);
    EXPECT_FALSE(r.require_string("path"));
    r.finish();
    EXPECT_EQ(issues.size(), 1u);
    EXPECT_TRUE(has_issue(issues, "/outbox", "expected an object, found array"));
}

TEST(JsonReader, SyntaxErrorsNameLineAndColumn) {
    const std::string file = testing::TempDir() + "/broken.json";
    {
        std::FILE* f = std::fopen(file.c_str(), "w");
        std::fputs("{\n  \"a\": 1,\n  \"b\": ,\n}\n", f);
        std::fclose(f);
    }
    ConfigIssues issues;
    EXPECT_TRUE(read_json_file(file, issues).is_null());
    ASSERT_EQ(issues.size(), 1u);
    EXPECT_NE(issues.all()[0].message.find("line 3"), std::string::npos) << issues.to_string();
}
