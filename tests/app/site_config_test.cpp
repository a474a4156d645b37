#include "outpost/app/site_config.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>

#include "process.hpp"

using namespace outpost;

TEST(SiteConfig, TheDemoSiteLoads) {
    const auto site = app::load_site_config(test::source_dir() + "/configs/demo/site.json");
    EXPECT_EQ(site.gateway_id, "demo-bess-01");
    EXPECT_EQ(site.broker.port, 1883);
    EXPECT_EQ(site.broker.gateway_id, "demo-bess-01");
    ASSERT_EQ(site.buses.size(), 2u);
    EXPECT_EQ(site.buses[0].replay.path, test::source_dir() + "/configs/demo/bms.log");
    EXPECT_EQ(site.buses[1].type, app::BusType::modbus_rtu);
    ASSERT_EQ(site.buses[1].rtu.devices.size(), 2u) << "each Modbus device of the mapping goes to its line";
    EXPECT_FALSE(site.buses[1].rtu.devices[0].ranges.empty());
    EXPECT_EQ(site.mapping.can.size(), 4u);
    EXPECT_EQ(site.commit_interval, std::chrono::milliseconds(200));
}

TEST(SiteConfig, EveryProblemInTheSiteAndItsMappingsIsListed) {
    test::TempDir dir;
    test::write_file(dir.file("map.json"), R"({"can": [{"name": "x", "id": "0x100", "signals": [
        {"name": "v", "start_bit": 0, "length": 99}]}]})");
    test::write_file(dir.file("site.json"), R"({
      "gateway_id": "bad id!",
      "broker": {"host": "", "port": 0, "protocol": "mqtt4", "tls": {"enabled": true}, "keepalive": 30},
      "outbox": {"max_rows": 5},
      "buses": [{"name": "bms", "type": "canbus", "file": "missing.log", "speed": -1},
                {"name": "bms", "type": "candump_replay", "file": "missing.log"}],
      "mappings": ["map.json", "nope.json"],
      "extra": true
    })");
    try {
        app::load_site_config(dir.file("site.json"));
        FAIL() << "expected a ConfigError";
    } catch (const core::ConfigError& e) {
        const std::string text = e.what();
        for (const char* expected : {
                 "site.json: /gateway_id: use 1-64 letters",
                 "site.json: /broker/host: must not be empty",
                 "site.json: /broker/port: 0 is out of range 1..65535",
                 "site.json: /broker/protocol: \"mqtt4\" is not one of",
                 "site.json: /broker/tls/ca_file: TLS needs a CA file",
                 "site.json: /broker/keepalive: unknown key (did you mean \"keepalive_s\"?)",
                 "site.json: /outbox/path: missing",
                 "site.json: /outbox/max_rows: 5 is out of range",
                 "site.json: /buses/0/type: \"canbus\" is not one of",
                 "site.json: /buses/1/file: no such file",
                 "site.json: /buses/1/name: another bus has this name",
                 "site.json: /extra: unknown key",
                 "map.json: /can/0/signals/0/length: 99 is out of range 1..64",
                 "nope.json: /: cannot open the file",
             }) {
            EXPECT_NE(text.find(expected), std::string::npos) << "missing: " << expected << "\n" << text;
        }
        // An unknown bus type is one problem: its other keys depend on the type and are not checked.
        EXPECT_EQ(text.find("/buses/0/file"), std::string::npos) << text;
        EXPECT_EQ(text.find("/buses/0/speed"), std::string::npos) << text;
        EXPECT_EQ(e.issues().size(), 14u) << text;
    }
}

TEST(SiteConfig, KernelFiltersComeFromTheMappingIdsAndMasks) {
    const auto site = app::load_site_config(test::source_dir() + "/configs/dbc-example/site.json");
    ASSERT_EQ(site.buses.size(), 1u);
    const auto& filters = site.buses[0].socketcan.filters;
    ASSERT_EQ(filters.size(), 7u);
    const auto find = [&](std::uint32_t id) {
        const auto it = std::find_if(filters.begin(), filters.end(), [&](const auto& f) { return f.id == id; });
        EXPECT_NE(it, filters.end()) << std::hex << id;
        return it == filters.end() ? ingest::CanIdFilter{} : *it;
    };
    const auto pack = find(0x100);
    EXPECT_EQ(pack.mask, 0x7FFu);
    EXPECT_FALSE(pack.extended);
    EXPECT_EQ(find(0x18FF50E5).mask, 0x1FFFFFFFu);
    // The J1939 rule: PGN 0xFEF1 from any source address must pass the kernel filter.
    const auto pgn = find(0x18FEF100);
    EXPECT_TRUE(pgn.extended);
    EXPECT_EQ(pgn.mask, 0x3FFFF00u);
    EXPECT_EQ(0x18FEF1A3u & pgn.mask, pgn.id & pgn.mask);
}

