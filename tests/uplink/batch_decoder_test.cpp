// The batch decoder against payloads built by hand (nlohmann::json::to_cbor, compress(), JSON text
// written out), in every format and compression, and against hostile payloads: exact readings
// out, or a refusal in words; never a crash.
#include "outpost/uplink/batch_decoder.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <random>

#include <nlohmann/json.hpp>

#include "outpost/uplink/compression.hpp"

using namespace outpost::uplink;
using nlohmann::json;

namespace {

constexpr const char* topic = "site/bess-01/batch";

std::string bytes(const std::vector<std::uint8_t>& v) { return {v.begin(), v.end()}; }

std::string cbor(const json& doc) { return bytes(json::to_cbor(doc)); }

std::string compressed(Compression c, const std::string& plain) {
    std::string out;
    EXPECT_TRUE(compress(c, plain, out));
    return out;
}

// The compact form around keys and readings, with the fixed header of these tests.
std::string compact(const json& keys, const json& readings, std::uint64_t seq0 = 1234,
                    std::uint64_t ts0 = 1700000000100000) {
    return cbor(json::array({"ob1", "bess-01", 7, seq0, ts0, keys, readings}));
}

DecodedReading reading(std::uint64_t seq, const std::string& suffix, std::int64_t ts_us, const std::string& value,
                       const std::string& unit = "", const std::string& text = "", bool value_is_text = false) {
    DecodedReading r;
    r.gw = "bess-01";
    r.ep = 7;
    r.seq = seq;
    r.topic = "site/bess-01/" + suffix;
    r.ts_us = ts_us;
    r.value = value;
    r.value_is_text = value_is_text;
    r.unit = unit;
    r.text = text;
    return r;
}

std::vector<DecodedReading> decode_ok(const std::string& payload, const std::string& on = topic) {
    std::vector<DecodedReading> out;
    std::string problem;
    EXPECT_TRUE(decode_batch(on, payload, out, problem)) << problem;
    EXPECT_EQ(problem, "");
    return out;
}

// The refusal's words (and checks that nothing came out).
std::string refusal(const std::string& payload, const std::string& on = topic) {
    std::vector<DecodedReading> out{reading(1, "stale", 0, "0")};
    std::string problem;
    EXPECT_FALSE(decode_batch(on, payload, out, problem));
    EXPECT_TRUE(out.empty());
    EXPECT_FALSE(problem.empty());
    return problem;
}

// One logical batch in both forms: negative dts, a text value, an enumerated value with its name,
// a unit that is null, decimals 0..3, a float.
const json example_keys = json::array({json::array({"pack_voltage", "V", 1}), json::array({"cell_temp", "C", 2}),
                                       json::array({"state", nullptr, 0}), json::array({"soc", "%", 3}),
                                       json::array({"mode", nullptr, 0}), json::array({"ratio", nullptr, 0})});
const json example_readings = json::array({
    json::array({0, 0, 0, 7682}),             // 768.2 V
    json::array({1, -50, 1, 2531}),           // 25.31 C, 50 us earlier
    json::array({1, 100, 2, 3, "charging"}),  // 3, enumerated
    json::array({1, 0, 3, 3310}),             // 3.31 %
    json::array({2, -1000000, 4, "manual"}),  // a text value, seq jumps by 2
    json::array({1, 1, 5, 0.25}),             // a float
    json::array({1, 0, 1, -120}),             // -1.2 C
});
const char* example_json = R"({"gw":"bess-01","ep":7,"batch":[)"
                           R"({"seq":1234,"t":"pack_voltage","ts":1700000000.100000,"value":768.2,"unit":"V"},)"
                           R"({"seq":1235,"t":"cell_temp","ts":1700000000.099950,"value":25.31,"unit":"C"},)"
                           R"({"seq":1236,"t":"state","ts":1700000000.100050,"value":3,"unit":null,"text":"charging"},)"
                           R"({"seq":1237,"t":"soc","ts":1700000000.100050,"value":3.310,"unit":"%"},)"
                           R"({"seq":1239,"t":"mode","ts":1699999999.100050,"value":"manual"},)"
                           R"({"seq":1240,"t":"ratio","ts":1699999999.100051,"value":0.25},)"
                           R"({"seq":1241,"t":"cell_temp","ts":1699999999.100051,"value":-1.20,"unit":"C"}]})";

std::vector<DecodedReading> example_expected() {
    return {reading(1234, "pack_voltage", 1700000000100000, "768.2", "V"),
            reading(1235, "cell_temp", 1700000000099950, "25.31", "C"),
            reading(1236, "state", 1700000000100050, "3", "", "charging"),
            reading(1237, "soc", 1700000000100050, "3.31", "%"),
            reading(1239, "mode", 1699999999100050, "manual", "", "", true),
            reading(1240, "ratio", 1699999999100051, "0.25"),
            reading(1241, "cell_temp", 1699999999100051, "-1.2", "C")};
}

}  // namespace

