#include "outpost/mapping/dbc.hpp"

#include <map>

#include <gtest/gtest.h>

#include "process.hpp"

using namespace outpost::mapping;

TEST(Dbc, ParsesTheExampleFile) {
    const auto dbc = parse_dbc(outpost::test::read_file(outpost::test::source_dir() + "/configs/dbc-example/bms.dbc"));
    ASSERT_TRUE(dbc.errors.empty()) << dbc.errors[0].line << ": " << dbc.errors[0].message;
    ASSERT_EQ(dbc.messages.size(), 7u);
    const auto* pack = dbc.find("pack");
    ASSERT_NE(pack, nullptr);
    EXPECT_EQ(pack->id, 0x100u);
    EXPECT_FALSE(pack->extended);
    ASSERT_EQ(pack->signals.size(), 4u);
    const auto& current = pack->signals[1];
    EXPECT_EQ(current.name, "pack_current");
    EXPECT_EQ(current.spec.start_bit, 16);
    EXPECT_EQ(current.spec.type, ValueType::signed_int);
    EXPECT_DOUBLE_EQ(current.spec.factor, 0.1);
    EXPECT_DOUBLE_EQ(*current.minimum, -3276.8);
    EXPECT_EQ(current.unit, "A");

    const auto* cells = dbc.find("cells");
    EXPECT_EQ(cells->signals[0].spec.byte_order, ByteOrder::motorola);
    EXPECT_FALSE(cells->signals[2].minimum) << "[0|0] means no range";

    const auto* imd = dbc.find("imd");
    EXPECT_TRUE(imd->extended);
    EXPECT_EQ(imd->id, 0x18FF50E5u);

    const auto* modules = dbc.find("modules");
    EXPECT_EQ(modules->signals[0].multiplex, Multiplex::multiplexor);
    EXPECT_EQ(modules->signals[1].multiplex, Multiplex::multiplexed);
    EXPECT_EQ(modules->signals[1].mux_value, 1u);
    EXPECT_EQ(modules->signals[3].mux_value, 2u);

    const auto* state = dbc.find("pack_state");
    EXPECT_EQ(state->signals[0].value_names.at(2), "closed");
    EXPECT_EQ(state->signals[1].spec.type, ValueType::ieee_float);
}

TEST(Dbc, SyntaxErrorsCarryTheirLineNumbers) {
    const auto dbc = parse_dbc(
        "VERSION \"\"\n"                                           // 1
        "BO_ 100 ok: 8 X\n"                                         // 2
        " SG_ good : 0|8@1+ (1,0) [0|0] \"\" X\n"                   // 3
        " SG_ bad_order : 8|8@2+ (1,0) [0|0] \"\" X\n"              // 4
        " SG_ bad_scale : 8|8@1+ (1,) [0|0] \"\" X\n"               // 5
        " SG_ too_far : 60|8@1+ (1,0) [0|0] \"\" X\n"               // 6
        "BO_ 0x10 broken: 8 X\n"                                    // 7
        " SG_ orphan : 0|8@1+ (1,0) [0|0] \"\" X\n"                 // 8
        "BO_ 4000 big_std: 8 X\n"                                   // 9
        "VAL_ 100 nosuch 0 \"a\" ;\n"                               // 10
        "SIG_VALTYPE_ 100 good : 1;\n"                              // 11
        "CM_ SG_ 100 good \"never\n"                                // 12
        "ends");                                                    // 13
    std::map<int, std::string> by_line;
    for (const auto& e : dbc.errors) by_line[e.line] += e.message + ";";
    EXPECT_NE(by_line[4].find("@<1|0>"), std::string::npos);
    EXPECT_NE(by_line[5].find("(<factor>,<offset>)"), std::string::npos);
    EXPECT_NE(by_line[6].find("needs 9 bytes"), std::string::npos);
    EXPECT_NE(by_line[7].find("expected BO_"), std::string::npos);
    EXPECT_NE(by_line[8].find("outside a message"), std::string::npos);
    EXPECT_NE(by_line[9].find("above 0x7FF"), std::string::npos);
    EXPECT_NE(by_line[10].find("unknown signal nosuch"), std::string::npos);
    EXPECT_NE(by_line[11].find("needs 32"), std::string::npos);
    EXPECT_NE(by_line[12].find("not terminated"), std::string::npos);
    EXPECT_EQ(dbc.errors.size(), 9u);
    ASSERT_NE(dbc.find("ok"), nullptr);
    EXPECT_EQ(dbc.find("ok")->signals.size(), 1u) << "good signals survive next to bad ones";
}

