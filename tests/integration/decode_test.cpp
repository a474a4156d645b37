// `outpost decode`: a site engineer checks a mapping (here one importing a DBC file) against a
// captured log before going to site. Expected values were worked out by hand from the frames.
#include <gtest/gtest.h>

#include "process.hpp"

using namespace outpost::test;

TEST(Decode, PrintsWhatTheMappingWouldPublishAndTheIdsNoRuleMaps) {
    TempDir dir;
    const auto example = source_dir() + "/configs/dbc-example";
    ASSERT_EQ(run({outpost_binary(), "decode", "--config", example + "/site.json", "--candump", example + "/capture.log"},
                  dir.file("out")),
              0)
        << read_file(dir.file("out"));
    const auto out = read_file(dir.file("out"));
    for (const char* expected : {
             // 100#001E50FBA0C30000: 0x1E00 * 0.1, 0xFB50 = -1200 * 0.1, 0xA0 * 0.5, 0xC3 * 0.5
             "site/dbc-example/pack/pack_voltage = 768 V  [priority 7, qos 1]\n",
             "site/dbc-example/pack/pack_current = -120 A",
             "site/dbc-example/pack/soc = 80 %",
             "site/dbc-example/pack/soh = 97.5 %",
             // 100 ms later: inside min_interval_ms
             "site/dbc-example/pack/pack_voltage = 768.1 V  [priority 7, qos 1]  held back by rate control",
             // multiplexor 1 then 2: 0x0B9A * 0.01, bit 24; 0x0BA0 * 0.01
             "site/dbc-example/modules/module1_voltage = 29.7 V",
             "site/dbc-example/modules/module1_balancing = 1",
             "site/dbc-example/modules/module2_voltage = 29.76 V",
             // value table and IEEE float 0x44A8C000
             "site/dbc-example/pack_state/contactor_state = 2 (closed)  [priority 9, qos 1]\n",
             "site/dbc-example/pack_state/power = 1350 kW",
             // J1939 PGN 0xFEF1 from two source addresses, Motorola signed: 0xFF38 = -200, 0x0190 = 400
             "site/dbc-example/inverter_status/ac_power = -20 kW",
             "site/dbc-example/inverter_status/ac_power = 40 kW",
             // Motorola 16-bit words
             "site/dbc-example/cells/cell_min_voltage = 3.28 V",
             "site/dbc-example/cells/cell_max_voltage = 3.33 V",
             "13 frames: 13 readings published, 10 held back by rate control, 0 decode errors, 1 out of range",
             "ids no rule maps (1 frames): 5A5 (1)",
         }) {
        EXPECT_NE(out.find(expected), std::string::npos) << "missing: " << expected << "\n" << out;
    }
    EXPECT_EQ(out.find("module =", 0), std::string::npos) << "the multiplexor was not asked for";
    EXPECT_EQ(out.find("insulation_resistance"), std::string::npos) << "65535 is above the DBC's maximum";
}

TEST(Decode, MalformedLinesAreListedWithTheirNumbers) {
    TempDir dir;
    write_file(dir.file("cap.log"), "(1.0) can0 101#0CD00D0211C90000\nnot a frame\n(2.0) can0 101#0CD0\n");
    ASSERT_EQ(run({outpost_binary(), "decode", "--config", source_dir() + "/configs/dbc-example/site.json", "--candump",
                   dir.file("cap.log")},
                  dir.file("out")),
              0);
    const auto out = read_file(dir.file("out"));
    EXPECT_NE(out.find("line 2: malformed"), std::string::npos) << out;
    EXPECT_NE(out.find("1 decode errors"), std::string::npos) << "a 2-byte frame is too short for cell_max_voltage\n" << out;
}

TEST(Decode, DbcMistakesAreReportedByCheckWithLineNumbers) {
    TempDir dir;
    write_file(dir.file("x.dbc"), "VERSION \"\"\nBO_ 256 pack: 8 BMS\n SG_ v : 0|16@1+ (0.1,0 [0|0] \"V\" GW\n"
                                  " SG_ i : 16|16@1- (0.1,0) [0|0] \"A\" GW\n");
    write_file(dir.file("map.json"), R"({"dbc": [{"file": "x.dbc", "messages": {
        "pack": {"signals": ["v", "i", "soc"]}, "cells": {"signals": "*"}}}]})");
    write_file(dir.file("site.json"), R"({"gateway_id": "g", "broker": {"host": "h"}, "outbox": {"path": ")" +
                                          dir.file("o.db") + R"("}, "buses": [], "mappings": ["map.json"]})");
    EXPECT_EQ(run({outpost_binary(), "check", "--config", dir.file("site.json")}, dir.file("out")), 3);
    const auto out = read_file(dir.file("out"));
    EXPECT_NE(out.find("x.dbc: line 3: expected (<factor>,<offset>) in signal v"), std::string::npos) << out;
    EXPECT_NE(out.find("/dbc/0/messages/pack/signals: message pack in x.dbc has no signal \"soc\""), std::string::npos) << out;
    EXPECT_NE(out.find("/dbc/0/messages/cells: no message \"cells\" in x.dbc"), std::string::npos) << out;
}