TEST(BatchDecoder, EveryFormatInEveryCompressionGivesTheSameReadings) {
    const std::string plain[] = {compact(example_keys, example_readings), example_json};
    const PayloadFormat formats[] = {PayloadFormat::batch_cbor, PayloadFormat::batch_json};
    for (int f = 0; f < 2; ++f) {
        for (const auto c : {Compression::none, Compression::zstd, Compression::zlib}) {
            SCOPED_TRACE(std::string(to_string(formats[f])) + " " + to_string(c));
            const auto payload = compressed(c, plain[f]);
            EXPECT_EQ(detect_compression(payload), c);
            EXPECT_EQ(detect_format(payload), formats[f]);
            EXPECT_EQ(decode_ok(payload), example_expected());
        }
    }
}

TEST(BatchDecoder, GatewayIdIsReportedAlsoForARefusedBatch) {
    std::vector<DecodedReading> out;
    std::string problem, gw = "stale";
    EXPECT_TRUE(decode_batch(topic, example_json, out, problem, &gw));
    EXPECT_EQ(gw, "bess-01");
    const auto bad = compact(example_keys, json::array({json::array({0, 0, 9, 1})}));
    EXPECT_FALSE(decode_batch(topic, bad, out, problem, &gw));
    EXPECT_EQ(gw, "bess-01");
    EXPECT_EQ(problem, "reading 1: key 9 is out of range (6 keys)");
    EXPECT_FALSE(decode_batch(topic, "\x87\x01", out, problem, &gw));
    EXPECT_EQ(gw, "");
}

