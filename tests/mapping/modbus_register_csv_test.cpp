// CSV register lists as vendors ship them: separators, quotes, BOM, CRLF, comments, aliases, and
// every problem with its line.
#include "outpost/mapping/register_csv.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>

using namespace outpost::mapping;
using outpost::core::ModbusTable;

namespace {

bool has_error(const RegisterCsv& csv, int line, const std::string& column, const std::string& text) {
    for (const auto& e : csv.errors) {
        if (e.line == line && e.column == column && e.message.find(text) != std::string::npos) return true;
    }
    return false;
}

std::string dump(const RegisterCsv& csv) {
    std::string s;
    for (const auto& e : csv.errors) s += "line " + std::to_string(e.line) + " [" + e.column + "] " + e.message + "\n";
    return s;
}

}  // namespace

TEST(RegisterCsv, CommaSeparatedWithQuotesAndAllColumns) {
    const auto csv = parse_register_csv(
        "name,address,table,type,word_order,scale,offset,unit,description,length,bit,min,max\n"
        "ac_power,100,holding,int32,CDAB,0.1,,kW,\"AC power, positive = export\",2,,-500,500\n"
        "model,300,input,string,,,,,\"Model \"\"name\"\"\",10,,,\n"
        "alarm_overtemp,200,holding,uint16,,,,,,1,3,,\n"
        "running,5,coil,,,,,,,,,,\n"
        "temp,0x20,4,int16,,0.1,-40,degC,,1,,,\n");
    ASSERT_TRUE(csv.errors.empty()) << dump(csv);
    ASSERT_EQ(csv.registers.size(), 5u);
    const auto& p = csv.registers[0];
    EXPECT_EQ(p.name, "ac_power");
    EXPECT_EQ(p.spec.table, ModbusTable::holding_registers);
    EXPECT_EQ(p.spec.address, 100u);
    EXPECT_EQ(p.spec.type, RegisterType::i32);
    EXPECT_EQ(p.spec.order, WordOrder::cdab);
    EXPECT_DOUBLE_EQ(p.spec.factor, 0.1);
    EXPECT_EQ(p.unit, "kW");
    EXPECT_EQ(p.description, "AC power, positive = export");
    EXPECT_EQ(p.minimum, -500);
    EXPECT_EQ(p.maximum, 500);
    EXPECT_EQ(p.line, 2);
    EXPECT_EQ(p.spec.length, 0u);  // only strings keep a length
    EXPECT_EQ(csv.registers[1].description, "Model \"name\"");
    EXPECT_EQ(csv.registers[1].spec.type, RegisterType::string);
    EXPECT_EQ(csv.registers[1].spec.length, 10u);
    EXPECT_EQ(csv.registers[2].spec.bit, 3);
    EXPECT_EQ(csv.registers[3].spec.table, ModbusTable::coils);
    EXPECT_EQ(csv.registers[3].spec.type, RegisterType::boolean);
    EXPECT_EQ(csv.registers[4].spec.address, 0x20u);
    EXPECT_EQ(csv.registers[4].spec.table, ModbusTable::input_registers);
    EXPECT_DOUBLE_EQ(csv.registers[4].spec.offset, -40);
    EXPECT_EQ(csv.find("temp"), &csv.registers[4]);
    EXPECT_EQ(csv.find("nope"), nullptr);
}

TEST(RegisterCsv, SemicolonsBomCrlfCommentsBlankLinesAndDecimalCommas) {
    const auto csv = parse_register_csv(
        "\xEF\xBB\xBF# Vendor X PCS register map, rev 3\r\n"
        "\r\n"
        "Register Name;Start Address;Function Code;Data Type;Byte Order;Scale (x);Unit;Description\r\n"
        "grid_voltage;0x0010;FC04;UINT16;;0,1;V;\"Grid voltage; L1\"\r\n"
        "# a comment between rows\r\n"
        ";;;;;;;\r\n"
        "energy;0x0020;0x03;uint64;DCBA;1;Wh;\"multi\r\nline\"\r\n"
        "mode;40;03/06/16;int16;BA;;;\r\n");
    ASSERT_TRUE(csv.errors.empty()) << dump(csv);
    ASSERT_EQ(csv.registers.size(), 3u);
    EXPECT_EQ(csv.registers[0].name, "grid_voltage");
    EXPECT_EQ(csv.registers[0].line, 4);
    EXPECT_EQ(csv.registers[0].spec.table, ModbusTable::input_registers);
    EXPECT_DOUBLE_EQ(csv.registers[0].spec.factor, 0.1);
    EXPECT_EQ(csv.registers[0].description, "Grid voltage; L1");
    EXPECT_EQ(csv.registers[1].line, 7);
    EXPECT_EQ(csv.registers[1].spec.order, WordOrder::dcba);
    EXPECT_EQ(csv.registers[1].description, "multi\nline");
    EXPECT_EQ(csv.registers[2].line, 9);  // the quoted line break counted
    EXPECT_EQ(csv.registers[2].spec.table, ModbusTable::holding_registers);
    EXPECT_EQ(csv.registers[2].spec.order, WordOrder::badc);
}

