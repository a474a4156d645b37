// The "modbus" section of a mapping file: the example site, and every mistake with its JSON path
// (or CSV file and line).
#include "outpost/mapping/mapping_loader.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "config_issues.hpp"
#include "outpost/mapping/modbus_mapper.hpp"

using namespace outpost::mapping;
using outpost::core::ConfigIssues;
using outpost::core::ModbusTable;
using outpost::test::has_issue;

namespace {

// A directory of its own for each test, removed afterwards.
class Dir {
public:
    Dir() : path_(std::filesystem::temp_directory_path() /
                  ("outpost-modbus-loader-" + std::to_string(std::random_device{}()))) {
        std::filesystem::create_directories(path_);
    }
    ~Dir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    std::string write(const std::string& name, const std::string& text) const {
        const auto p = (path_ / name).string();
        std::ofstream(p, std::ios::binary) << text;
        return p;
    }

private:
    std::filesystem::path path_;
};

const RegisterRule* find(const ModbusDeviceRule& d, const std::string& name) {
    for (const auto& r : d.registers) {
        if (r.name == name) return &r;
    }
    return nullptr;
}

const MappingContext context{"gw1", {"can0", "rs485", "tcp"}};

}  // namespace

TEST(ModbusLoader, LoadsTheExampleSite) {
    ConfigIssues issues;
    const auto m = load_mapping_file(std::string(OUTPOST_SOURCE_DIR) + "/configs/modbus-example/mapping.json",
                                     {"modbus-example", {"rs485"}}, issues);
    ASSERT_TRUE(issues.empty()) << issues.to_string();
    ASSERT_EQ(m.modbus.size(), 2u);
    const auto& pcs = m.modbus[0];
    EXPECT_EQ(pcs.name, "pcs");
    EXPECT_EQ(pcs.bus, 0u);
    EXPECT_EQ(pcs.unit, 1u);
    EXPECT_EQ(pcs.response_timeout_ms, 300);
    EXPECT_EQ(pcs.max_registers, 64u);
    EXPECT_TRUE(pcs.allow_gaps);
    EXPECT_EQ(pcs.registers.size(), 14u);  // 3 in JSON, 11 of the CSV's 12
    const auto* power = find(pcs, "ac_power");
    ASSERT_NE(power, nullptr);
    EXPECT_EQ(power->spec.address, 10u);  // register 11 in the 1-based list
    EXPECT_EQ(power->spec.type, RegisterType::i32);
    EXPECT_EQ(power->spec.order, WordOrder::cdab);
    EXPECT_DOUBLE_EQ(power->spec.factor, 0.1);
    EXPECT_EQ(power->decimals, 1);
    EXPECT_EQ(power->unit, "kW");
    EXPECT_EQ(power->description, "AC active power; positive = discharge");
    EXPECT_EQ(power->topic, "site/modbus-example/pcs/ac_power");
    EXPECT_EQ(power->priority, 7);
    EXPECT_EQ(power->poll_ms, 500);
    EXPECT_EQ(power->minimum, -1200);
    EXPECT_DOUBLE_EQ(power->rate.deadband_percent, 0.5);  // from the device's defaults
    EXPECT_EQ(power->rate.heartbeat_ms, 60'000);
    const auto* state = find(pcs, "state");
    ASSERT_NE(state, nullptr);
    EXPECT_EQ(state->value_names.at(2), "running");
    EXPECT_TRUE(state->retain);
    const auto* model = find(pcs, "model");
    ASSERT_NE(model, nullptr);
    EXPECT_EQ(model->spec.type, RegisterType::string);
    EXPECT_EQ(model->spec.length, 8u);
    EXPECT_EQ(model->spec.table, ModbusTable::input_registers);
    EXPECT_EQ(model->topic, "site/modbus-example/pcs/info/model");
    EXPECT_EQ(find(pcs, "fault_word"), nullptr);  // not chosen
    EXPECT_EQ(find(pcs, "alarm_grid")->spec.bit, 1);
    EXPECT_EQ(find(pcs, "remote_enabled")->spec.table, ModbusTable::coils);
    EXPECT_EQ(find(pcs, "remote_enabled")->poll_ms, 5000);
    const auto& meter = m.modbus[1];
    EXPECT_EQ(meter.unit, 2u);
    EXPECT_EQ(find(meter, "voltage_l1")->topic, "site/modbus-example/grid/voltage_l1");
    EXPECT_EQ(find(meter, "voltage_l1")->decimals, -1);
    EXPECT_EQ(find(meter, "frequency")->decimals, 2);
    EXPECT_EQ(find(meter, "import_energy")->spec.type, RegisterType::f64);

    // What the poll planner gets: one range per value, bit fields of register 1 merged.
    const auto ranges = wanted_ranges(pcs);
    ASSERT_EQ(ranges.size(), 13u);
    EXPECT_EQ(ranges[0].table, ModbusTable::coils);
    EXPECT_EQ(ranges[2].address, 1u);  // holding 0 (state), then 1 (the alarm bits)
    EXPECT_EQ(ranges[2].count, 1u);

    // And the mapper publishes from it: holding 10..11 = 0xFFFF_FF9C word-swapped = -100 -> -10 kW.
    ModbusMapper mapper(m.modbus);
    outpost::core::ModbusBlock block;
    block.unit = 1;
    block.table = ModbusTable::holding_registers;
    block.address = 10;
    block.count = 2;
    block.data_len = 4;
    block.data[0] = 0xFF;
    block.data[1] = 0x9C;
    block.data[2] = 0xFF;
    block.data[3] = 0xFF;
    block.timestamp_ns = 1'700'000'000'000'000'000;
    std::vector<outpost::core::Message> out;
    ASSERT_EQ(mapper.map(block, out), 1u);
    EXPECT_EQ(out[0].topic, "site/modbus-example/pcs/ac_power");
    EXPECT_EQ(out[0].body, "\"ts\":1700000000.000000,\"value\":-10,\"unit\":\"kW\"");
}

TEST(ModbusLoader, ReportsEveryMistakeWithItsPath) {
    Dir dir;
    const auto file = dir.write("bad.json", R"({
      "modbus": [
        {"name": "pcs", "bus": "rs458", "unit": 0, "max_registers": 126, "max_bits": 0, "response_timeout_ms": 5,
         "poll_ms": 0, "retries": 11, "registers": [
          {"name": "a", "table": "holdng", "address": 0},
          {"name": "b", "table": "holding", "address": 70000},
          {"name": "c", "table": "holding", "address": 10, "type": "uint17"},
          {"name": "d", "table": "holding", "address": 12, "type": "u32", "word_order": "CDAB"},
          {"name": "e", "table": "holding", "address": 20, "type": "u16", "bit": 16},
          {"name": "f", "table": "input", "address": 0, "type": "string", "length": 0},
          {"name": "g", "table": "input", "address": 200, "type": "string", "length": 10, "factor": 0.1},
          {"name": "a", "table": "holding", "address": 30},
          {"name": "h", "table": "holding", "address": 13},
          {"name": "i", "table": "coil", "address": 1, "type": "u16"},
          {"name": "j", "table": "holding", "address": 40, "topic": "x/{nope}"},
          {"name": "k", "table": "holding", "address": 41, "bit": 2, "type": "f32"},
          {"name": "l", "table": "holding", "address": 50, "type": "u16", "bit": 3},
          {"name": "m", "table": "holding", "address": 50, "type": "u16", "bit": 3},
          {"name": "n", "table": "input", "address": 300, "type": "string", "length": 4, "min": 0},
          {"name": "o", "table": "holding", "address": 60, "scale": 2},
          {"name": "p", "table": "holding", "address": 70, "type": "u32", "word_order": "CBDA"}
        ]},
        {"name": "pcs", "bus": "rs485", "unit": 248, "registers": []},
        {"name": "meter", "bus": "rs485", "unit": 3, "max_registers": 2, "registers": [
          {"name": "e", "table": "holding", "address": 0, "type": "f64"}
        ]},
        {"name": "meter2", "bus": "rs485", "unit": 3, "registers": [{"name": "x", "table": "input", "address": 1}]},
        {"name": "empty", "bus": "rs485", "unit": 4}
      ]
    })");
    ConfigIssues issues;
    load_mapping_file(file, context, issues);
    const auto text = issues.to_string();
    EXPECT_TRUE(has_issue(issues, "/modbus/0/bus", "no bus named \"rs458\" in the site configuration (did you mean \"rs485\"?)")) << text;
    EXPECT_TRUE(has_issue(issues, "/modbus/0/unit", "0 is the broadcast address")) << text;
    EXPECT_TRUE(has_issue(issues, "/modbus/0/max_registers", "out of range 1..125")) << text;
    EXPECT_TRUE(has_issue(issues, "/modbus/0/max_bits", "out of range 1..2000")) << text;
    EXPECT_TRUE(has_issue(issues, "/modbus/0/response_timeout_ms", "out of range 10..60000")) << text;
    EXPECT_TRUE(has_issue(issues, "/modbus/0/poll_ms", "out of range 1..86400000")) << text;
    EXPECT_TRUE(has_issue(issues, "/modbus/0/retries", "out of range 0..10")) << text;
    EXPECT_TRUE(has_issue(issues, "/modbus/0/registers/0/table", "\"holdng\" is not a table (did you mean \"holding\"?)")) << text;
    EXPECT_TRUE(has_issue(issues, "/modbus/0/registers/1/address", "out of range 0..65535")) << text;
    EXPECT_TRUE(has_issue(issues, "/modbus/0/registers/2/type", "\"uint17\" is not a type (did you mean \"uint16\"?)")) << text;
    EXPECT_TRUE(has_issue(issues, "/modbus/0/registers/16/word_order", "\"CBDA\" is not a word order")) << text;
    EXPECT_TRUE(has_issue(issues, "/modbus/0/registers/4/bit", "bit 16 is outside the 16-bit value (0..15)")) << text;
    EXPECT_TRUE(has_issue(issues, "/modbus/0/registers/5/length", "1..125 registers long")) << text;
    EXPECT_TRUE(has_issue(issues, "/modbus/0/registers/6/factor", "a string cannot be scaled")) << text;
    EXPECT_TRUE(has_issue(issues, "/modbus/0/registers/7/name", "another register of device \"pcs\" is named \"a\" (/modbus/0/registers/0)")) << text;
    EXPECT_TRUE(has_issue(issues, "/modbus/0/registers/8/address", "\"h\" (holding 13) overlaps \"d\" (holding 12..13)")) << text;
    EXPECT_TRUE(has_issue(issues, "/modbus/0/registers/9/type", "a coil is a single bit: its type is bool")) << text;
    EXPECT_TRUE(has_issue(issues, "/modbus/0/registers/10/topic", "unknown placeholder {nope} (known: {bus}, {device}, {gateway}, {message}, {register}, {signal}, {unit_id})")) << text;
    EXPECT_TRUE(has_issue(issues, "/modbus/0/registers/11/bit", "a f32 has no bits to pick")) << text;
    EXPECT_TRUE(has_issue(issues, "/modbus/0/registers/13/bit", "reads the same bit 3 as another register")) << text;
    EXPECT_TRUE(has_issue(issues, "/modbus/0/registers/14/min", "a string has no range")) << text;
    EXPECT_TRUE(has_issue(issues, "/modbus/0/registers/15/scale", "unknown key")) << text;
    EXPECT_TRUE(has_issue(issues, "/modbus/1/name", "another device (/modbus/0) is named \"pcs\"")) << text;
    EXPECT_TRUE(has_issue(issues, "/modbus/1/unit", "248 is reserved")) << text;
    EXPECT_TRUE(has_issue(issues, "/modbus/1", "has no registers")) << text;
    EXPECT_TRUE(has_issue(issues, "/modbus/2/registers/0/type", "\"e\" needs 4 registers but the device reads at most 2 per request")) << text;
    EXPECT_TRUE(has_issue(issues, "/modbus/3/unit", "another device (/modbus/2) has unit id 3 on this bus")) << text;
    EXPECT_TRUE(has_issue(issues, "/modbus/4/registers", "missing")) << text;
    EXPECT_EQ(issues.size(), 28u) << text;
}