TEST(BatchDecoder, CompactIntegerMantissasAreExactDecimals) {
    struct Case {
        std::int64_t mantissa;
        unsigned decimals;
        const char* expected;
    };
    const Case cases[] = {
        {3310, 3, "3.31"},
        {5, 2, "0.05"},
        {-120, 1, "-12"},
        {0, 0, "0"},
        {0, 6, "0"},
        {7, 0, "7"},
        {-7, 0, "-7"},
        {1000, 0, "1000"},
        {12, 1, "1.2"},
        {-5, 1, "-0.5"},
        {100, 2, "1"},
        {101, 2, "1.01"},
        {1, 3, "0.001"},
        {-1, 3, "-0.001"},
        {123456, 4, "12.3456"},
        {10, 5, "0.0001"},
        {1, 6, "0.000001"},
        {-999999, 6, "-0.999999"},
        {1000000, 6, "1"},
        {1234567, 6, "1.234567"},
        {std::numeric_limits<std::int64_t>::min(), 6, "-9223372036854.775808"},
        {std::numeric_limits<std::int64_t>::max(), 0, "9223372036854775807"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(std::to_string(c.mantissa) + " / 10^" + std::to_string(c.decimals));
        const auto out = decode_ok(compact(json::array({json::array({"x", "u", c.decimals})}),
                                           json::array({json::array({0, 0, 0, c.mantissa})})));
        ASSERT_EQ(out.size(), 1u);
        EXPECT_EQ(out[0].value, c.expected);
        EXPECT_FALSE(out[0].value_is_text);
    }
    // The extremes CBOR can carry: 2^64-1 and -2^64, with the most decimals a key may have.
    const auto big =
        decode_ok(compact(json::array({json::array({"x", nullptr, 20})}),
                          json::array({json::array({0, 0, 0, std::numeric_limits<std::uint64_t>::max()})})));
    EXPECT_EQ(big.at(0).value, "0.18446744073709551615");
    auto lowest = compact(json::array({json::array({"x", nullptr, 0})}), json::array({json::array({0, 0, 0, 0})}));
    // The last item is the value 0 (one byte, 0x00): swap in -2^64 (0x3B and eight 0xFF).
    lowest.pop_back();
    lowest += std::string("\x3B\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF", 9);
    EXPECT_EQ(decode_ok(lowest).at(0).value, "-18446744073709551616");
}

TEST(BatchDecoder, FloatsReadAsTheirShortestDigitsWithoutExponent) {
    const auto value_of = [](const json& v) {
        return decode_ok(
                   compact(json::array({json::array({"x", nullptr, 3})}), json::array({json::array({0, 0, 0, v})})))
            .at(0)
            .value;
    };
    EXPECT_EQ(value_of(0.1), "0.1");  // a double, not 0.1000000000000000055511151231257827
    EXPECT_EQ(value_of(0.5), "0.5");  // to_cbor writes this one as a single
    EXPECT_EQ(value_of(12.0), "12");
    EXPECT_EQ(value_of(-0.0), "0");
    EXPECT_EQ(value_of(1e-7), "0.0000001");
    EXPECT_EQ(value_of(1.5e20), "150000000000000000000");
    EXPECT_EQ(value_of(-3.4028234663852886e38), "-340282346638528860000000000000000000000");
    EXPECT_EQ(value_of(1e300), "1" + std::string(300, '0'));
    EXPECT_EQ(value_of(5e-324), "0." + std::string(323, '0') + "5");
    // A half (0xF9): 1.0 and -2.5.
    for (const auto& [half, expected] :
         {std::pair{std::string("\xF9\x3C\x00", 3), "1"}, std::pair{std::string("\xF9\xC1\x00", 3), "-2.5"}}) {
        auto p = compact(json::array({json::array({"x", nullptr, 0})}), json::array({json::array({0, 0, 0, 0})}));
        p.pop_back();
        EXPECT_EQ(decode_ok(p + half).at(0).value, expected);
    }
    EXPECT_EQ(refusal(compact(json::array({json::array({"x", nullptr, 0})}),
                              json::array({json::array({0, 0, 0, std::nan("")})}))),
              "reading 1: the value is not a finite number");
    EXPECT_EQ(refusal(compact(json::array({json::array({"x", nullptr, 0})}),
                              json::array({json::array({0, 0, 0, HUGE_VAL})}))),
              "reading 1: the value is not a finite number");
}

TEST(BatchDecoder, JsonNumbersKeepTheirTextExactly) {
    const auto value_of = [](const std::string& number) {
        return decode_ok(R"({"gw":"g","ep":0,"batch":[{"seq":1,"t":"x","ts":0,"value":)" + number + "}]}").at(0).value;
    };
    EXPECT_EQ(value_of("52.30"), "52.3");
    EXPECT_EQ(value_of("0.1000000000000000055511151231257827"), "0.1000000000000000055511151231257827");
    EXPECT_EQ(value_of("-0"), "0");
    EXPECT_EQ(value_of("-0.0"), "0");
    EXPECT_EQ(value_of("1e-07"), "0.0000001");
    EXPECT_EQ(value_of("12E2"), "1200");
    EXPECT_EQ(value_of("0.05"), "0.05");
    EXPECT_EQ(value_of("18446744073709551616"), "18446744073709551616");  // past 64 bits: nlohmann's double
    EXPECT_EQ(value_of("-9223372036854775809"), "-9223372036854775809");
    EXPECT_EQ(refusal(R"({"gw":"g","ep":0,"batch":[{"seq":1,"t":"x","ts":0,"value":1e-400}]})"),
              "reading 1: the value is neither a string nor a number of at most 400 digits");
    EXPECT_EQ(refusal(R"({"gw":"g","ep":0,"batch":[{"seq":1,"t":"x","ts":0,"value":1e400}]})"),
              "not JSON (a syntax error at byte 63)");  // nlohmann: number overflow
}

TEST(BatchDecoder, JsonTimestampsAreExactMicroseconds) {
    const auto ts_of = [](const std::string& ts) {
        return decode_ok(R"({"gw":"g","ep":0,"batch":[{"seq":1,"t":"x","ts":)" + ts + R"(,"value":1}]})").at(0).ts_us;
    };
    EXPECT_EQ(ts_of("1700000000.100000"), 1700000000100000);
    EXPECT_EQ(ts_of("1700000000.999999"), 1700000000999999);
    EXPECT_EQ(ts_of("1700000000"), 1700000000000000);
    EXPECT_EQ(ts_of("1.7e9"), 1700000000000000);
    EXPECT_EQ(ts_of("0.000001"), 1);
    EXPECT_EQ(ts_of("-1.5"), -1500000);
    EXPECT_EQ(ts_of("9223372036854.775807"), std::numeric_limits<std::int64_t>::max());
    const auto why = "reading 1: ts is not a number of seconds with at most 6 decimals within 64 bits of microseconds";
    EXPECT_EQ(refusal(R"({"gw":"g","ep":0,"batch":[{"seq":1,"t":"x","ts":1.0000001,"value":1}]})"), why);
    EXPECT_EQ(refusal(R"({"gw":"g","ep":0,"batch":[{"seq":1,"t":"x","ts":9223372036854.775808,"value":1}]})"), why);
    EXPECT_EQ(refusal(R"({"gw":"g","ep":0,"batch":[{"seq":1,"t":"x","ts":"1","value":1}]})"), why);
}

// The text is exact; a consumer reading ts as a double and rounding would be right as well, for
// timestamps of this century: 100,000 random ones, checked both ways.
TEST(BatchDecoder, TimestampTextAndTheDoubleRoundedAgreeOverManyValues) {
    std::mt19937_64 rng(20260101);
    std::uniform_int_distribution<std::int64_t> us(946684800000000, 4102444800000000);  // 2000..2100
    std::string doc = R"({"gw":"g","ep":0,"batch":[)";
    std::vector<std::int64_t> expected;
    char text[40];
    for (std::size_t i = 0; i < max_batch_readings; ++i) {
        const auto t = us(rng);
        expected.push_back(t);
        std::snprintf(text, sizeof text, "%lld.%06lld", static_cast<long long>(t / 1000000),
                      static_cast<long long>(t % 1000000));
        EXPECT_EQ(std::llround(std::strtod(text, nullptr) * 1e6), t) << text;
        doc += std::string(i ? "," : "") + R"({"seq":)" + std::to_string(i + 1) + R"(,"t":"x","ts":)" + text +
               R"(,"value":0})";
    }
    doc += "]}";
    const auto out = decode_ok(doc);
    ASSERT_EQ(out.size(), expected.size());
    for (std::size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i].ts_us, expected[i]) << i;
}