namespace {

// The problems load_site_config() reports for a site, as text ("" if it loads).
std::string problems(const std::string& site_file) {
    try {
        app::load_site_config(site_file);
        return "";
    } catch (const core::ConfigError& e) {
        return e.what();
    }
}

std::string minimal_site(const std::string& broker_extra, const std::string& buses) {
    return R"({"gateway_id": "gw", "broker": {"host": "localhost")" + broker_extra +
           R"(}, "outbox": {"path": "o.db"}, "buses": )" + buses + R"(, "mappings": ["map.json"]})";
}

const char* const replay_bus = R"([{"name": "bms", "type": "candump_replay", "file": "bms.log"}])";

}  // namespace

TEST(SiteConfig, KnockOnProblemsOfAnUnknownBusTypeAreNotListed) {
    test::TempDir dir;
    test::write_file(dir.file("bms.log"), "");
    test::write_file(dir.file("map.json"), R"({"can": [{"name": "x", "id": "0x100", "bus": "bms",
        "signals": [{"name": "v", "start_bit": 0, "length": 8}]}]})");
    test::write_file(dir.file("site.json"),
                     minimal_site("", R"([{"name": "bms", "type": "socketcann", "interface": "can0"},
                                         {"name": "x", "file": "bms.log"}, 7])"));
    const auto text = problems(dir.file("site.json"));
    EXPECT_NE(text.find("/buses/0/type: \"socketcann\" is not one of"), std::string::npos) << text;
    EXPECT_NE(text.find("/buses/1/type: missing"), std::string::npos) << text;
    EXPECT_NE(text.find("/buses/2: expected an object, found number"), std::string::npos) << text;
    EXPECT_NE(text.find("3 configuration problem(s)"), std::string::npos) << text;
}

TEST(SiteConfig, HostilePasswordFilesAreRefusedQuickly) {
    test::TempDir dir;
    test::write_file(dir.file("bms.log"), "");
    test::write_file(dir.file("map.json"), R"({"can": []})");
    test::write_file(dir.file("big.pw"), std::string(5000, 'p'));
    for (const auto& [file, expected] :
         {std::pair<std::string, std::string>{"/dev/zero", "/dev/zero: not a regular file (a character device)"},
          {dir.file("big.pw"), "big.pw: larger than the 4 KiB allowed for a password file (5000 bytes)"},
          {dir.file("none.pw"), "none.pw: cannot read: No such file or directory"}}) {
        test::write_file(dir.file("site.json"),
                         minimal_site(R"(, "username": "u", "password_file": ")" + file + "\"", replay_bus));
        const auto text = problems(dir.file("site.json"));
        EXPECT_NE(text.find("/broker/password_file: "), std::string::npos) << text;
        EXPECT_NE(text.find(expected), std::string::npos) << text;
        EXPECT_NE(text.find("1 configuration problem(s)"), std::string::npos) << text;
    }
}

TEST(SiteConfig, ThePasswordIsTheFirstLine) {
    test::TempDir dir;
    test::write_file(dir.file("bms.log"), "");
    test::write_file(dir.file("map.json"), R"({"can": []})");
    test::write_file(dir.file("ok.pw"), "s3cret\r\nignored\n");
    ::chmod(dir.file("ok.pw").c_str(), 0600);
    test::write_file(dir.file("site.json"),
                     minimal_site(R"(, "username": "u", "password_file": "ok.pw")", replay_bus));
    const auto site = app::load_site_config(dir.file("site.json"));
    EXPECT_EQ(site.broker.password, "s3cret");
}

TEST(SiteConfig, JsonProblemsAreConfigurationProblemsWithFileAndPath) {
    test::TempDir dir;
    test::write_file(dir.file("bms.log"), "");
    test::write_file(dir.file("map.json"), R"({"can": [], "can": []})");
    test::write_file(dir.file("site.json"), minimal_site(R"(, "port": 1e400)", replay_bus));
    auto text = problems(dir.file("site.json"));
    EXPECT_NE(text.find("site.json: /broker/port: number out of range at line 1"), std::string::npos) << text;
    EXPECT_NE(text.find("1 configuration problem(s)"), std::string::npos) << text;

    test::write_file(dir.file("site.json"), minimal_site(R"(, "port": 1883.5)", replay_bus));
    text = problems(dir.file("site.json"));
    EXPECT_NE(text.find("site.json: /broker/port: expected an integer, found 1883.5"), std::string::npos) << text;
    EXPECT_NE(text.find("map.json: /can: duplicate key \"can\""), std::string::npos) << text;

    test::write_file(dir.file("site.json"), "null");
    text = problems(dir.file("site.json"));
    EXPECT_NE(text.find("1 configuration problem(s)"), std::string::npos) << text;
    EXPECT_NE(text.find("site.json: /: the file must hold a JSON object ({...}), found null"), std::string::npos)
        << text;

    test::write_file(dir.file("site.json"), minimal_site("", replay_bus));
    test::write_file(dir.file("map.json"), "null");
    text = problems(dir.file("site.json"));
    EXPECT_NE(text.find("map.json: /: the file must hold a JSON object ({...}), found null"), std::string::npos)
        << text;
}

