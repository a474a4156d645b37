// Modbus end to end as an integrator runs it: a third-party slave (Debian's pymodbus) on a serial
// line (a socat pty pair), over Modbus TCP and RTU over TCP -> the outpost binary -> a real
// mosquitto -> an independent subscriber (mosquitto_sub). Every mapped register must arrive with
// the value the slave holds (modbus_values.hpp: the slaves' formulas), decoded here independently
// of the mapping code, with gw/ep/seq. And on a simulated RS-485 line, a device that goes silent
// shows its breaker open in the gateway's stats line while the other device keeps delivering.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "broker.hpp"
#include "modbus_support/line_simulator.hpp"
#include "modbus_support/modbus_values.hpp"
#include "modbus_support/peer_process.hpp"
#include "process.hpp"

using namespace outpost::test;
using namespace std::chrono_literals;
using outpost::core::ModbusTable;

namespace {

// One register of the test mapping and how to work out what it must read from the slave's formulas.
struct Reg {
    std::string name;
    std::string json;  // the rule without its name
    ModbusTable table;
    std::uint16_t address;
    std::string type;   // u16 i16 u32 i32 u64 i64 f32 f64 string bit bool
    std::string order;  // ABCD CDAB BADC DCBA
    unsigned words = 1;
    int bit = -1;
    double factor = 1, offset = 0;
};

std::vector<Reg> test_registers() {
    auto r = [](std::string name, ModbusTable t, std::uint16_t a, std::string type, std::string order = "ABCD") {
        Reg reg{std::move(name), "", t, a, std::move(type), std::move(order)};
        const std::map<std::string, unsigned> words = {{"u16", 1}, {"i16", 1}, {"u32", 2}, {"i32", 2}, {"f32", 2},
                                                       {"u64", 4}, {"i64", 4}, {"f64", 4}};
        if (const auto it = words.find(reg.type); it != words.end()) reg.words = it->second;
        const char* table = t == ModbusTable::holding_registers ? "holding"
                            : t == ModbusTable::input_registers ? "input"
                            : t == ModbusTable::coils           ? "coil"
                                                                : "discrete";
        reg.json = "\"table\": \"" + std::string(table) + "\", \"address\": " + std::to_string(a);
        if (reg.type != "bool") reg.json += ", \"type\": \"" + reg.type + "\", \"word_order\": \"" + reg.order + "\"";
        return reg;
    };
    std::vector<Reg> regs = {
        r("h_u16", ModbusTable::holding_registers, 0, "u16"),
        r("h_u32_abcd", ModbusTable::holding_registers, 2, "u32"),
        r("h_i32_cdab", ModbusTable::holding_registers, 4, "i32", "CDAB"),
        r("h_u32_badc", ModbusTable::holding_registers, 6, "u32", "BADC"),
        r("h_i32_dcba", ModbusTable::holding_registers, 8, "i32", "DCBA"),
        r("h_f32_abcd", ModbusTable::holding_registers, 10, "f32"),
        r("h_f64_abcd", ModbusTable::holding_registers, 14, "f64"),
        r("h_u64_cdab", ModbusTable::holding_registers, 24, "u64", "CDAB"),
        r("h_u16_badc", ModbusTable::holding_registers, 28, "u16", "BADC"),
        r("h_i16", ModbusTable::holding_registers, 200, "i16"),  // 200 * 257 + 13u > 32767: negative
        r("in_u16", ModbusTable::input_registers, 0, "u16"),
        r("in_f32_cdab", ModbusTable::input_registers, 12, "f32", "CDAB"),
        r("in_f64_dcba", ModbusTable::input_registers, 20, "f64", "DCBA"),
        r("in_i64_badc", ModbusTable::input_registers, 30, "i64", "BADC"),
        r("in_i32_abcd", ModbusTable::input_registers, 40, "i32"),
        r("text", ModbusTable::holding_registers, 65, "string"),
        r("text_badc", ModbusTable::holding_registers, 68, "string", "BADC"),
        r("coil_0", ModbusTable::coils, 0, "bool"),
        r("coil_1", ModbusTable::coils, 1, "bool"),
        r("coil_2", ModbusTable::coils, 2, "bool"),
        r("di_0", ModbusTable::discrete_inputs, 0, "bool"),
        r("di_1", ModbusTable::discrete_inputs, 1, "bool"),
        r("di_2", ModbusTable::discrete_inputs, 2, "bool"),
    };
    // Strings: "ANBOCP" (unit 1) from 0x414E 0x424F 0x4350; byte-swapped pairs "QDRE".
    for (auto& reg : regs) {
        if (reg.name == "text") reg.words = 3;
        if (reg.name == "text_badc") reg.words = 2;
        if (reg.type == "string") reg.json += ", \"length\": " + std::to_string(reg.words);
    }
    Reg scaled = r("h_scaled", ModbusTable::holding_registers, 40, "u16");
    scaled.factor = 0.1;
    scaled.offset = -5;
    scaled.json += ", \"factor\": 0.1, \"offset\": -5, \"decimals\": 1";
    regs.push_back(scaled);
    Reg bit = r("h_bit3", ModbusTable::holding_registers, 41, "u16");
    bit.bit = 3;
    bit.json += ", \"bit\": 3";
    regs.push_back(bit);
    return regs;
}

// The value's bytes from most to least significant, from the words on the wire, per word order.
std::uint64_t raw_value(const Reg& reg, std::uint8_t unit) {
    std::vector<std::uint8_t> wire;
    for (unsigned i = 0; i < reg.words; ++i) {
        const auto w = register_value(reg.table, unit, reg.address + i);
        wire.push_back(static_cast<std::uint8_t>(w >> 8));
        wire.push_back(static_cast<std::uint8_t>(w & 0xFF));
    }
    std::vector<std::uint8_t> bytes = wire;  // ABCD: as on the wire
    if (reg.order == "DCBA") {
        bytes.assign(wire.rbegin(), wire.rend());
    } else if (reg.order == "CDAB") {  // words reversed, bytes kept
        for (unsigned i = 0; i < reg.words; ++i) {
            bytes[2 * i] = wire[2 * (reg.words - 1 - i)];
            bytes[2 * i + 1] = wire[2 * (reg.words - 1 - i) + 1];
        }
    } else if (reg.order == "BADC") {  // bytes swapped inside each word
        for (unsigned i = 0; i < reg.words; ++i) std::swap(bytes[2 * i], bytes[2 * i + 1]);
    }
    std::uint64_t raw = 0;
    for (const auto b : bytes) raw = raw << 8 | b;
    return raw;
}

nlohmann::json expected_value(const Reg& reg, std::uint8_t unit) {
    if (reg.type == "bool") return bit_value(reg.table, unit, reg.address) ? 1.0 : 0.0;
    if (reg.type == "string") {
        std::string text;
        for (unsigned i = 0; i < reg.words; ++i) {
            const auto w = register_value(reg.table, unit, reg.address + i);
            const char hi = static_cast<char>(w >> 8), lo = static_cast<char>(w & 0xFF);
            text += reg.order == "BADC" ? std::string{lo, hi} : std::string{hi, lo};
        }
        return text;
    }
    const auto raw = raw_value(reg, unit);
    double v = 0;
    if (reg.bit >= 0) v = static_cast<double>((raw >> reg.bit) & 1u);
    else if (reg.type == "u16" || reg.type == "u32" || reg.type == "u64") v = static_cast<double>(raw);
    else if (reg.type == "i16") v = static_cast<std::int16_t>(static_cast<std::uint16_t>(raw));
    else if (reg.type == "i32") v = static_cast<std::int32_t>(static_cast<std::uint32_t>(raw));
    else if (reg.type == "i64") v = static_cast<double>(static_cast<std::int64_t>(raw));
    else if (reg.type == "f32") v = static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(raw)));
    else if (reg.type == "f64") v = std::bit_cast<double>(raw);
    return v * reg.factor + reg.offset;
}