TEST(BatchDecoder, JsonExtraMembersAreKeptAsJsonText) {
    const auto out = decode_ok(
        R"({"gw":"g","ep":4294967295,"batch":[{"seq":18446744073709551615,"t":"can/x","ts":1.5,"value":250.0,)"
        R"("unit":"rpm","out_of_range":true,"can_id":291,"note":{"a":[1.50,"\u00e9",null]}}],"future":1})");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].ep, 4294967295u);
    EXPECT_EQ(out[0].seq, 18446744073709551615u);
    EXPECT_EQ(out[0].topic, "site/bess-01/can/x");
    EXPECT_EQ(out[0].value, "250");
    EXPECT_EQ(out[0].extra, R"("can_id":291,"note":{"a":[1.50,"é",null]},"out_of_range":true)");
}

TEST(BatchDecoder, TheGroupIsTheTopicWithoutItsLastLevel) {
    const std::string one =
        compact(json::array({json::array({"a/b", nullptr, 0})}), json::array({json::array({0, 0, 0, 1})}));
    EXPECT_EQ(decode_ok(one, "g1/g2/g3/batch").at(0).topic, "g1/g2/g3/a/b");
    EXPECT_EQ(decode_ok(one, "/batch").at(0).topic, "/a/b");
    EXPECT_EQ(refusal(one, "batch"),
              "the batch topic has no level to take off (its readings' topics start with its group)");
}

