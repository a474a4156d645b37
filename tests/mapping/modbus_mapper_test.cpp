// ModbusMapper: blocks in, messages out, against bodies worked out by hand.
#include "outpost/mapping/modbus_mapper.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

using namespace outpost::mapping;
using outpost::core::Message;
using outpost::core::ModbusBlock;
using outpost::core::ModbusTable;

namespace {

constexpr std::int64_t t0 = 1'700'000'000'000'000'000;

ModbusBlock block(std::uint8_t unit, ModbusTable table, std::uint16_t address, std::uint16_t count,
                  std::vector<std::uint8_t> bytes, std::int64_t ms = 0, std::uint16_t bus = 0) {
    ModbusBlock b;
    b.bus = bus;
    b.unit = unit;
    b.table = table;
    b.address = address;
    b.count = count;
    b.data_len = static_cast<std::uint8_t>(bytes.size());
    std::copy(bytes.begin(), bytes.end(), b.data.begin());
    b.timestamp_ns = t0 + ms * 1'000'000;
    return b;
}

// Registers as 16-bit words, the way a test reads them.
std::vector<std::uint8_t> words(std::vector<std::uint16_t> w) {
    std::vector<std::uint8_t> out;
    for (const auto x : w) {
        out.push_back(static_cast<std::uint8_t>(x >> 8));
        out.push_back(static_cast<std::uint8_t>(x & 0xFF));
    }
    return out;
}

RegisterRule reg(std::string name, ModbusTable table, std::uint16_t address, RegisterType type) {
    RegisterRule r;
    r.name = name;
    r.spec.table = table;
    r.spec.address = address;
    r.spec.type = type;
    r.topic = "site/gw/pcs/" + name;
    return r;
}

std::vector<std::string> bodies(const std::vector<Message>& out) {
    std::vector<std::string> b;
    for (const auto& m : out) b.push_back(m.topic + " " + m.body);
    return b;
}

ModbusDeviceRule pcs() {
    ModbusDeviceRule d;
    d.name = "pcs";
    d.bus = 0;
    d.unit = 1;
    auto power = reg("ac_power", ModbusTable::holding_registers, 100, RegisterType::i32);
    power.spec.order = WordOrder::cdab;
    power.spec.factor = 0.1;
    power.decimals = 1;
    power.unit = "kW";
    power.priority = 7;
    auto state = reg("state", ModbusTable::holding_registers, 110, RegisterType::u16);
    state.value_names = {{0, "off"}, {1, "on"}};
    state.retain = true;
    auto alarm = reg("alarm_overtemp", ModbusTable::holding_registers, 111, RegisterType::u16);
    alarm.spec.bit = 3;
    auto fan = reg("alarm_fan", ModbusTable::holding_registers, 111, RegisterType::u16);
    fan.spec.bit = 4;
    auto model = reg("model", ModbusTable::input_registers, 300, RegisterType::string);
    model.spec.length = 5;
    auto running = reg("running", ModbusTable::coils, 5, RegisterType::boolean);
    auto door = reg("door_open", ModbusTable::discrete_inputs, 9, RegisterType::boolean);
    d.registers = {power, state, alarm, fan, model, running, door};
    return d;
}

}  // namespace

TEST(ModbusMapper, HoldingBlockWithWordSwappedPowerValueTableAndBits) {
    ModbusMapper mapper({pcs()});
    std::vector<Message> out;
    // Registers 100..111: ac_power = -1234.5 kW (-12345 = 0xFFFFCFC7, CDAB: CFC7 FFFF); 110 = 1; 111 = 0x0008.
    const auto data = words({0xCFC7, 0xFFFF, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x0008});
    EXPECT_EQ(mapper.map(block(1, ModbusTable::holding_registers, 100, 12, data, 250), out), 4u);
    EXPECT_EQ(bodies(out), (std::vector<std::string>{
                               "site/gw/pcs/ac_power \"ts\":1700000000.250000,\"value\":-1234.5,\"unit\":\"kW\"",
                               "site/gw/pcs/state \"ts\":1700000000.250000,\"value\":1,\"text\":\"on\"",
                               "site/gw/pcs/alarm_overtemp \"ts\":1700000000.250000,\"value\":1",
                               "site/gw/pcs/alarm_fan \"ts\":1700000000.250000,\"value\":0"}));
    EXPECT_EQ(out[0].priority, 7);
    EXPECT_EQ(out[0].created_ns, t0 + 250'000'000);
    EXPECT_TRUE(out[1].retain);
    EXPECT_EQ(mapper.stats().blocks, 1u);
    EXPECT_EQ(mapper.stats().readings, 4u);
}