TEST(ModbusLoader, CsvImportProblemsNameTheFileAndLine) {
    Dir dir;
    const auto csv = dir.write("regs.csv", "name,address,table,type\n"
                                           "v,0,holding,u16\n"
                                           "w,1,holding,u32\n"
                                           "x,3,holding,float\n"
                                           "y,5,holdng,u16\n");
    const auto file = dir.write("m.json", R"({
      "modbus": [
        {"name": "dev", "bus": "rs485", "unit": 1, "max_registers": 1,
         "registers": [{"name": "v", "table": "holding", "address": 2}],
         "import": {"csv": "regs.csv", "registers": ["v", "w", "x", "vv", "zz"],
                    "overrides": {"w": {"priority": 10}, "q": {}, "y": {}}}},
        {"name": "dev2", "bus": "rs485", "unit": 2, "import": {"csv": "missing.csv"}},
        {"name": "dev3", "bus": "rs485", "unit": 3, "import": {"csv": "/dev/zero"}}
      ]
    })");
    ConfigIssues issues;
    load_mapping_file(file, context, issues);
    const auto text = issues.to_string();
    const auto has = [&](const std::string& f, const std::string& path, const std::string& message) {
        for (const auto& i : issues.all()) {
            if (i.file == f && i.path == path && i.message.find(message) != std::string::npos) return true;
        }
        return false;
    };
    EXPECT_TRUE(has(csv, "line 5", "column table: \"holdng\" is not a table")) << text;
    // With problems in the CSV, names it may have meant are not reported again.
    EXPECT_FALSE(has_issue(issues, "/modbus/0/import/registers/4", "no register")) << text;
    EXPECT_TRUE(has(file, "/modbus/0/import/overrides/w/priority", "out of range 0..9")) << text;
    // Found once the device is complete: a JSON name clash, a value too long for max_registers.
    EXPECT_TRUE(has(csv, "line 2", "another register of device \"dev\" is named \"v\" (/modbus/0/registers/0)")) << text;
    EXPECT_TRUE(has(csv, "line 3", "\"w\" needs 2 registers but the device reads at most 1")) << text;
    EXPECT_TRUE(has(file, "/modbus/0/registers/0/address", "\"v\" (holding 2) overlaps \"w\" (holding 1..2)")) << text;
    EXPECT_TRUE(has(file, "/modbus/1/import/csv", "missing.csv: cannot read")) << text;
    EXPECT_TRUE(has(file, "/modbus/2/import/csv", "/dev/zero: not a regular file")) << text;
    EXPECT_EQ(issues.size(), 8u) << text;

    // Without CSV problems, unknown names are reported with a suggestion.
    const auto good = dir.write("good.csv", "name;address;fc\nvolts;0;3\namps;1;3\n");
    const auto file2 = dir.write("m2.json", R"({
      "modbus": [{"name": "dev", "bus": "rs485", "unit": 1,
        "import": {"csv": "good.csv", "registers": ["volts", "amp"], "overrides": {"amps": {}, "volt": {}}}}]
    })");
    ConfigIssues issues2;
    const auto m = load_mapping_file(file2, context, issues2);
    const auto text2 = issues2.to_string();
    EXPECT_TRUE(has_issue(issues2, "/modbus/0/import/registers/1", "no register \"amp\" in good.csv (did you mean \"amps\"?)")) << text2;
    EXPECT_TRUE(has_issue(issues2, "/modbus/0/import/overrides/amps", "not among the imported \"registers\"")) << text2;
    EXPECT_TRUE(has_issue(issues2, "/modbus/0/import/overrides/volt", "did you mean \"volts\"")) << text2;
    EXPECT_EQ(issues2.size(), 3u) << text2;
    ASSERT_EQ(m.modbus.size(), 1u);
    ASSERT_EQ(m.modbus[0].registers.size(), 1u);
    EXPECT_EQ(m.modbus[0].registers[0].topic, "site/gw1/dev/volts");  // the file's default template
    (void)good;
}