TEST(BatchDecoder, CompactStructureIsCheckedItemByItem) {
    const json k = json::array({json::array({"x", "V", 1})});
    const json r = json::array({json::array({0, 0, 0, 1})});
    const auto doc = [&](const json& marker, const json& gw, const json& ep, const json& seq0, const json& ts0,
                         const json& keys, const json& readings) {
        return cbor(json::array({marker, gw, ep, seq0, ts0, keys, readings}));
    };
    EXPECT_EQ(refusal(doc("ob2", "g", 1, 1, 0, k, r)), "item 0 is not the format marker \"ob1\"");
    EXPECT_EQ(refusal(doc("ob1", 5, 1, 1, 0, k, r)), "item 1 (gw) is not a non-empty text");
    EXPECT_EQ(refusal(doc("ob1", "", 1, 1, 0, k, r)), "item 1 (gw) is not a non-empty text");
    EXPECT_EQ(refusal(doc("ob1", "g", -1, 1, 0, k, r)), "item 2 (ep) is not an unsigned 32-bit integer");
    EXPECT_EQ(refusal(doc("ob1", "g", 4294967296u, 1, 0, k, r)), "item 2 (ep) is not an unsigned 32-bit integer");
    EXPECT_EQ(refusal(doc("ob1", "g", 1, 1.0, 0, k, r)), "item 3 (seq0) is not an unsigned integer");
    EXPECT_EQ(refusal(doc("ob1", "g", 1, 1, std::uint64_t{1} << 63, k, r)),
              "item 4 (ts0) is not an unsigned 63-bit integer");
    EXPECT_EQ(refusal(doc("ob1", "g", 1, 1, 0, json::object(), r)), "item 5 (keys) is not an array");
    EXPECT_EQ(refusal(doc("ob1", "g", 1, 1, 0, json::array({json::array({"x", "V"})}), r)),
              "key 0: not an array of 3 items");
    EXPECT_EQ(refusal(doc("ob1", "g", 1, 1, 0, json::array({json::array({"", "V", 1})}), r)),
              "key 0: the suffix is not a non-empty text");
    EXPECT_EQ(refusal(doc("ob1", "g", 1, 1, 0, json::array({json::array({"x", 1, 1})}), r)),
              "key 0: the unit is neither text nor null");
    EXPECT_EQ(refusal(doc("ob1", "g", 1, 1, 0, json::array({json::array({"x", "V", -1})}), r)),
              "key 0: decimals is not an unsigned integer up to 20");
    EXPECT_EQ(refusal(doc("ob1", "g", 1, 1, 0, json::array({json::array({"x", "V", 21})}), r)),
              "key 0: decimals is not an unsigned integer up to 20");
    EXPECT_EQ(refusal(doc("ob1", "g", 1, 1, 0, k, "r")), "item 6 (readings) is not an array");
    EXPECT_EQ(refusal(doc("ob1", "g", 1, 1, 0, k, json::array())), "the batch holds no reading");
    EXPECT_EQ(refusal(doc("ob1", "g", 1, 1, 0, k, json::array({json::array({0, 0, 0})}))),
              "reading 1: not an array of 4 or 5 items");
    EXPECT_EQ(refusal(doc("ob1", "g", 1, 1, 0, k, json::array({json::array({0, 0, 0, 1, "a", "b"})}))),
              "reading 1: not an array of 4 or 5 items");
    EXPECT_EQ(refusal(doc("ob1", "g", 1, 1, 0, k, json::array({json::array({"0", 0, 0, 1})}))),
              "reading 1: dseq is not an integer");
    EXPECT_EQ(refusal(doc("ob1", "g", 1, 1, 0, k, json::array({json::array({0, 0.5, 0, 1})}))),
              "reading 1: dts is not an integer");
    EXPECT_EQ(refusal(doc("ob1", "g", 1, 1, 0, k, json::array({json::array({0, 0, -1, 1})}))),
              "reading 1: the key is not an unsigned integer");
    EXPECT_EQ(refusal(doc("ob1", "g", 1, 1, 0, k, json::array({json::array({0, 0, 1, 1})}))),
              "reading 1: key 1 is out of range (1 keys)");
    EXPECT_EQ(refusal(doc("ob1", "g", 1, 1, 0, k, json::array({json::array({0, 0, 0, json::array()})}))),
              "reading 1: the value is not an integer, a float or a valid text");
    EXPECT_EQ(refusal(doc("ob1", "g", 1, 1, 0, k, json::array({json::array({0, 0, 0, true})}))),
              "reading 1: the value is not an integer, a float or a valid text");
    EXPECT_EQ(refusal(doc("ob1", "g", 1, 1, 0, k, json::array({json::array({0, 0, 0, 1, 2})}))),
              "reading 1: the text (item 4) is not a valid text");
    EXPECT_EQ(refusal(doc("ob1", "g", 1, 1, 0, k, json::array({json::array({0, 0, 0, 1, nullptr})}))),
              "reading 1: the text (item 4) is not a valid text");
    // Byte strings, maps, tags and indefinite lengths are not part of the form.
    EXPECT_EQ(refusal(doc("ob1", json::binary({1, 2}), 1, 1, 0, k, r)), "item 1 (gw) is not a non-empty text");
    EXPECT_EQ(refusal(std::string("\x88\x63ob1", 5)),
              "not a batch: it starts with the byte 0x88 (a batch starts with '{', 0x87, or a zstd or zlib header)");
    EXPECT_EQ(refusal(std::string("\x87\x63ob1\x61g\x01\x01\x00\x9F\xFF\x80", 13)), "item 5 (keys) is not an array");
    EXPECT_EQ(refusal(std::string("\xA7", 1)),
              "not a batch: it starts with the byte 0xA7 (a batch starts with '{', "
              "0x87, or a zstd or zlib header)");
    EXPECT_EQ(refusal(std::string("\x87\xC0\x63ob1", 5) + std::string(8, '\0')),
              "item 0 is not the format marker \"ob1\"");
    EXPECT_EQ(refusal(cbor(json::array({"ob1", "g", 1, 1, 0, k}))),
              "not a batch: it starts with the byte 0x86 (a batch starts with '{', 0x87, or a zstd or zlib header)");
    // Invalid UTF-8 in a text: an overlong '/', a lone surrogate.
    EXPECT_EQ(refusal(doc("ob1", "g", 1, 1, 0, json::array({json::array({"\xC0\xAF", "V", 1})}), r)),
              "key 0: the suffix is not a non-empty text");
    EXPECT_EQ(refusal(doc("ob1", "g\xED\xA0\x80", 1, 1, 0, k, r)), "item 1 (gw) is not a non-empty text");
    // One byte more after the array.
    EXPECT_EQ(refusal(doc("ob1", "g", 1, 1, 0, k, r) + '\0'), "1 trailing byte(s) after the CBOR item");
}

