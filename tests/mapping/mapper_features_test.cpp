// Id masks, multiplexing, value tables, ranges and rate control, against values worked out by hand.
#include <gtest/gtest.h>

#include "outpost/mapping/mapper.hpp"
#include "outpost/mapping/frame_length.hpp"

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

// A DBC-like 8-byte message: pack_voltage in bytes 0-1, pack_current in 2-3, soc in byte 4, soh in 5.
namespace {

CanMessageRule pack_rule(std::optional<std::uint8_t> length, bool accept_short) {
    CanMessageRule r{"pack", 0x100, false, 0, std::nullopt, {}};
    r.signals = {sig("v", {0, 16, ByteOrder::intel, ValueType::unsigned_int, 0.1, 0}),
                 sig("i", {16, 16, ByteOrder::intel, ValueType::signed_int, 0.1, 0}),
                 sig("soc", {32, 8, ByteOrder::intel, ValueType::unsigned_int, 0.5, 0}),
                 sig("soh", {40, 8, ByteOrder::intel, ValueType::unsigned_int, 0.5, 0})};
    r.length = length;
    r.accept_short_frames = accept_short;
    return r;
}

std::vector<std::string> topics(const std::vector<Message>& out) {
    std::vector<std::string> t;
    for (const auto& m : out) t.push_back(m.topic);
    return t;
}

}  // namespace

TEST(FrameLength, Verdicts) {
    using enum FrameLength;
    EXPECT_EQ(check_frame_length(8, 6, false, 8, false), ok);
    EXPECT_EQ(check_frame_length(8, 6, false, 4, false), too_short);
    EXPECT_EQ(check_frame_length(8, 6, true, 4, false), short_accepted);
    EXPECT_EQ(check_frame_length(8, 6, true, 0, false), short_accepted);
    EXPECT_EQ(check_frame_length(4, 4, false, 8, false), too_long);
    EXPECT_EQ(check_frame_length(4, 4, true, 8, false), too_long) << "only shorter frames are accepted";
    // CAN FD pads a 10-byte message to 12 on the wire; a classic frame cannot.
    EXPECT_EQ(check_frame_length(10, 10, false, 12, true), ok);
    EXPECT_EQ(check_frame_length(10, 10, false, 12, false), too_long);
    EXPECT_EQ(check_frame_length(64, 64, false, 64, true), ok);
    EXPECT_EQ(check_frame_length(33, 33, false, 48, true), ok);
    EXPECT_EQ(check_frame_length(33, 33, false, 64, true), too_long);
    // No declared length: the frame must hold every signal; longer is fine.
    EXPECT_EQ(check_frame_length(std::nullopt, 6, false, 6, false), ok);
    EXPECT_EQ(check_frame_length(std::nullopt, 6, false, 8, false), ok);
    EXPECT_EQ(check_frame_length(std::nullopt, 6, false, 5, false), too_short);
    EXPECT_EQ(check_frame_length(std::nullopt, 6, true, 5, false), short_accepted);
    for (std::size_t n = 0; n <= 8; ++n) EXPECT_EQ(fd_padded_length(n), n);
    EXPECT_EQ(fd_padded_length(9), 12u);
    EXPECT_EQ(fd_padded_length(13), 16u);
    EXPECT_EQ(fd_padded_length(21), 24u);
    EXPECT_EQ(fd_padded_length(25), 32u);
    EXPECT_EQ(fd_padded_length(33), 48u);
    EXPECT_EQ(fd_padded_length(49), 64u);
    EXPECT_STREQ(to_string(too_short), "too_short");
}

TEST(MapperFeatures, AShortFrameIsRejectedWholeAndCounted) {
    Mapping m;
    m.can = {pack_rule(8, false)};
    Mapper mapper(m);
    std::vector<Message> out;
    MapTrace trace;
    // 100#11223344: half of an 8-byte message. Without the check, v and i would go out from half a frame.
    EXPECT_EQ(mapper.map(frame(0x100, false, {0x11, 0x22, 0x33, 0x44}), out, trace), 0u);
    EXPECT_TRUE(out.empty());
    EXPECT_TRUE(trace.readings.empty());
    ASSERT_EQ(trace.mismatches.size(), 1u);
    EXPECT_EQ(trace.mismatches[0].message->name, "pack");
    EXPECT_EQ(trace.mismatches[0].length, 4u);
    EXPECT_EQ(trace.mismatches[0].expected, 8u);
    EXPECT_TRUE(trace.mismatches[0].declared);
    // A longer frame is just as suspect.
    CanFrame fd = frame(0x100, false, std::vector<std::uint8_t>(12, 0));
    fd.fd = true;
    EXPECT_EQ(mapper.map(fd, out, trace), 0u);
    EXPECT_EQ(trace.mismatches.size(), 1u) << "cleared for each frame";
    // The right length goes through.
    EXPECT_EQ(mapper.map(frame(0x100, false, {0, 0x1E, 0x50, 0xFB, 0xA0, 0xC3, 0, 0}), out, trace), 4u);
    EXPECT_TRUE(trace.mismatches.empty());
    const auto& s = mapper.stats();
    EXPECT_EQ(s.length_mismatches, 2u);
    EXPECT_EQ(s.decode_errors, 0u);
    EXPECT_EQ(s.unmapped_frames, 0u) << "a mismatch is not an unknown id";
    EXPECT_EQ(s.readings, 4u);
    EXPECT_EQ(mapper.length_mismatches_by_rule()[0], 2u);
}

