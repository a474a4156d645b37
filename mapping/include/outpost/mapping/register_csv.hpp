#pragma once
// A vendor's Modbus register list as it ships, in CSV (Sans-I/O apart from read_register_csv(),
// never throws on content):
//
//   # comment lines and blank lines are skipped; a UTF-8 BOM and CRLF line ends are fine
//   Name;Address;Function;Type;Word order;Scale;Unit;Description
//   ac_power;100;FC03;int32;CDAB;0,1;kW;"AC power; positive = export"
//
// The first other line is the header; it names the columns (case, spaces, '-' and '_' ignored,
// anything from '(' or '[' on ignored: "Scale (x)" is "scale"). Columns, with their aliases:
//   name         name, register_name, tag, signal, variable, parameter, point
//   address      address, addr, register_address, start, start_address, reg, register, register_number
//   table        table, function, function_code, fc, area, object_type, register_type, access_type
//   type         type, data_type, datatype, format, value_type
//   word_order   word_order, byte_order, order, endianness, endian, swap
//   factor       factor, scale, scaling, gain, multiplier, resolution
//   offset       offset
//   unit         unit, units, uom, eng_unit
//   description  description, desc, comment, comments, remark, remarks, info
//   length       length, len, size, registers, count, words, quantity
//   bit          bit, bit_index, bitmask_bit
//   min, max     min, minimum; max, maximum
// name and address are required, table too unless the import gives a default one; other columns
// the parser does not know are ignored. Cells are separated by ',', ';' or a tab (whichever the
// header has most of); quoted cells may hold separators, line breaks and doubled quotes. With ';'
// or tab separators a decimal comma ("0,1") reads as a point. Values as in parse_table(),
// parse_register_type() and parse_word_order(); addresses in decimal or 0x-hex.
//
// Hostile input is bounded: at most max_csv_bytes, records of at most max_csv_record_bytes, at
// most max_csv_errors problems before the parse stops; NUL bytes reject the file.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "outpost/core/bounded_read.hpp"
#include "outpost/mapping/modbus_rule.hpp"

namespace outpost::mapping {

constexpr std::size_t max_csv_bytes = core::limits::csv_file.bytes;
constexpr std::size_t max_csv_record_bytes = 4096;
constexpr std::size_t max_csv_errors = 100;

struct CsvRegister {
    std::string name;
    RegisterSpec spec;  // table, address, type, order, bit, length, factor, offset
    std::string unit;
    std::string description;
    std::optional<double> minimum;
    std::optional<double> maximum;
    int line = 0;  // where its record starts (1-based)
};

struct CsvError {
    int line = 0;        // 1-based; 0 for the file as a whole
    std::string column;  // the header's name of the column, or empty
    std::string message;
};

struct RegisterCsv {
    std::vector<CsvRegister> registers;  // rows with problems are left out
    std::vector<CsvError> errors;

    const CsvRegister* find(std::string_view name) const;
};

struct RegisterCsvOptions {
    std::optional<core::ModbusTable> default_table;  // for lists without a table column or with empty cells
    std::int64_t address_offset = 0;  // added to every address: -1 for 1-based lists, -40001 for 4xxxx
};

// Parses a whole register list; each problem names its line (and column). Also reports duplicate
// names and every check_register_spec() problem of a row.
RegisterCsv parse_register_csv(std::string_view text, const RegisterCsvOptions& options = {});

// Reads `path` with core::read_file_bounded (at most max_csv_bytes; a larger file, a directory, a
// device such as /dev/zero, a FIFO are rejected before anything is read, with an error at line 0)
// and parses it.
RegisterCsv read_register_csv(const std::string& path, const RegisterCsvOptions& options = {});

}  // namespace outpost::mapping