TEST(BatchDecoder, SequenceNumbersStayWithinOneTo2To64Minus1) {
    const json k = json::array({json::array({"x", nullptr, 0})});
    const auto seqs = [&](std::uint64_t seq0, const json& dseqs) {
        json readings = json::array();
        for (const auto& d : dseqs) readings.push_back(json::array({d, 0, 0, 1}));
        std::vector<std::uint64_t> out;
        for (const auto& r : decode_ok(compact(k, readings, seq0))) out.push_back(r.seq);
        return out;
    };
    EXPECT_EQ(seqs(5, json::array({0, 1, -2, 3})), (std::vector<std::uint64_t>{5, 6, 4, 7}));
    EXPECT_EQ(seqs(2, json::array({-1})), (std::vector<std::uint64_t>{1}));
    constexpr auto max = std::numeric_limits<std::uint64_t>::max();
    EXPECT_EQ(seqs(max - 1, json::array({1})), (std::vector<std::uint64_t>{max}));
    const auto why = "reading 2: its seq goes below 1 or past 2^64-1";
    EXPECT_EQ(refusal(compact(k, json::array({json::array({0, 0, 0, 1}), json::array({-1, 0, 0, 1})}), 1)), why);
    EXPECT_EQ(refusal(compact(k, json::array({json::array({0, 0, 0, 1}), json::array({1, 0, 0, 1})}), max)), why);
    EXPECT_EQ(refusal(compact(k, json::array({json::array({0, 0, 0, 1})}), 0)),
              "reading 1: its seq goes below 1 or past 2^64-1");
    EXPECT_EQ(refusal(compact(k, json::array({json::array({0, 0, 0, 1}), json::array({max, 0, 0, 1})}), 2)), why);
    // dseq = -2^64 (0x3B and eight 0xFF) from the highest seq.
    auto lowest = compact(k, json::array({json::array({0, 0, 0, 1}), json::array({5, 0, 0, 1})}), max - 5);
    const auto at = lowest.size() - 4;  // [5, 0, 0, 1]: 0x84 0x05 0x00 0x00 0x01 -> dseq at size - 4
    ASSERT_EQ(lowest[at], '\x05');
    lowest.replace(at, 1, std::string("\x3B\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF", 9));
    EXPECT_EQ(refusal(lowest), why);
}

TEST(BatchDecoder, TimestampsStayWithin64Bits) {
    const json k = json::array({json::array({"x", nullptr, 0})});
    constexpr auto max = std::numeric_limits<std::int64_t>::max();
    const auto ts = [&](std::uint64_t ts0, const json& dts) {
        json readings = json::array();
        for (const auto& d : dts) readings.push_back(json::array({1, d, 0, 1}));
        std::vector<std::int64_t> out;
        for (const auto& r : decode_ok(compact(k, readings, 1, ts0))) out.push_back(r.ts_us);
        return out;
    };
    EXPECT_EQ(ts(10, json::array({0, -20, 5})), (std::vector<std::int64_t>{10, -10, -5}));
    EXPECT_EQ(ts(0, json::array({std::numeric_limits<std::int64_t>::min()})),
              (std::vector<std::int64_t>{std::numeric_limits<std::int64_t>::min()}));
    EXPECT_EQ(ts(max, json::array({0})), (std::vector<std::int64_t>{max}));
    const auto why = "reading 1: its timestamp goes past 64 bits";
    EXPECT_EQ(refusal(compact(k, json::array({json::array({0, 1, 0, 1})}), 1, max)), why);
    EXPECT_EQ(
        refusal(compact(k, json::array({json::array({0, std::numeric_limits<std::uint64_t>::max(), 0, 1})}), 1, 0)),
        why);
    EXPECT_EQ(refusal(compact(k,
                              json::array({json::array({0, std::numeric_limits<std::int64_t>::min(), 0, 1}),
                                           json::array({1, -1, 0, 1})}),
                              1, 0)),
              "reading 2: its timestamp goes past 64 bits");
}

TEST(BatchDecoder, AtMost100000Readings) {
    const json k = json::array({json::array({"x", nullptr, 0})});
    json readings = json::array();
    for (std::size_t i = 0; i < max_batch_readings; ++i) readings.push_back(json::array({i ? 1 : 0, 1, 0, i}));
    const auto out = decode_ok(compact(k, readings, 1, 0));
    ASSERT_EQ(out.size(), max_batch_readings);
    EXPECT_EQ(out.back().seq, max_batch_readings);
    EXPECT_EQ(out.back().ts_us, static_cast<std::int64_t>(max_batch_readings));
    EXPECT_EQ(out.back().value, "99999");
    readings.push_back(json::array({1, 1, 0, 0}));
    EXPECT_EQ(refusal(compact(k, readings, 1, 0)), "the batch holds 100001 readings, more than the 100000 allowed");
    std::string doc = R"({"gw":"g","ep":0,"batch":[)";
    for (std::size_t i = 0; i <= max_batch_readings; ++i) doc += R"({"seq":1,"t":"x","ts":0,"value":0},)";
    doc.back() = ']';
    EXPECT_EQ(refusal(doc + "}"), "the batch holds 100001 readings, more than the 100000 allowed");
    // The count is checked before a reading is read: an announced count alone is refused.
    EXPECT_EQ(refusal(compact(k, json::array()).substr(0, compact(k, json::array()).size() - 1) +
                      std::string("\x9A\x00\x01\x86\xA1", 5) + std::string(100001, '\x80')),
              "the batch holds 100001 readings, more than the 100000 allowed");
}

