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

namespace {

std::string temp_json(const std::string& name, const std::string& text) {
    const std::string file = testing::TempDir() + "/" + name;
    std::FILE* f = std::fopen(file.c_str(), "w");
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
    return file;
}

}  // namespace

TEST(JsonReader, NumberOverflowIsAProblemWithPathAndPlace) {
    const auto file = temp_json("overflow.json", "{\n  \"broker\": {\"host\": \"h\",\n    \"port\": 1e400}\n}\n");
    ConfigIssues issues;
    EXPECT_TRUE(read_json_file(file, issues).is_null());
    ASSERT_EQ(issues.size(), 1u) << issues.to_string();
    EXPECT_EQ(issues.all()[0].file, file);
    EXPECT_TRUE(has_issue(issues, "/broker/port", "number out of range at line 3 column")) << issues.to_string();
    EXPECT_TRUE(has_issue(issues, "/broker/port", "\"1e400\" does not fit a double")) << issues.to_string();

    const auto in_array = temp_json("overflow2.json", "{\"a\": [1, 2, {\"b\": [-1e999]}]}");
    ConfigIssues issues2;
    EXPECT_TRUE(read_json_file(in_array, issues2).is_null());
    EXPECT_TRUE(has_issue(issues2, "/a/2/b/0", "\"-1e999\" does not fit")) << issues2.to_string();
}

TEST(JsonReader, DuplicateKeysAreEachReported) {
    const auto file = temp_json("dup.json", R"({"a": 1, "b": {"c": 1, "c": 2}, "a": 3, "l": [{"x": 1, "x": 1}]})");
    ConfigIssues issues;
    EXPECT_TRUE(read_json_file(file, issues).is_null());
    EXPECT_EQ(issues.size(), 3u) << issues.to_string();
    EXPECT_TRUE(has_issue(issues, "/b/c", "duplicate key \"c\"")) << issues.to_string();
    EXPECT_TRUE(has_issue(issues, "/a", "duplicate key \"a\"")) << issues.to_string();
    EXPECT_TRUE(has_issue(issues, "/l/0/x", "duplicate key \"x\"")) << issues.to_string();
}

TEST(JsonReader, AFloodOfDuplicatesIsSummarised) {
    std::string text = "{";
    for (int i = 0; i < 100000; ++i) text += "\"k\": 1, ";
    text += "\"end\": 0}";
    ConfigIssues issues;
    EXPECT_TRUE(parse_json_text(text, "flood.json", issues).is_null());
    EXPECT_EQ(issues.size(), 21u);
    EXPECT_TRUE(has_issue(issues, "/", "and 99979 more duplicate key(s)")) << issues.to_string();
}

TEST(JsonReader, RootMustBeAnObject) {
    for (const std::string text : {"null", "[]", "3", "\"s\""}) {
        ConfigIssues issues;
        EXPECT_TRUE(parse_json_text(text, "root.json", issues).is_null()) << text;
        ASSERT_EQ(issues.size(), 1u) << text;
        EXPECT_TRUE(has_issue(issues, "/", "the file must hold a JSON object")) << issues.to_string();
    }
    ConfigIssues issues;
    EXPECT_TRUE(parse_json_text("null", "root.json", issues).is_null());
    EXPECT_TRUE(has_issue(issues, "/", "found null")) << issues.to_string();
    ConfigIssues empty;
    EXPECT_TRUE(parse_json_text("", "empty.json", empty).is_null());
    EXPECT_TRUE(has_issue(empty, "/", "JSON syntax error")) << empty.to_string();
}

TEST(JsonReader, DeepNestingIsRefused) {
    ConfigIssues issues;
    EXPECT_TRUE(parse_json_text(std::string(1'000'000, '['), "deep.json", issues).is_null());
    ASSERT_EQ(issues.size(), 1u) << issues.to_string();
    EXPECT_NE(issues.all()[0].message.find("nested deeper than 64 levels"), std::string::npos);
    EXPECT_EQ(issues.all()[0].path.size(), 2u * 64);  // "/0/0/..."
    ConfigIssues fine;
    std::string ok = "{\"a\": " + std::string(60, '[') + std::string(60, ']') + "}";
    EXPECT_FALSE(parse_json_text(ok, "ok.json", fine).is_null()) << fine.to_string();
}

TEST(JsonReader, EndlessAndHugeFilesAreRefused) {
    ConfigIssues issues;
    EXPECT_TRUE(read_json_file("/dev/zero", issues).is_null());
    EXPECT_TRUE(has_issue(issues, "/", "not a regular file (a character device)")) << issues.to_string();
    const auto huge = temp_json("huge.json", "{\"a\": \"" + std::string((16u << 20) + 1, 'x') + "\"}");
    ConfigIssues issues2;
    EXPECT_TRUE(read_json_file(huge, issues2).is_null());
    EXPECT_TRUE(has_issue(issues2, "/", "larger than the 16 MiB allowed")) << issues2.to_string();
}

TEST(JsonReader, IntegersWrittenAsFloatsAndNumbersOutOfRange) {
    const auto j = nlohmann::json::parse(
        R"({"a": 1e3, "b": 8.0, "c": 1.5, "d": 1e300, "e": 18446744073709551615, "f": 99999999999999999999, "g": -0.0})");
    ConfigIssues issues;
    JsonReader r(j, "n.json", "", issues);
    EXPECT_EQ(r.require_integer("a", 0, 65535).value(), 1000);
    EXPECT_EQ(r.require_integer("b", 0, 10).value(), 8);
    EXPECT_FALSE(r.require_integer("c", 0, 10));
    EXPECT_FALSE(r.require_integer("d", 0, 65535));
    EXPECT_FALSE(r.require_integer("e", 0, 65535));
    EXPECT_FALSE(r.require_integer("f", 0, 65535));
    EXPECT_EQ(r.require_integer("g", 0, 10).value(), 0);
    EXPECT_EQ(issues.size(), 4u) << issues.to_string();
    EXPECT_TRUE(has_issue(issues, "/c", "expected an integer, found 1.5")) << issues.to_string();
    EXPECT_TRUE(has_issue(issues, "/d", "1e+300 is out of range 0..65535")) << issues.to_string();
    EXPECT_TRUE(has_issue(issues, "/e", "18446744073709551615 is out of range")) << issues.to_string();
    EXPECT_TRUE(has_issue(issues, "/f", "is out of range 0..65535")) << issues.to_string();
}

TEST(JsonReader, AValidFileParsesAsBefore) {
    const auto file = temp_json("ok.json", R"({"a": [1, {"b": "c"}], "d": {"e": null, "f": 2.5, "g": -3, "h": true}})");
    ConfigIssues issues;
    const auto j = read_json_file(file, issues);
    EXPECT_TRUE(issues.empty()) << issues.to_string();
    EXPECT_EQ(j, nlohmann::json::parse(R"({"a": [1, {"b": "c"}], "d": {"e": null, "f": 2.5, "g": -3, "h": true}})"));
}