TEST(SiteConfig, AReplaySourceMustBeARegularFile) {
    test::TempDir dir;
    test::write_file(dir.file("map.json"), R"({"can": []})");
    test::write_file(dir.file("site.json"),
                     minimal_site("", R"([{"name": "bms", "type": "candump_replay", "file": "/dev/zero"}])"));
    const auto text = problems(dir.file("site.json"));
    EXPECT_NE(text.find("/buses/0/file: /dev/zero: not a regular file"), std::string::npos) << text;
}

TEST(SiteConfig, TheLinkSectionAndTtlsAreReadAndTheirMistakesListed) {
    test::TempDir dir;
    const std::string common = R"("gateway_id": "gw", "broker": {"host": "127.0.0.1"}, "mappings": [")" + test::source_dir() +
                               R"(/configs/demo/bms_mapping.json"], "buses": [{"name": "bms", "type": "candump_replay", "enabled": false, "file": "-"}],)";
    test::write_file(dir.file("good.json"), "{" + common + R"(
      "outbox": {"path": "o.db", "ttl_s": {"0": 60, "5": 86400}, "loss_window_s": 10, "expiry_grace_s": 15},
      "link": {"live_first": true, "max_bytes_per_s": 20000, "max_inflight_bytes": 8192,
               "batch": {"encoding": "cbor", "compression": "zstd", "max_readings": 100, "max_delay_ms": 10000,
                         "group_levels": 2, "retained": "batch", "unbatched_from_priority": 8},
               "budget": {"daily_bytes": 1000000, "monthly_bytes": 20000000, "reserve_percent": 20,
                          "always_from_priority": 7}}})");
    const auto site = app::load_site_config(dir.file("good.json"));
    const auto& b = site.broker;
    EXPECT_TRUE(b.live_first);
    EXPECT_EQ(b.max_bytes_per_s, 20000u);
    EXPECT_EQ(b.max_inflight_bytes, 8192u);
    EXPECT_TRUE(b.batch.enabled);
    EXPECT_EQ(b.batch.format.encoding, uplink::Encoding::cbor);
    EXPECT_EQ(b.batch.format.compression, uplink::Compression::zstd);
    EXPECT_EQ(b.batch.max_readings, 100u);
    EXPECT_EQ(b.batch.max_delay, std::chrono::milliseconds(10000));
    EXPECT_EQ(b.batch.group_levels, 2);
    EXPECT_TRUE(b.batch.batch_retained);
    EXPECT_EQ(b.batch.unbatched_from_priority, 8);
    EXPECT_EQ(b.budget.daily_bytes, 1000000u);
    EXPECT_EQ(b.budget.monthly_bytes, 20000000u);
    EXPECT_DOUBLE_EQ(b.budget.reserve_fraction, 0.2);
    EXPECT_EQ(b.budget.always_from_priority, 7);
    EXPECT_EQ(site.outbox.ttl[0], std::chrono::seconds(60));
    EXPECT_EQ(site.outbox.ttl[5], std::chrono::seconds(86400));
    EXPECT_EQ(site.outbox.ttl[3], std::chrono::seconds(0));
    EXPECT_EQ(site.outbox.loss_window, std::chrono::seconds(10));
    EXPECT_EQ(site.outbox.expiry_grace, std::chrono::seconds(15));

    // Without the section: one message per reading, no caps.
    test::write_file(dir.file("plain.json"), "{" + common + R"("outbox": {"path": "o.db"}})");
    const auto plain = app::load_site_config(dir.file("plain.json"));
    EXPECT_FALSE(plain.broker.batch.enabled);
    EXPECT_FALSE(plain.broker.live_first);
    EXPECT_EQ(plain.broker.max_inflight_bytes, 0u);
    EXPECT_EQ(plain.outbox.loss_window, std::chrono::seconds(60));
    EXPECT_EQ(plain.outbox.expiry_grace, std::chrono::seconds(60));

    test::write_file(dir.file("bad.json"), "{" + common + R"(
      "outbox": {"path": "o.db", "ttl_s": {"10": 5, "3": -1}, "loss_window_s": 0, "expiry_grace_s": 7200},
      "link": {"batch": {"encoding": "protobuf", "compression": "lz4", "topic_suffix": "a/b", "max_readings": 0},
               "budget": {"reserve_percent": 150}, "bandwidth": 5}})");
    try {
        app::load_site_config(dir.file("bad.json"));
        FAIL() << "expected a ConfigError";
    } catch (const core::ConfigError& e) {
        const std::string text = e.what();
        for (const char* expected : {"/outbox/ttl_s/10: unknown key", "/outbox/ttl_s/3: -1 is out of range",
                                     "/outbox/loss_window_s: 0 is out of range",
                                     "/outbox/expiry_grace_s: 7200 is out of range",
                                     "/link/batch/encoding: \"protobuf\" is not one of",
                                     "/link/batch/compression: \"lz4\" is not one of", "/link/batch/topic_suffix:",
                                     "/link/batch/max_readings: 0 is out of range",
                                     "/link/budget/reserve_percent: 150 is out of range", "/link/bandwidth: unknown key"}) {
            EXPECT_NE(text.find(expected), std::string::npos) << expected << "\n" << text;
        }
    }
}