std::string registers_json(const std::vector<Reg>& regs) {
    std::string out;
    for (const auto& reg : regs) {
        out += std::string(out.empty() ? "" : ",\n") + "        {\"name\": \"" + reg.name + "\", " + reg.json + "}";
    }
    return out;
}

// A site with one Modbus bus (`bus_json`) and a mapping of `devices` (JSON objects) on it.
std::string write_modbus_site(const TempDir& dir, int broker_port, const std::string& bus_json,
                              const std::string& devices) {
    write_file(dir.file("mapping.json"),
               R"({"defaults": {"topic": "site/{gateway}/{device}/{register}", "qos": 1}, "modbus": [)" + devices +
                   "]}");
    write_file(dir.file("site.json"), R"({
  "gateway_id": "mb-test",
  "broker": {"host": "127.0.0.1", "port": )" + std::to_string(broker_port) +
                                          R"(, "backoff": {"initial_ms": 50, "max_ms": 500}},
  "outbox": {"path": ")" + dir.file("outbox.db") + R"(", "commit_interval_ms": 50},
  "stats_interval_s": 1,
  "buses": [)" + bus_json + R"(],
  "mappings": ["mapping.json"]
})");
    return dir.file("site.json");
}

std::string device_json(const std::string& name, int unit, const std::string& registers, const std::string& extra) {
    return R"({"name": ")" + name + R"(", "bus": "line", "unit": )" + std::to_string(unit) + ", " + extra +
           R"(, "registers": [
)" + registers + "]}";
}