TEST(ModbusMapper, OnlyRegistersWhollyInsideTheBlock) {
    ModbusMapper mapper({pcs()});
    std::vector<Message> out;
    // 101..110 cuts ac_power (100..101) and holds state (110) only.
    EXPECT_EQ(mapper.map(block(1, ModbusTable::holding_registers, 101, 10, words({0, 0, 0, 0, 0, 0, 0, 0, 0, 0})), out), 1u);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].topic, "site/gw/pcs/state");
    // The same addresses in another table, another unit, another bus: nothing.
    out.clear();
    EXPECT_EQ(mapper.map(block(1, ModbusTable::input_registers, 100, 12, words(std::vector<std::uint16_t>(12))), out), 0u);
    EXPECT_EQ(mapper.map(block(2, ModbusTable::holding_registers, 100, 12, words(std::vector<std::uint16_t>(12))), out), 0u);
    EXPECT_EQ(mapper.map(block(1, ModbusTable::holding_registers, 100, 12, words(std::vector<std::uint16_t>(12)), 0, 3), out), 0u);
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(mapper.stats().unmapped_blocks, 2u);
    EXPECT_EQ(mapper.unmapped_units().at(2u), 1u);
    EXPECT_EQ(mapper.unmapped_units().at(3u << 8 | 1u), 1u);
    EXPECT_EQ(mapper.stats().decode_errors, 0u);
}

TEST(ModbusMapper, StringsCoilsAndDiscreteInputs) {
    ModbusMapper mapper({pcs()});
    std::vector<Message> out;
    // "PCS-100" padded with NULs in input registers 300..304.
    mapper.map(block(1, ModbusTable::input_registers, 300, 5, {'P', 'C', 'S', '-', '1', '0', '0', 0, 0, 0}), out);
    // Coils 0..15: bit 5 set; discrete inputs 8..9: bit 1 (address 9) set.
    mapper.map(block(1, ModbusTable::coils, 0, 16, {0x20, 0x00}), out);
    mapper.map(block(1, ModbusTable::discrete_inputs, 8, 2, {0x02}), out);
    EXPECT_EQ(bodies(out), (std::vector<std::string>{
                               "site/gw/pcs/model \"ts\":1700000000.000000,\"value\":\"PCS-100\"",
                               "site/gw/pcs/running \"ts\":1700000000.000000,\"value\":1",
                               "site/gw/pcs/door_open \"ts\":1700000000.000000,\"value\":1"}));
}

TEST(ModbusMapper, ShortDataNanAndOutOfRangeAreCounted) {
    auto d = pcs();
    d.registers[0].minimum = -1000;  // ac_power
    d.registers[0].maximum = 1000;
    auto temp = reg("temp", ModbusTable::holding_registers, 120, RegisterType::f32);
    d.registers.push_back(temp);
    ModbusMapper mapper({d});
    std::vector<Message> out;
    // ac_power -1234.5 is below -1000; state decodes.
    EXPECT_EQ(mapper.map(block(1, ModbusTable::holding_registers, 100, 11,
                               words({0xCFC7, 0xFFFF, 0, 0, 0, 0, 0, 0, 0, 0, 1})), out), 1u);
    EXPECT_EQ(mapper.stats().out_of_range, 1u);
    // A NaN float (0x7FC00000) is a decode error.
    EXPECT_EQ(mapper.map(block(1, ModbusTable::holding_registers, 120, 2, words({0x7FC0, 0})), out), 0u);
    EXPECT_EQ(mapper.stats().decode_errors, 1u);
    // The block says 12 registers but carries 3: everything beyond the data is a decode error.
    EXPECT_EQ(mapper.map(block(1, ModbusTable::holding_registers, 100, 12, words({0x0001, 0, 0})), out), 1u);
    EXPECT_EQ(mapper.stats().decode_errors, 4u);  // state, the two bits of 111 ... and NaN before
    // A data_len beyond the array is never read past.
    auto bad = block(1, ModbusTable::holding_registers, 100, 125, {});
    bad.data_len = 255;
    mapper.map(bad, out);
    EXPECT_EQ(mapper.stats().blocks, 4u);
}