TEST(ModbusLoader, FileDefaultsDeviceDefaultsAndHexAddresses) {
    Dir dir;
    const auto file = dir.write("m.json", R"({
      "defaults": {"topic": "s/{gateway}/{bus}/{unit_id}/{device}/{register}", "priority": 3, "qos": 0},
      "modbus": [{"name": "inv", "bus": "tcp", "unit": 255, "poll_ms": 2000,
        "defaults": {"priority": 4, "retain": true},
        "registers": [
          {"name": "p", "table": "input", "address": "0x10", "type": "i32", "word_order": "dcba", "factor": 0.01,
           "offset": -0.5, "unit": "kW"},
          {"name": "s", "table": "holding", "address": 1, "values": {"0": "off", "1": "on"}, "qos": 2, "poll_ms": 100}
        ]}]
    })");
    ConfigIssues issues;
    const auto m = load_mapping_file(file, context, issues);
    ASSERT_TRUE(issues.empty()) << issues.to_string();
    const auto& d = m.modbus.at(0);
    EXPECT_EQ(d.bus, 2u);
    EXPECT_EQ(d.unit, 255u);
    EXPECT_FALSE(d.allow_gaps);
    EXPECT_EQ(d.max_registers, 125u);
    const auto& p = d.registers.at(0);
    EXPECT_EQ(p.spec.address, 16u);
    EXPECT_EQ(p.spec.order, WordOrder::dcba);
    EXPECT_EQ(p.decimals, 2);
    EXPECT_EQ(p.topic, "s/gw1/tcp/255/inv/p");
    EXPECT_EQ(p.priority, 4);
    EXPECT_EQ(p.qos, 0);
    EXPECT_TRUE(p.retain);
    EXPECT_EQ(p.poll_ms, 2000);
    EXPECT_EQ(d.registers.at(1).qos, 2);
    EXPECT_EQ(d.registers.at(1).poll_ms, 100);
    EXPECT_EQ(d.registers.at(1).value_names.at(1), "on");
}