// The gateway.stats lines of a JSON-lines log, oldest first.
std::vector<nlohmann::json> stats_lines(const std::string& log) {
    std::vector<nlohmann::json> out;
    std::istringstream in(read_file(log));
    std::string line;
    while (std::getline(in, line)) {
        if (line.find("\"gateway.stats\"") == std::string::npos) continue;
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (!j.is_discarded()) out.push_back(std::move(j));
    }
    return out;
}

enum class Transport { rtu, tcp, rtu_over_tcp };

std::string transport_name(const testing::TestParamInfo<Transport>& info) {
    switch (info.param) {
        case Transport::rtu: return "RtuOverAPtyPair";
        case Transport::tcp: return "ModbusTcp";
        case Transport::rtu_over_tcp: return "RtuOverTcp";
    }
    return "unknown";
}

class ModbusPipeline : public testing::TestWithParam<Transport> {};

}  // namespace

TEST_P(ModbusPipeline, EveryMappedRegisterArrivesWithTheValueTheSlaveHolds) {
    TempDir dir;
    ModbusTempDir pty_dir;
    Broker broker(dir);
    Subscriber sub(dir, broker.port(), "site/#");

    std::optional<SocatPtyPair> pty;
    std::string bus;
    PeerProcess slave;
    if (GetParam() == Transport::rtu) {
        pty.emplace(pty_dir, "line");
        slave = start_pymodbus({"serial", pty->b, "19200", "1,2"}, dir.file("pymodbus.log"));
        bus = R"({"name": "line", "type": "modbus_rtu", "device": ")" + pty->a + R"(", "baud": 19200, "parity": "none"})";
    } else {
        const int port = modbus_free_port();
        const bool tcp = GetParam() == Transport::tcp;
        slave = start_pymodbus({tcp ? "tcp" : "rtu-over-tcp", std::to_string(port), "1,2"}, dir.file("pymodbus.log"));
        ASSERT_TRUE(poll_until([&] { return modbus_port_open(port); }, 20s)) << slurp(dir.file("pymodbus.log"));
        bus = R"({"name": "line", "type": ")" + std::string(tcp ? "modbus_tcp" : "modbus_rtu_over_tcp") +
              R"(", "host": "127.0.0.1", "port": )" + std::to_string(port) + "}";
    }
    const auto regs = test_registers();
    const std::string polling = R"("poll_ms": 300, "response_timeout_ms": 1000, "retries": 1)";
    const auto site = write_modbus_site(dir, broker.port(), bus,
                                        device_json("a", 1, registers_json(regs), polling) + ",\n" +
                                            device_json("b", 2, registers_json(regs), polling));
    Process gateway({outpost_binary(), "run", "--config", site}, dir.file("outpost.log"));

    // Every register of both devices, at least twice (so a second poll is checked as well).
    std::map<std::string, std::pair<const Reg*, std::uint8_t>> wanted;
    for (const auto& reg : regs) {
        wanted["site/mb-test/a/" + reg.name] = {&reg, 1};
        wanted["site/mb-test/b/" + reg.name] = {&reg, 2};
    }
    auto counts = [&] {
        std::map<std::string, int> c;
        for (const auto& m : sub.messages()) ++c[m.topic];
        return c;
    };
    const bool all = wait_until(
        [&] {
            const auto c = counts();
            for (const auto& [topic, _] : wanted) {
                const auto it = c.find(topic);
                if (it == c.end() || it->second < 2) return false;
            }
            return true;
        },
        45s);
    gateway.signal(SIGTERM);
    EXPECT_EQ(gateway.wait(15s), 0) << read_file(dir.file("outpost.log"));
    ASSERT_TRUE(all) << "not every register arrived twice; log:\n"
                     << read_file(dir.file("outpost.log")) << "\npymodbus:\n"
                     << slurp(dir.file("pymodbus.log"));

    std::set<std::uint64_t> seqs;
    std::set<std::uint64_t> epochs;
    std::size_t checked = 0;
    for (const auto& m : sub.messages()) {
        ASSERT_TRUE(m.payload.is_object()) << m.topic;
        const auto it = wanted.find(m.topic);
        ASSERT_NE(it, wanted.end()) << "unexpected topic " << m.topic;
        EXPECT_EQ(m.payload["gw"], "mb-test");
        ASSERT_TRUE(m.payload["seq"].is_number_unsigned()) << m.payload.dump();
        ASSERT_TRUE(m.payload["ep"].is_number_unsigned()) << m.payload.dump();
        EXPECT_TRUE(m.payload.contains("ts"));
        EXPECT_TRUE(seqs.insert(m.payload["seq"].get<std::uint64_t>()).second) << "seq twice: " << m.payload.dump();
        epochs.insert(m.payload["ep"].get<std::uint64_t>());
        const auto& [reg, unit] = it->second;
        const auto want = expected_value(*reg, unit);
        if (want.is_string()) {
            EXPECT_EQ(m.payload["value"], want) << m.topic;
        } else {
            ASSERT_TRUE(m.payload["value"].is_number()) << m.topic << " " << m.payload.dump();
            const double got = m.payload["value"].get<double>();
            const double w = want.get<double>();
            // Shortest round-trip text for exact values; `decimals` rounds h_scaled to 0.1.
            EXPECT_NEAR(got, w, reg->name == "h_scaled" ? 1e-9 : std::fabs(w) * 1e-15) << m.topic << " " << m.payload.dump();
        }
        ++checked;
    }
    EXPECT_EQ(epochs.size(), 1u);
    EXPECT_GE(checked, 2 * wanted.size());
    // The values cover what they should: negative, fractional, strings with both byte orders.
    EXPECT_LT(expected_value(regs[9], 1).get<double>(), 0) << "h_i16";
    EXPECT_EQ(expected_value(*wanted["site/mb-test/a/text"].first, 1), "ANBOCP");
    EXPECT_EQ(expected_value(*wanted["site/mb-test/a/text_badc"].first, 1), "QDRE");
}