TEST(ModbusMapper, RateControlOnNumbersAndTexts) {
    auto d = pcs();
    d.registers[1].rate = {.min_interval_ms = 1000, .deadband = 0.5, .heartbeat_ms = 10'000};  // state
    d.registers[4].rate = {.deadband = 1, .heartbeat_ms = 60'000};                            // model
    ModbusMapper mapper({d});
    std::vector<Message> out;
    auto state_at = [&](std::int64_t ms, std::uint16_t v) {
        const auto before = out.size();
        mapper.map(block(1, ModbusTable::holding_registers, 110, 1, words({v}), ms), out);
        return out.size() > before;
    };
    EXPECT_TRUE(state_at(0, 1));
    EXPECT_FALSE(state_at(500, 0));     // within the minimum interval
    EXPECT_FALSE(state_at(1500, 1));    // unchanged
    EXPECT_TRUE(state_at(1600, 0));     // changed
    EXPECT_FALSE(state_at(11'000, 0));  // unchanged, heartbeat not due
    EXPECT_TRUE(state_at(11'600, 0));   // heartbeat
    auto model_at = [&](std::int64_t ms, std::string text) {
        const auto before = out.size();
        std::vector<std::uint8_t> data(10, 0);
        std::copy(text.begin(), text.end(), data.begin());
        mapper.map(block(1, ModbusTable::input_registers, 300, 5, data, ms), out);
        return out.size() > before;
    };
    EXPECT_TRUE(model_at(0, "A"));
    EXPECT_FALSE(model_at(1000, "A"));
    EXPECT_TRUE(model_at(2000, "B"));
    EXPECT_FALSE(model_at(3000, "B"));
    EXPECT_TRUE(model_at(62'000, "B"));
    EXPECT_EQ(mapper.stats().rate_limited, 5u);
}

TEST(ModbusMapper, ReadingsForDryRuns) {
    auto d = pcs();
    d.registers[1].rate = {.min_interval_ms = 1000};
    ModbusMapper mapper({d});
    std::vector<Message> out;
    std::vector<ModbusReading> readings;
    mapper.map(block(1, ModbusTable::holding_registers, 110, 1, words({1})), out, &readings);
    mapper.map(block(1, ModbusTable::holding_registers, 110, 1, words({0}), 10), out, &readings);
    mapper.map(block(1, ModbusTable::input_registers, 300, 5, {'X', 0, 0, 0, 0, 0, 0, 0, 0, 0}), out, &readings);
    ASSERT_EQ(readings.size(), 3u);
    EXPECT_EQ(readings[0].device->name, "pcs");
    EXPECT_EQ(readings[0].reg->name, "state");
    EXPECT_EQ(readings[0].value, 1);
    EXPECT_TRUE(readings[0].published);
    EXPECT_FALSE(readings[1].published);
    EXPECT_EQ(readings[2].reg->name, "model");
    EXPECT_EQ(readings[2].text, "X");
    EXPECT_EQ(out.size(), 2u);
}

TEST(ModbusMapper, ManyRegistersFoundThroughTheIndex) {
    ModbusDeviceRule d;
    d.name = "meter";
    d.unit = 2;
    d.bus = 1;
    // 2000 u16 registers at 0..1999 (inserted in reverse to check the index sorts them).
    for (int a = 1999; a >= 0; --a) {
        d.registers.push_back(reg("r" + std::to_string(a), ModbusTable::input_registers, static_cast<std::uint16_t>(a),
                                  RegisterType::u16));
    }
    ModbusMapper mapper({pcs(), d});
    std::vector<Message> out;
    std::vector<std::uint16_t> values;
    for (std::uint16_t i = 0; i < 125; ++i) values.push_back(static_cast<std::uint16_t>(i * 3));
    EXPECT_EQ(mapper.map(block(2, ModbusTable::input_registers, 1000, 125, words(values), 0, 1), out), 125u);
    EXPECT_EQ(out.front().topic, "site/gw/pcs/r1000");
    EXPECT_EQ(out.back().topic, "site/gw/pcs/r1124");
    EXPECT_NE(out.back().body.find("\"value\":372"), std::string::npos);
    // The top of the address space: a register at 65535.
    ModbusDeviceRule top;
    top.unit = 3;
    top.registers = {reg("last", ModbusTable::holding_registers, 65535, RegisterType::u16)};
    ModbusMapper edge({top});
    out.clear();
    EXPECT_EQ(edge.map(block(3, ModbusTable::holding_registers, 65535, 1, words({7})), out), 1u);
}