TEST(ModbusLoader, MergingFilesFindsDevicesUsedTwice) {
    Dir dir;
    const auto a = dir.write("a.json", R"({"modbus": [{"name": "pcs", "bus": "rs485", "unit": 1,
      "registers": [{"name": "x", "table": "holding", "address": 0}]}]})");
    const auto b = dir.write("b.json", R"({"can": [], "modbus": [
      {"name": "pcs", "bus": "rs485", "unit": 2, "registers": [{"name": "x", "table": "holding", "address": 0}]},
      {"name": "other", "bus": "rs485", "unit": 1, "registers": [{"name": "x", "table": "holding", "address": 0}]},
      {"name": "fine", "bus": "tcp", "unit": 1, "registers": [{"name": "x", "table": "holding", "address": 0}]}]})");
    ConfigIssues issues;
    Mapping site;
    merge_mapping(site, load_mapping_file(a, context, issues), a, issues);
    merge_mapping(site, load_mapping_file(b, context, issues), b, issues);
    const auto text = issues.to_string();
    EXPECT_TRUE(has_issue(issues, "/modbus/0/name", "another mapping file already has a device named \"pcs\"")) << text;
    EXPECT_TRUE(has_issue(issues, "/modbus/1/unit", "unit id 1 on this bus (\"pcs\")")) << text;
    EXPECT_EQ(issues.size(), 2u) << text;
    EXPECT_EQ(site.modbus.size(), 4u);
}