TEST(BatchDecoder, JsonStructureIsChecked) {
    const auto batch = [](const std::string& element) { return R"({"gw":"g","ep":1,"batch":[)" + element + "]}"; };
    EXPECT_EQ(refusal(R"({"gw":"g","ep":1,"seq":3,"ts":1.5,"value":1})"), "no batch member (a one-message payload?)");
    EXPECT_EQ(refusal(R"([1,2])"),
              "not a batch: it starts with the byte 0x5B (a batch starts with '{', 0x87, or a "
              "zstd or zlib header)");
    EXPECT_EQ(refusal(R"({"gw":"g","ep":1,"batch":[]} x)"), "not JSON (a syntax error at byte 30)");
    EXPECT_EQ(refusal(R"({"gw":"g","ep":1,"batch":{}})"), "batch is not an array");
    EXPECT_EQ(refusal(R"({"gw":"g","ep":1,"batch":[]})"), "the batch holds no reading");
    EXPECT_EQ(refusal(R"({"gw":1,"ep":1,"batch":[]})"), "gw is not a non-empty string");
    EXPECT_EQ(refusal(R"({"ep":1,"batch":[]})"), "gw is not a non-empty string");
    EXPECT_EQ(refusal(R"({"gw":"g","ep":1.0,"batch":[]})"), "ep is not an unsigned 32-bit integer");
    EXPECT_EQ(refusal(R"({"gw":"g","ep":4294967296,"batch":[]})"), "ep is not an unsigned 32-bit integer");
    EXPECT_EQ(refusal(R"({"gw":"g","gw":"h","ep":1,"batch":[]})"), "the member \"gw\" appears twice in one object");
    EXPECT_EQ(refusal(batch("1")), "reading 1: not a JSON object");
    EXPECT_EQ(refusal(batch(R"({"seq":0,"t":"x","ts":0,"value":1})")),
              "reading 1: seq is not an unsigned 64-bit integer of 1 or more");
    EXPECT_EQ(refusal(batch(R"({"seq":-1,"t":"x","ts":0,"value":1})")),
              "reading 1: seq is not an unsigned 64-bit integer of 1 or more");
    EXPECT_EQ(refusal(batch(R"({"seq":18446744073709551616,"t":"x","ts":0,"value":1})")),
              "reading 1: seq is not an unsigned 64-bit integer of 1 or more");
    EXPECT_EQ(refusal(batch(R"({"seq":1,"t":"","ts":0,"value":1})")),
              "reading 1: t (the topic suffix) is not a non-empty string");
    EXPECT_EQ(refusal(batch(R"({"seq":1,"t":"x","ts":0,"value":true})")),
              "reading 1: the value is neither a string nor a number of at most 400 digits");
    EXPECT_EQ(refusal(batch(R"({"seq":1,"t":"x","ts":0,"value":1,"unit":5})")),
              "reading 1: unit is neither a string nor null");
    EXPECT_EQ(refusal(batch(R"({"seq":1,"t":"x","ts":0,"value":1,"text":[]})")),
              "reading 1: text is neither a string nor null");
    EXPECT_EQ(refusal(batch(R"({"seq":1,"t":"x","ts":0})")), "reading 1: it lacks one of seq, t, ts and value");
    EXPECT_EQ(refusal(batch(R"({"seq":1,"t":"x","ts":0,"value":1},{"seq":2,"t":"x","value":1})")),
              "reading 2: it lacks one of seq, t, ts and value");
    EXPECT_EQ(refusal(batch(R"({"seq":1,"t":"x","ts":0,"value":1,"seq":2})")),
              "the member \"seq\" appears twice in one object");
    // Nested garbage: deeper than 32 levels is refused while parsing, whatever the depth.
    EXPECT_EQ(refusal(batch(R"({"seq":1,"t":"x","ts":0,"value":1,"deep":)" + std::string(100000, '[') +
                            std::string(100000, ']') + "}")),
              "nested deeper than 32 levels");
    EXPECT_EQ(refusal(std::string(1000000, '{')), "not JSON (a syntax error at byte 2)");
    EXPECT_EQ(refusal(std::string(" \n{")), "not JSON (a syntax error at byte 4)");
    EXPECT_EQ(refusal(""), "an empty payload");
    EXPECT_EQ(refusal("{\"gw\":\"\xC0\xAF\"}"), "not JSON (a syntax error at byte 8)");
}

