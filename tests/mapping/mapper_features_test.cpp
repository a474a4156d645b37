// Id masks, multiplexing, value tables, ranges and rate control, against values worked out by hand.
#include <gtest/gtest.h>

#include "outpost/mapping/mapper.hpp"

using namespace outpost::mapping;
using outpost::core::CanFrame;
using outpost::core::Message;

namespace {

CanFrame frame(std::uint32_t id, bool ext, std::vector<std::uint8_t> bytes, std::int64_t ms = 0) {
    CanFrame f;
    f.id = id;
    f.extended = ext;
    f.len = static_cast<std::uint8_t>(bytes.size());
    std::copy(bytes.begin(), bytes.end(), f.data.begin());
    f.timestamp_ns = 1'700'000'000'000'000'000 + ms * 1'000'000;
    return f;
}

SignalRule sig(std::string name, SignalSpec spec) {
    SignalRule s;
    s.name = name;
    s.spec = spec;
    s.topic = "t/" + name;
    return s;
}

std::vector<std::string> bodies(const std::vector<Message>& out) {
    std::vector<std::string> b;
    for (const auto& m : out) b.push_back(m.topic + " " + m.body);
    return b;
}

}  // namespace

TEST(MapperFeatures, J1939PgnFromAnySourceAddress) {
    Mapping m;
    CanMessageRule r{"eec1", 0x0CF00400, true, 0x03FFFF00, std::nullopt, {}};
    r.signals = {sig("rpm", {24, 16, ByteOrder::intel, ValueType::unsigned_int, 0.125, 0})};
    m.can = {r};
    Mapper mapper(m);
    std::vector<Message> out;
    // Same PGN (0xF004) from sources 0x00 and 0x3D, priority bits differ too: both match.
    EXPECT_EQ(mapper.map(frame(0x0CF00400, true, {0, 0, 0, 0x40, 0x1F, 0, 0, 0}), out), 1u);
    EXPECT_EQ(mapper.map(frame(0x18F0043D, true, {0, 0, 0, 0x80, 0x0C, 0, 0, 0}), out), 1u);
    // Another PGN (0xF005) does not; nor does a standard id.
    EXPECT_EQ(mapper.map(frame(0x0CF00500, true, {0, 0, 0, 1, 1, 0, 0, 0}), out), 0u);
    EXPECT_EQ(mapper.map(frame(0x400, false, {0, 0, 0, 1, 1, 0, 0, 0}), out), 0u);
    ASSERT_EQ(out.size(), 2u);
    // 0x1F40 = 8000 * 0.125 = 1000 rpm; 0x0C80 = 3200 * 0.125 = 400 rpm.
    EXPECT_NE(out[0].body.find("\"value\":1000,"), std::string::npos) << out[0].body;
    EXPECT_NE(out[0].body.find("\"can_id\":\"0xCF00400\""), std::string::npos) << out[0].body;
    EXPECT_NE(out[1].body.find("\"value\":400,"), std::string::npos);
    EXPECT_NE(out[1].body.find("\"can_id\":\"0x18F0043D\""), std::string::npos);
}

TEST(MapperFeatures, MultiplexedSignalsOnlyWithTheirMultiplexorValue) {
    Mapping m;
    CanMessageRule r{"modules", 0x310, false, 0, std::nullopt, {}};
    auto mux = sig("module", {0, 8, ByteOrder::intel, ValueType::unsigned_int, 1, 0});
    mux.multiplex = Multiplex::multiplexor;
    mux.publish = false;
    auto v1 = sig("module1_voltage", {8, 16, ByteOrder::intel, ValueType::unsigned_int, 0.01, 0});
    v1.multiplex = Multiplex::multiplexed;
    v1.mux_value = 1;
    auto v2 = sig("module2_voltage", {8, 16, ByteOrder::intel, ValueType::unsigned_int, 0.01, 0});
    v2.multiplex = Multiplex::multiplexed;
    v2.mux_value = 2;
    r.signals = {mux, v1, v2};
    m.can = {r};
    Mapper mapper(m);
    std::vector<Message> out;
    mapper.map(frame(0x310, false, {1, 0x9A, 0x0B}), out);  // 0x0B9A = 2970 -> 29.7 V
    mapper.map(frame(0x310, false, {2, 0xA0, 0x0B}), out);  // 0x0BA0 = 2976 -> 29.76 V
    mapper.map(frame(0x310, false, {7, 0xFF, 0xFF}), out);  // no signal for 7
    EXPECT_EQ(bodies(out), (std::vector<std::string>{
                               "t/module1_voltage \"ts\":1700000000.000000,\"value\":29.7",
                               "t/module2_voltage \"ts\":1700000000.000000,\"value\":29.76"}));
}