TEST(Dbc, MultiplexingErrors) {
    const auto dbc = parse_dbc("BO_ 1 a: 8 X\n SG_ x m1 : 0|8@1+ (1,0) [0|0] \"\" X\n"
                               "BO_ 2 b: 8 X\n SG_ m M : 0|8@1+ (1,0) [0|0] \"\" X\n SG_ n M : 8|8@1+ (1,0) [0|0] \"\" X\n"
                               "BO_ 3 c: 8 X\n SG_ e m1M : 0|8@1+ (1,0) [0|0] \"\" X\n");
    ASSERT_EQ(dbc.errors.size(), 3u);
    EXPECT_NE(dbc.errors[0].message.find("extended multiplexing"), std::string::npos);
    EXPECT_EQ(dbc.errors[1].line, 1);
    EXPECT_NE(dbc.errors[1].message.find("no multiplexor"), std::string::npos);
    EXPECT_EQ(dbc.errors[2].line, 3);
}

TEST(Dbc, NonFiniteFactorsOffsetsAndRangesAreRefusedWithTheirLines) {
    const auto dbc = parse_dbc(
        "BO_ 100 m: 8 X\n"                                        // 1
        " SG_ ok : 0|8@1+ (0.5,-40) [-40|87.5] \"\" X\n"          // 2
        " SG_ nan_factor : 8|8@1+ (nan,0) [0|0] \"\" X\n"         // 3
        " SG_ inf_offset : 16|8@1+ (1,-inf) [0|0] \"\" X\n"       // 4
        " SG_ big_factor : 24|8@1+ (1e400,0) [0|0] \"\" X\n"      // 5
        " SG_ nan_range : 32|8@1+ (1,0) [NaN|1] \"\" X\n"         // 6
        " SG_ infinity : 40|8@1+ (infinity,0) [0|0] \"\" X\n");   // 7
    std::map<int, std::string> by_line;
    for (const auto& e : dbc.errors) by_line[e.line] += e.message + ";";
    EXPECT_TRUE(by_line[2].empty()) << by_line[2];
    EXPECT_NE(by_line[3].find("nan_factor: factor and offset must be finite"), std::string::npos) << by_line[3];
    EXPECT_NE(by_line[4].find("inf_offset: factor and offset must be finite"), std::string::npos) << by_line[4];
    EXPECT_FALSE(by_line[5].empty()) << "1e400 overflows a double";
    EXPECT_NE(by_line[6].find("nan_range: minimum and maximum must be numbers"), std::string::npos) << by_line[6];
    EXPECT_NE(by_line[7].find("infinity: factor and offset must be finite"), std::string::npos) << by_line[7];
    ASSERT_NE(dbc.find("m"), nullptr);
    EXPECT_EQ(dbc.find("m")->signals.size(), 1u) << "only the finite signal is kept";
}

TEST(Dbc, DuplicateSignalsAndLookupsByIdUseTheFirstMessage) {
    const auto dbc = parse_dbc("BO_ 100 a: 8 X\n SG_ s : 0|8@1+ (1,0) [0|0] \"\" X\n SG_ s : 8|8@1+ (1,0) [0|0] \"\" X\n"
                               "BO_ 2147483748 b: 8 X\n SG_ s : 0|8@1+ (1,0) [0|0] \"\" X\n"
                               "VAL_ 100 s 1 \"one\" ;\nVAL_ 2147483748 s 2 \"two\" ;\n");
    ASSERT_EQ(dbc.errors.size(), 1u);
    EXPECT_EQ(dbc.errors[0].line, 3);
    EXPECT_NE(dbc.errors[0].message.find("already has a signal s"), std::string::npos);
    EXPECT_EQ(dbc.find("a")->signals.at(0).value_names.at(1), "one");
    EXPECT_EQ(dbc.find("b")->signals.at(0).value_names.at(2), "two") << "the 29-bit id 100 is another message";
}
