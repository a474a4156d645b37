#include "outpost/mapping/mapper.hpp"

#include <gtest/gtest.h>

using namespace outpost::mapping;
using outpost::core::CanFrame;
using outpost::core::Message;

namespace {

Mapping two_rules() {
    Mapping m;
    CanMessageRule pack{"pack", 0x100, false, 0, std::nullopt, {}};
    SignalRule v{"pack_voltage", {0, 16, ByteOrder::intel, ValueType::unsigned_int, 0.1, 0}, "V",
                 "site/gw/bms/pack_voltage", 1, 7, 1, false};
    SignalRule i{"pack_current", {16, 16, ByteOrder::intel, ValueType::signed_int, 0.1, 0}, "A",
                 "site/gw/bms/pack_current", 1, 5, 0, true};
    pack.signals = {v, i};
    CanMessageRule imd{"imd", 0x18FF50E5, true, 0, std::uint16_t{1}, {}};
    imd.signals = {{"riso", {0, 16, ByteOrder::intel, ValueType::unsigned_int, 1, 0}, "kOhm", "site/gw/riso", 0, 8, 1,
                    false}};
    m.can = {pack, imd};
    return m;
}

CanFrame frame(std::uint32_t id, bool ext, std::vector<std::uint8_t> bytes, std::uint16_t bus = 0) {
    CanFrame f;
    f.id = id;
    f.extended = ext;
    f.bus = bus;
    f.len = static_cast<std::uint8_t>(bytes.size());
    std::copy(bytes.begin(), bytes.end(), f.data.begin());
    f.timestamp_ns = 1700000000123456789;
    return f;
}

}  // namespace

TEST(Mapper, DecodesEverySignalIntoAMessage) {
    Mapper mapper(two_rules());
    std::vector<Message> out;
    // 7680 * 0.1 = 768 V; 0xFB50 = -1200 -> -120 A.
    ASSERT_EQ(mapper.map(frame(0x100, false, {0x00, 0x1E, 0x50, 0xFB}), out), 2u);
    EXPECT_EQ(out[0].topic, "site/gw/bms/pack_voltage");
    EXPECT_EQ(out[0].body, R"("ts":1700000000.123456,"value":768,"unit":"V")");
    EXPECT_EQ(out[0].priority, 7);
    EXPECT_EQ(out[0].qos, 1);
    EXPECT_EQ(out[1].body, R"("ts":1700000000.123456,"value":-120,"unit":"A")");
    EXPECT_EQ(out[1].qos, 0);
    EXPECT_TRUE(out[1].retain);
    EXPECT_EQ(out[1].created_ns, 1700000000123456789);
}

TEST(Mapper, UnknownIdsErrorFramesAndShortFramesAreCounted) {
    Mapper mapper(two_rules());
    std::vector<Message> out;
    EXPECT_EQ(mapper.map(frame(0x7DF, false, {1, 2}), out), 0u);
    EXPECT_EQ(mapper.map(frame(0x100, true, {1, 2, 3, 4}), out), 0u);  // same number, but extended
    auto err = frame(0x80, false, {});
    err.error = true;
    EXPECT_EQ(mapper.map(err, out), 0u);
    // pack_current needs 4 bytes: the frame is rejected whole, pack_voltage is not published either.
    EXPECT_EQ(mapper.map(frame(0x100, false, {0x00, 0x1E, 0x50}), out), 0u);
    // The extended rule is bound to bus 1.
    EXPECT_EQ(mapper.map(frame(0x18FF50E5, true, {0xD0, 0x07}, 0), out), 0u);
    EXPECT_EQ(mapper.map(frame(0x18FF50E5, true, {0xD0, 0x07}, 1), out), 1u);
    EXPECT_EQ(out.back().body, R"("ts":1700000000.123456,"value":2000,"unit":"kOhm")");
    const auto& s = mapper.stats();
    EXPECT_EQ(s.frames, 6u);
    EXPECT_EQ(s.unmapped_frames, 3u);
    EXPECT_EQ(s.error_frames, 1u);
    EXPECT_EQ(s.length_mismatches, 1u);
    EXPECT_EQ(s.decode_errors, 0u);
    EXPECT_EQ(s.readings, 1u);
    EXPECT_EQ(mapper.length_mismatches_by_rule()[0], 1u);
    EXPECT_EQ(mapper.length_mismatches_by_rule()[1], 0u);
    EXPECT_EQ(mapper.unmapped_ids().at(0x7DF), 1u);
    EXPECT_EQ(mapper.unmapped_ids().at(0x80000100u), 1u);
}

TEST(Mapper, NumbersPrintWithTheResolutionOfTheirFactor) {
    std::string s;
    EXPECT_TRUE(append_json_number(s, 52.300000000000004, 1));
    EXPECT_EQ(s, "52.3");
    s.clear();
    EXPECT_TRUE(append_json_number(s, 3.28, 3));
    EXPECT_EQ(s, "3.28");
    s.clear();
    EXPECT_TRUE(append_json_number(s, -0.0001, 2));
    EXPECT_EQ(s, "0");
    s.clear();
    EXPECT_TRUE(append_json_number(s, 0.1f, -1));
    EXPECT_EQ(s, "0.10000000149011612");
    s.clear();
    EXPECT_FALSE(append_json_number(s, std::numeric_limits<double>::quiet_NaN(), -1));
    EXPECT_FALSE(append_json_number(s, std::numeric_limits<double>::infinity(), 2));
    s.clear();
    append_timestamp(s, 5'000'001'000);
    EXPECT_EQ(s, "5.000001");
}