TEST(RegisterCsv, TabsDefaultTableAndAddressOffset) {
    RegisterCsvOptions options;
    options.default_table = ModbusTable::holding_registers;
    options.address_offset = -40001;
    const auto csv = parse_register_csv("Tag\tAddr\tType\n"
                                        "a\t40001\tfloat\n"
                                        "b\t40003\tu16\n",
                                        options);
    ASSERT_TRUE(csv.errors.empty()) << dump(csv);
    ASSERT_EQ(csv.registers.size(), 2u);
    EXPECT_EQ(csv.registers[0].spec.address, 0u);
    EXPECT_EQ(csv.registers[0].spec.type, RegisterType::f32);
    EXPECT_EQ(csv.registers[1].spec.address, 2u);
    const auto below = parse_register_csv("name,address\nx,40000\n", options);
    EXPECT_TRUE(has_error(below, 2, "address", "address_offset -40001 is outside 0..65535")) << dump(below);
}

TEST(RegisterCsv, EveryProblemWithItsLineAndColumn) {
    const auto csv = parse_register_csv(
        "name,address,table,type,order,factor,unit,length,bit\n"
        "a,100,holdng,u16,,,,,\n"            // 2: table typo
        "b,70000,holding,u16,,,,,\n"          // 3: address
        "c,101,holding,uint17,,,,,\n"         // 4: type
        "d,102,holding,u32,CBAD,,,,\n"        // 5: order
        "e,103,holding,u16,,x,,,\n"           // 6: factor not a number
        "f,104,holding,string,,,,0,\n"        // 7: string length 0
        "g,105,holding,u16,,,,,16\n"          // 8: bit outside a u16
        "a,106,holding,u16,,,,,\n"            // 9: duplicate name
        ",107,holding,u16,,,,,\n"             // 10: empty name
        "h,65535,holding,u32,,,,,\n"          // 11: runs past 65535
        "i,5,coil,u16,,,,,\n"                 // 12: a coil is a bool
        "j,108,holding,string,,0.1,,4,\n"     // 13: scaled string
        "k,109,holding,u16,,,\"V\"\"\",,\n"   // 14: a quote in the unit
        "l,110,holding,u16,,,,,,extra\n"      // 15: too many cells
        "m,111,holding,string,,,,,\n"         // 16: string without a length
        "n,\"112\n");                         // 17: unclosed quote
    EXPECT_TRUE(has_error(csv, 2, "table", "\"holdng\" is not a table (did you mean \"holding\"?)")) << dump(csv);
    EXPECT_TRUE(has_error(csv, 3, "address", "70000 is outside 0..65535")) << dump(csv);
    EXPECT_TRUE(has_error(csv, 4, "type", "\"uint17\" is not a type (did you mean \"uint16\"?)")) << dump(csv);
    EXPECT_TRUE(has_error(csv, 5, "order", "\"CBAD\" is not a word order")) << dump(csv);
    EXPECT_TRUE(has_error(csv, 6, "factor", "\"x\" is not a number")) << dump(csv);
    EXPECT_TRUE(has_error(csv, 7, "length", "1..125 registers long")) << dump(csv);
    EXPECT_TRUE(has_error(csv, 8, "bit", "bit 16 is outside the 16-bit value (0..15)")) << dump(csv);
    EXPECT_TRUE(has_error(csv, 9, "name", "another register is named \"a\" (line")) << dump(csv);
    EXPECT_TRUE(has_error(csv, 10, "name", "the name is empty")) << dump(csv);
    EXPECT_TRUE(has_error(csv, 11, "address", "runs past 65535")) << dump(csv);
    EXPECT_TRUE(has_error(csv, 12, "type", "its type is bool")) << dump(csv);
    EXPECT_TRUE(has_error(csv, 13, "factor", "a string cannot be scaled")) << dump(csv);
    EXPECT_TRUE(has_error(csv, 14, "unit", "must not contain quotes")) << dump(csv);
    EXPECT_TRUE(has_error(csv, 15, "", "10 cells but the header (line 1) has 9")) << dump(csv);
    EXPECT_TRUE(has_error(csv, 16, "length", "a string needs its length")) << dump(csv);
    EXPECT_TRUE(has_error(csv, 17, "", "never closed")) << dump(csv);
    EXPECT_EQ(csv.errors.size(), 16u) << dump(csv);
    // Rows with problems are left out.
    EXPECT_TRUE(csv.registers.empty());
}