TEST(BatchDecoder, CompressedPayloadsAreCheckedAndCapped) {
    const auto doc = compact(example_keys, example_readings);
    for (const auto c : {Compression::zstd, Compression::zlib}) {
        SCOPED_TRACE(to_string(c));
        const auto z = compressed(c, doc);
        const auto damaged =
            std::string("a damaged or truncated ") + to_string(c) + " stream, or one that inflates beyond 16 MiB";
        EXPECT_EQ(refusal(z.substr(0, z.size() - 1)), damaged);
        EXPECT_EQ(refusal(z.substr(0, 6)), damaged);
        EXPECT_EQ(refusal(z + "x"), damaged);
        // A zip bomb: 17 MiB of zeros inflate past the cap, from a few kilobytes.
        const auto bomb = compressed(c, std::string(17u << 20, '\0'));
        EXPECT_LT(bomb.size(), 40000u);
        EXPECT_EQ(refusal(bomb), damaged);
        EXPECT_EQ(detect_format(bomb), PayloadFormat::unknown);
        // Compressed twice: the inner stream is not a batch.
        EXPECT_EQ(refusal(compressed(c, z)).substr(0, 36), "not a batch: it starts with the byte");
    }
    // Exactly at the cap, a JSON batch padded with spaces is still a batch.
    std::string padded = example_json;
    padded.append(max_inflated_payload - padded.size(), ' ');
    EXPECT_EQ(decode_ok(compressed(Compression::zstd, padded)), example_expected());
    EXPECT_EQ(refusal(compressed(Compression::zstd, padded + " ")),
              "a damaged or truncated zstd stream, or one that inflates beyond 16 MiB");
}

TEST(BatchDecoder, ATinyPayloadCannotFanOutIntoGigabytes) {
    // One 60 KiB suffix, 100,000 readings using it: 6 GB of topics, refused at 64 MiB.
    const json k = json::array({json::array({std::string(60000, 's'), nullptr, 0})});
    json readings = json::array();
    for (std::size_t i = 0; i < max_batch_readings; ++i) readings.push_back(json::array({i ? 1 : 0, 0, 0, 0}));
    const auto doc = compact(k, readings);
    EXPECT_LT(doc.size(), 600000u);
    EXPECT_EQ(refusal(doc), "the readings add up to more than 64 MiB of text");
}

TEST(BatchDecoder, EveryTruncationIsRefusedAndNoBitFlipCrashes) {
    for (const auto& plain : {compact(example_keys, example_readings), std::string(example_json)}) {
        for (std::size_t n = 0; n < plain.size(); ++n) refusal(plain.substr(0, n));
        std::size_t accepted = 0;
        std::vector<DecodedReading> out;
        std::string problem;
        for (std::size_t i = 0; i < plain.size(); ++i) {
            for (int bit = 0; bit < 8; ++bit) {
                auto flipped = plain;
                flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));
                if (decode_batch(topic, flipped, out, problem)) {
                    ++accepted;
                    EXPECT_LE(out.size(), example_expected().size());
                } else {
                    EXPECT_TRUE(out.empty());
                    EXPECT_FALSE(problem.empty());
                }
            }
        }
        // Some flips still make a batch (a digit of a value, a letter of a suffix); most do not.
        EXPECT_GT(accepted, 0u);
        EXPECT_LT(accepted, plain.size() * 8);
    }
}

TEST(BatchDecoder, DetectFormatLooksAtTheFirstBytes) {
    EXPECT_EQ(detect_format(R"({"gw":"g","ep":1,"seq":3,"ts":1.5,"value":1})"), PayloadFormat::single_json);
    EXPECT_EQ(detect_format(R"( {"gw":"g","ep":1,"batch":[]})"), PayloadFormat::batch_json);
    EXPECT_EQ(detect_format(std::string("\x87", 1)), PayloadFormat::batch_cbor);
    EXPECT_EQ(detect_format("{not json"), PayloadFormat::unknown);
    EXPECT_EQ(detect_format("[1]"), PayloadFormat::unknown);
    EXPECT_EQ(detect_format(""), PayloadFormat::unknown);
    EXPECT_EQ(detect_format(compressed(Compression::zlib, R"({"gw":"g","seq":1})")), PayloadFormat::single_json);
    EXPECT_EQ(detect_format(std::string("\x28\xB5\x2F\xFD\x00", 5)), PayloadFormat::unknown);
    EXPECT_STREQ(to_string(PayloadFormat::batch_cbor), "batch_cbor");
}