TEST(MapperFeatures, AcceptShortFramesDecodesOnlySignalsWhollyInside) {
    Mapping m;
    m.can = {pack_rule(8, true)};
    Mapper mapper(m);
    std::vector<Message> out;
    MapTrace trace;
    // 5 bytes: v, i and soc are inside; soh (byte 5) is not.
    EXPECT_EQ(mapper.map(frame(0x100, false, {0, 0x1E, 0x50, 0xFB, 0xA0}), out, trace), 3u);
    EXPECT_EQ(topics(out), (std::vector<std::string>{"t/v", "t/i", "t/soc"}));
    ASSERT_EQ(trace.short_accepted.size(), 1u);
    EXPECT_TRUE(trace.mismatches.empty());
    EXPECT_EQ(mapper.stats().short_frames, 1u);
    EXPECT_EQ(mapper.stats().length_mismatches, 0u);
    EXPECT_EQ(mapper.stats().decode_errors, 0u) << "a signal outside an accepted short frame is no error";
    // One byte: not even v.
    out.clear();
    EXPECT_EQ(mapper.map(frame(0x100, false, {0x55}), out, trace), 0u);
    // Longer frames are still rejected.
    EXPECT_EQ(mapper.map(frame(0x100, false, std::vector<std::uint8_t>(8, 0)), out), 4u);
    CanFrame twelve = frame(0x100, false, std::vector<std::uint8_t>(12, 0));
    twelve.fd = true;
    EXPECT_EQ(mapper.map(twelve, out), 0u);
    EXPECT_EQ(mapper.stats().length_mismatches, 1u);
}

TEST(MapperFeatures, WithoutADeclaredLengthTheFrameMustHoldEverySignal) {
    Mapping m;
    m.can = {pack_rule(std::nullopt, false)};
    Mapper mapper(m);
    std::vector<Message> out;
    EXPECT_EQ(mapper.map(frame(0x100, false, {0, 0x1E, 0x50, 0xFB, 0xA0}), out), 0u);  // soh needs 6 bytes
    EXPECT_EQ(mapper.map(frame(0x100, false, {0, 0x1E, 0x50, 0xFB, 0xA0, 0xC3}), out), 4u);
    EXPECT_EQ(mapper.map(frame(0x100, false, std::vector<std::uint8_t>(8, 0)), out), 4u);
    EXPECT_EQ(mapper.stats().length_mismatches, 1u);
}

TEST(MapperFeatures, AShortFrameThatMissesTheMultiplexorDecodesNoMultiplexedSignal) {
    Mapping m;
    CanMessageRule r{"mod", 0x310, false, 0, std::nullopt, {}};
    auto a = sig("a", {0, 8, ByteOrder::intel, ValueType::unsigned_int, 1, 0});
    auto sel = sig("sel", {56, 8, ByteOrder::intel, ValueType::unsigned_int, 1, 0});
    sel.multiplex = Multiplex::multiplexor;
    auto b = sig("b", {8, 8, ByteOrder::intel, ValueType::unsigned_int, 1, 0});
    b.multiplex = Multiplex::multiplexed;
    b.mux_value = 0;
    r.signals = {a, sel, b};
    r.length = 8;
    r.accept_short_frames = true;
    m.can = {r};
    Mapper mapper(m);
    std::vector<Message> out;
    EXPECT_EQ(mapper.map(frame(0x310, false, {1, 2}), out), 1u);
    EXPECT_EQ(topics(out), (std::vector<std::string>{"t/a"}));
}

TEST(MapperFeatures, OutOfRangeValuesAreDroppedOrPublishedWithAFlag) {
    Mapping m;
    CanMessageRule r{"imd", 0x18FF50E5, true, 0, std::nullopt, {}};
    auto drop = sig("riso", {0, 16, ByteOrder::intel, ValueType::unsigned_int, 1, 0});
    drop.maximum = 65000;
    drop.minimum = 0;
    auto keep = sig("riso_flagged", {0, 16, ByteOrder::intel, ValueType::unsigned_int, 1, 0});
    keep.maximum = 65000;
    keep.publish_out_of_range = true;
    keep.rate = {.min_interval_ms = 1000};
    r.signals = {drop, keep};
    m.can = {r};
    Mapper mapper(m);
    std::vector<Message> out;
    MapTrace trace;
    EXPECT_EQ(mapper.map(frame(0x18FF50E5, true, {0xFF, 0xFF, 0, 0, 0, 0, 0, 0}), out, trace), 1u);
    EXPECT_EQ(bodies(out), (std::vector<std::string>{
                               "t/riso_flagged \"ts\":1700000000.000000,\"value\":65535,\"out_of_range\":true"}));
    ASSERT_EQ(trace.readings.size(), 2u);
    EXPECT_EQ(trace.readings[0].signal->name, "riso");
    EXPECT_TRUE(trace.readings[0].out_of_range);
    EXPECT_FALSE(trace.readings[0].published);
    EXPECT_DOUBLE_EQ(trace.readings[0].value, 65535);
    EXPECT_TRUE(trace.readings[1].out_of_range);
    EXPECT_TRUE(trace.readings[1].published);
    EXPECT_EQ(mapper.stats().out_of_range, 2u);
    // Flagged readings still go through rate control; in-range ones carry no flag.
    out.clear();
    EXPECT_EQ(mapper.map(frame(0x18FF50E5, true, {0xFF, 0xFF, 0, 0, 0, 0, 0, 0}, 10), out, trace), 0u);
    EXPECT_FALSE(trace.readings[1].published);
    EXPECT_EQ(mapper.map(frame(0x18FF50E5, true, {0xD0, 0x07, 0, 0, 0, 0, 0, 0}, 2000), out, trace), 2u);
    EXPECT_EQ(out[0].body.find("out_of_range"), std::string::npos) << out[0].body;
    EXPECT_EQ(out[1].body.find("out_of_range"), std::string::npos) << out[1].body;
}