TEST(MapperFeatures, ValueTablesRangesAndFloats) {
    Mapping m;
    CanMessageRule r{"state", 0x311, false, 0, std::nullopt, {}};
    auto st = sig("contactor", {0, 2, ByteOrder::intel, ValueType::unsigned_int, 1, 0});
    st.value_names = {{0, "open"}, {2, "closed"}};
    auto power = sig("power", {32, 32, ByteOrder::intel, ValueType::ieee_float, 1, 0});
    power.minimum = -2000;
    power.maximum = 2000;
    power.unit = "kW";
    r.signals = {st, power};
    m.can = {r};
    Mapper mapper(m);
    std::vector<Message> out;
    // 0x44A8C000 = 1350.0f; 0x45BB8000 = 6000.0f is out of range.
    mapper.map(frame(0x311, false, {2, 0, 0, 0, 0x00, 0xC0, 0xA8, 0x44}), out);
    mapper.map(frame(0x311, false, {1, 0, 0, 0, 0x00, 0x80, 0xBB, 0x45}), out);
    EXPECT_EQ(bodies(out), (std::vector<std::string>{
                               "t/contactor \"ts\":1700000000.000000,\"value\":2,\"text\":\"closed\"",
                               "t/power \"ts\":1700000000.000000,\"value\":1350,\"unit\":\"kW\"",
                               "t/contactor \"ts\":1700000000.000000,\"value\":1"}));
    EXPECT_EQ(mapper.stats().out_of_range, 1u);
}

TEST(MapperFeatures, RateControlMinimumIntervalDeadbandAndHeartbeat) {
    Mapping m;
    CanMessageRule r{"pack", 0x100, false, 0, std::nullopt, {}};
    auto v = sig("v", {0, 16, ByteOrder::intel, ValueType::unsigned_int, 0.1, 0});
    v.rate = {.min_interval_ms = 1000, .deadband = 0.5, .heartbeat_ms = 10'000};
    r.signals = {v};
    m.can = {r};
    Mapper mapper(m);
    std::vector<Message> out;
    auto at = [&](std::int64_t ms, std::uint16_t raw) {
        const auto before = out.size();
        mapper.map(frame(0x100, false, {static_cast<std::uint8_t>(raw & 0xFF), static_cast<std::uint8_t>(raw >> 8)}, ms), out);
        return out.size() > before;
    };
    // A 100 Hz signal: the first reading goes out...
    EXPECT_TRUE(at(0, 7680));        // 768.0
    // ...then nothing within the minimum interval, however much it changes,
    EXPECT_FALSE(at(10, 7700));
    EXPECT_FALSE(at(990, 7700));
    // after it only a change beyond the deadband (0.5) counts,
    EXPECT_FALSE(at(1500, 7684));    // 768.4: within the deadband
    EXPECT_TRUE(at(1600, 7686));     // 768.6: beyond it
    EXPECT_FALSE(at(2700, 7687));
    // and an unchanged value still goes out once per heartbeat (10 s after the last one sent).
    EXPECT_FALSE(at(11'500, 7686));
    EXPECT_TRUE(at(11'600, 7686));
    EXPECT_EQ(mapper.stats().rate_limited, 5u);
    // 100 Hz for 60 s with a constant value: one reading per heartbeat, not 6000.
    std::size_t sent = 0;
    for (int i = 0; i < 6000; ++i) sent += at(20'000 + i * 10, 7686);
    EXPECT_EQ(sent, 6u);
}

TEST(MapperFeatures, PercentDeadband) {
    Mapping m;
    CanMessageRule r{"x", 0x1, false, 0, std::nullopt, {}};
    auto s = sig("s", {0, 16, ByteOrder::intel, ValueType::unsigned_int, 1, 0});
    s.rate = {.deadband_percent = 2};
    r.signals = {s};
    m.can = {r};
    Mapper mapper(m);
    std::vector<Message> out;
    for (const std::uint16_t raw : std::vector<std::uint16_t>{1000, 1010, 1019, 1021, 1040, 1042}) {
        mapper.map(frame(0x1, false, {static_cast<std::uint8_t>(raw & 0xFF), static_cast<std::uint8_t>(raw >> 8)}), out);
    }
    // 1000 sent; 1010, 1019 within 2 % of 1000; 1021 beyond (21 > 20); 1040 within 2 % of 1021 (19 < 20.42); 1042 beyond.
    ASSERT_EQ(out.size(), 3u);
    EXPECT_NE(out[1].body.find("\"value\":1021"), std::string::npos);
    EXPECT_NE(out[2].body.find("\"value\":1042"), std::string::npos);
}