TEST(RegisterCsv, HeaderProblems) {
    const auto none = parse_register_csv("# only a comment\n\n");
    EXPECT_TRUE(has_error(none, 0, "", "no header line")) << dump(none);
    const auto missing = parse_register_csv("label,where\nx,1\n");
    EXPECT_TRUE(has_error(missing, 1, "", "no name column")) << dump(missing);
    EXPECT_TRUE(has_error(missing, 1, "", "no address column")) << dump(missing);
    EXPECT_TRUE(has_error(missing, 1, "", "no table column")) << dump(missing);
    const auto twice = parse_register_csv("name,address,table,scale,factor\n");
    EXPECT_TRUE(has_error(twice, 1, "factor", "a second column for the same thing (also \"scale\")")) << dump(twice);
}

TEST(RegisterCsv, HostileInputIsBoundedAndFast) {
    // NUL bytes: rejected at once with the line.
    const std::string zeros("name,address,table\n\0\0\0", 22);
    const auto z = parse_register_csv(zeros);
    EXPECT_TRUE(has_error(z, 2, "", "NUL byte")) << dump(z);
    // An over-long record is reported and skipped; the next one still reads.
    const std::string long_line = "name,address,table\n" + std::string(10'000, 'x') + "\nok,1,holding\n";
    const auto l = parse_register_csv(long_line);
    EXPECT_TRUE(has_error(l, 2, "", "longer than 4096 bytes")) << dump(l);
    ASSERT_EQ(l.registers.size(), 1u);
    EXPECT_EQ(l.registers[0].line, 3);
    // Too big as a whole.
    const auto big = parse_register_csv(std::string(max_csv_bytes + 1, 'a'));
    EXPECT_TRUE(has_error(big, 0, "", "larger than")) << dump(big);
    // Thousands of bad rows stop at the error limit.
    std::string bad = "name,address,table\n";
    for (int i = 0; i < 10'000; ++i) bad += "x,nope,holding\n";
    const auto b = parse_register_csv(bad);
    EXPECT_EQ(b.errors.size(), max_csv_errors);
    EXPECT_NE(b.errors.back().message.find("too many problems"), std::string::npos);
    // /dev/zero as a register list: refused quickly, not read forever.
    const auto start = std::chrono::steady_clock::now();
    const auto dev = read_register_csv("/dev/zero");
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
    EXPECT_TRUE(has_error(dev, 0, "", "not a regular file")) << dump(dev);
    EXPECT_TRUE(has_error(read_register_csv("/nonexistent/x.csv"), 0, "", "cannot read"));
}

TEST(RegisterCsv, ReadsAFile) {
    const auto path = std::filesystem::temp_directory_path() / "outpost_register_csv_test.csv";
    {
        std::ofstream out(path, std::ios::binary);
        out << "name;address;fc;type\r\nv;0;3;u16\r\n";
    }
    const auto csv = read_register_csv(path.string());
    std::filesystem::remove(path);
    ASSERT_TRUE(csv.errors.empty()) << dump(csv);
    ASSERT_EQ(csv.registers.size(), 1u);
}

TEST(RegisterCsv, TablesTypesAndOrdersAsVendorsWriteThem) {
    for (const auto* t : {"coil", "Coils", "1", "01", "0x01", "FC1", "fc01", "FC 01"}) {
        EXPECT_EQ(parse_table(t), ModbusTable::coils) << t;
    }
    for (const auto* t : {"discrete", "Discrete Input", "discrete_inputs", "2", "FC02", "0x02", "DI"}) {
        EXPECT_EQ(parse_table(t), ModbusTable::discrete_inputs) << t;
    }
    for (const auto* t : {"holding", "Holding Register", "HOLDING_REGISTERS", "3", "0x03", "FC03", "03/06/16", "HR"}) {
        EXPECT_EQ(parse_table(t), ModbusTable::holding_registers) << t;
    }
    for (const auto* t : {"input", "Input Registers", "4", "FC4", "0x04", "IR"}) {
        EXPECT_EQ(parse_table(t), ModbusTable::input_registers) << t;
    }
    for (const auto* t : {"", "0", "5", "FC16", "0x", "fc", "registers"}) EXPECT_FALSE(parse_table(t)) << t;
    EXPECT_EQ(parse_register_type("UINT32"), RegisterType::u32);
    EXPECT_EQ(parse_register_type("int32_t"), RegisterType::i32);
    EXPECT_EQ(parse_register_type("Float"), RegisterType::f32);
    EXPECT_EQ(parse_register_type("LREAL"), RegisterType::f64);
    EXPECT_EQ(parse_register_type("ASCII"), RegisterType::string);
    EXPECT_FALSE(parse_register_type("int128"));
    EXPECT_EQ(parse_word_order("cdab"), WordOrder::cdab);
    EXPECT_EQ(parse_word_order("Little Endian"), WordOrder::dcba);
    EXPECT_EQ(parse_word_order("3412"), WordOrder::cdab);
    EXPECT_EQ(parse_word_order("word swap"), WordOrder::cdab);
    EXPECT_FALSE(parse_word_order("ACBD"));
}