INSTANTIATE_TEST_SUITE_P(Transports, ModbusPipeline,
                         testing::Values(Transport::rtu, Transport::tcp, Transport::rtu_over_tcp), transport_name);

// Two devices on one RS-485 line (the line simulator: bytes at the baud rate); one goes silent.
TEST(ModbusPipelineLine, ASilentDeviceOpensItsBreakerWhileTheOtherKeepsDelivering) {
    TempDir dir;
    Broker broker(dir);
    Subscriber sub(dir, broker.port(), "site/#");
    LineSimulator line(dir.file(""), 19200);
    const auto port = line.add_port("gw");
    line.add_slave({.unit = 1});
    line.add_slave({.unit = 2});
    line.start();

    const std::string bus = R"({"name": "line", "type": "modbus_rtu", "device": ")" + port +
                            R"(", "baud": 19200, "parity": "none"})";
    const std::string polling = R"("poll_ms": 200, "response_timeout_ms": 100, "retries": 0)";
    const std::string regs = R"(        {"name": "h0", "table": "holding", "address": 0},
        {"name": "in3", "table": "input", "address": 3})";
    const auto site = write_modbus_site(dir, broker.port(), bus,
                                        device_json("pcs", 1, regs, polling) + ",\n" + device_json("meter", 2, regs, polling));
    Process gateway({outpost_binary(), "run", "--config", site}, dir.file("outpost.log"));

    auto count = [&](const std::string& topic) {
        std::size_t n = 0;
        for (const auto& m : sub.messages()) n += m.topic == topic;
        return n;
    };
    ASSERT_TRUE(wait_until([&] { return count("site/mb-test/pcs/h0") >= 3 && count("site/mb-test/meter/h0") >= 3; }, 20s))
        << read_file(dir.file("outpost.log"));
    for (const auto& m : sub.messages()) {
        const std::uint8_t unit = m.topic.find("/pcs/") != std::string::npos ? 1 : 2;
        const double want = m.topic.ends_with("/h0") ? holding_value(unit, 0) : input_value(unit, 3);
        EXPECT_EQ(m.payload["value"].get<double>(), want) << m.topic;
    }

    line.set_silent(2, true);
    auto breaker = [&](const nlohmann::json& stats, const std::string& device) -> std::string {
        const auto* d = &stats;
        for (const char* key : {"modbus", "lines", "line", "devices"}) {
            if (!d->contains(key)) return "";
            d = &(*d)[key];
        }
        if (!d->contains(device)) return "";
        return (*d)[device].value("breaker", "");
    };
    // The meter's breaker opens and the stats line shows it; the pcs stays closed.
    const auto silenced = stats_lines(dir.file("outpost.log")).size();
    nlohmann::json open_stats;
    ASSERT_TRUE(wait_until(
        [&] {
            const auto lines = stats_lines(dir.file("outpost.log"));
            for (std::size_t i = silenced; i < lines.size(); ++i) {
                if (breaker(lines[i], "meter") == "open") {
                    open_stats = lines[i];
                    return true;
                }
            }
            return false;
        },
        20s))
        << read_file(dir.file("outpost.log"));
    EXPECT_EQ(breaker(open_stats, "pcs"), "closed") << open_stats.dump();
    const auto& meter = open_stats["modbus"]["lines"]["line"]["devices"]["meter"];
    EXPECT_GE(meter["timeouts"].get<std::uint64_t>(), 3u) << meter.dump();
    EXPECT_GE(meter["breaker_opens"].get<std::uint64_t>(), 1u) << meter.dump();

    // Over the next 3 s the pcs keeps its poll rate (15 polls at 200 ms; at least half of them,
    // on a loaded machine) and the meter publishes nothing new.
    const auto pcs_before = count("site/mb-test/pcs/h0");
    const auto meter_before = count("site/mb-test/meter/h0");
    std::this_thread::sleep_for(3s);
    const auto pcs_delivered = count("site/mb-test/pcs/h0") - pcs_before;
    std::cout << "pcs readings in 3 s while the meter is silent: " << pcs_delivered << " (15 at its poll period)\n";
    EXPECT_GE(pcs_delivered, 8u);
    EXPECT_LE(count("site/mb-test/meter/h0") - meter_before, 1u) << "at most one in flight when it went silent";

    gateway.signal(SIGTERM);
    EXPECT_EQ(gateway.wait(15s), 0) << read_file(dir.file("outpost.log"));
    line.stop();
}
