// `outpost check` and `outpost run` on configurations with mistakes, through the real binary.
#include <gtest/gtest.h>

#include <filesystem>

#include "process.hpp"

using namespace outpost::test;

namespace {

const char* bad_site = R"({
  "gateway_id": "plant/7",
  "broker": {"host": "broker.example", "port": "8883", "tls": {"enabled": true, "ca_file": "/nonexistent/ca.pem"}},
  "outbox": {"path": "OUTBOX", "commit_interval_ms": 0},
  "buses": [{"name": "bms", "type": "candump_replay", "file": "LOG", "speeed": 2}],
  "mappings": ["MAP"]
})";

const char* bad_mapping = R"({"can": [
  {"name": "pack", "id": "0x100", "bus": "bms", "signals": [
    {"name": "v", "start_bit": 0, "length": 16, "byte_order": "motorolla"},
    {"name": "i", "start_bit": 16, "length": 16, "priority": 10}]}]})";

std::string replace(std::string s, const std::string& from, const std::string& to) {
    s.replace(s.find(from), from.size(), to);
    return s;
}

}  // namespace

TEST(Cli, CheckListsEveryMistakeWithItsPathAndRunRefusesToStart) {
    TempDir dir;
    write_file(dir.file("map.json"), bad_mapping);
    write_file(dir.file("bms.log"), "(1.0) can0 100#0000\n");
    std::string site = replace(bad_site, "OUTBOX", dir.file("outbox.db"));
    site = replace(site, "LOG", dir.file("bms.log"));
    site = replace(site, "MAP", dir.file("map.json"));
    write_file(dir.file("site.json"), site);

    EXPECT_EQ(run({outpost_binary(), "check", "--config", dir.file("site.json")}, dir.file("check.out")), 3);
    const auto out = read_file(dir.file("check.out"));
    for (const char* expected : {"7 configuration problem(s)", "/gateway_id:", "/broker/port: expected an integer",
                                 "/broker/tls/ca_file: no such file", "/outbox/commit_interval_ms: 0 is out of range",
                                 "/buses/0/speeed: unknown key (did you mean \"speed\"?)",
                                 "map.json: /can/0/signals/0/byte_order: \"motorolla\" is not one of",
                                 "map.json: /can/0/signals/1/priority: 10 is out of range 0..9"}) {
        EXPECT_NE(out.find(expected), std::string::npos) << "missing: " << expected << "\n" << out;
    }
    EXPECT_EQ(run({outpost_binary(), "run", "--config", dir.file("site.json")}, dir.file("run.out")), 3);
    EXPECT_NE(read_file(dir.file("run.out")).find("/buses/0/speeed"), std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(dir.file("outbox.db"))) << "run must not start on a bad config";
}

TEST(Cli, CheckAcceptsTheDemoSite) {
    TempDir dir;
    EXPECT_EQ(run({outpost_binary(), "check", "--config", source_dir() + "/configs/demo/site.json"}, dir.file("out")), 0);
    EXPECT_NE(read_file(dir.file("out")).find("OK: gateway \"demo-bess-01\", 2 bus(es), 2 mapping file(s), 4 CAN message(s), 12 signal(s), "
                                                    "2 Modbus device(s), 18 register(s)"),
              std::string::npos)
        << read_file(dir.file("out"));
}

TEST(Cli, UsageErrorsAndMissingFiles) {
    TempDir dir;
    EXPECT_EQ(run({outpost_binary(), "frobnicate", "--config", "x"}, dir.file("a")), 2);
    EXPECT_EQ(run({outpost_binary(), "run"}, dir.file("b")), 2);
    EXPECT_EQ(run({outpost_binary(), "check", "--config", dir.file("nope.json")}, dir.file("c")), 3);
    EXPECT_NE(read_file(dir.file("c")).find("cannot open the file"), std::string::npos);
    write_file(dir.file("broken.json"), "{\"gateway_id\": \"x\",\n");
    EXPECT_EQ(run({outpost_binary(), "check", "--config", dir.file("broken.json")}, dir.file("d")), 3);
    EXPECT_NE(read_file(dir.file("d")).find("JSON syntax error at line"), std::string::npos) << read_file(dir.file("d"));
}
