#pragma once
// The typed form of a mapping's "modbus" section: devices (a unit id on a bus, with the polling
// parameters the ingest side builds its poll plan from) and their registers (where a value sits,
// how it is encoded, and where its readings go). Filled by load_mapping_file(); the ModbusMapper
// turns core::ModbusBlocks into messages with it.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "outpost/core/modbus_block.hpp"
#include "outpost/mapping/rate_control.hpp"

namespace outpost::mapping {

// How a value is encoded in its registers (or, for bool in a bit table, its one bit).
enum class RegisterType : std::uint8_t { boolean, u16, i16, u32, i32, u64, i64, f32, f64, string };

// Byte and word order of a multi-register value, named by where the bytes A (most significant)
// .. D (least) of a 32-bit value travel on the wire, generalised to 64 bits:
//   abcd  big-endian (Modbus' own order)            wire: A B C D          (default)
//   cdab  word swap: low word first, bytes big      wire: C D A B
//   badc  byte swap inside each word, words big     wire: B A D C
//   dcba  little-endian                             wire: D C B A
// For 16-bit values only the byte swap matters (badc, dcba). For strings abcd means the first
// character is the register's high byte and badc the low byte.
enum class WordOrder : std::uint8_t { abcd, cdab, badc, dcba };

// Where a value sits and how it decodes. Addresses are 0-based protocol addresses.
struct RegisterSpec {
    core::ModbusTable table = core::ModbusTable::holding_registers;
    std::uint16_t address = 0;
    RegisterType type = RegisterType::u16;
    WordOrder order = WordOrder::abcd;
    // A single bit of an integer register value (0 = least significant) read as 0/1; -1 for none.
    // Always -1 in bit tables (the value is the bit itself).
    std::int8_t bit = -1;
    std::uint16_t length = 0;  // registers of a string (1..125); unused for other types
    double factor = 1.0;
    double offset = 0.0;
};

// Registers (or bits, in coils and discrete inputs) a value occupies: 1 for a bit, 1/2/4 for
// numbers, `length` for strings.
std::uint16_t register_count(const RegisterSpec& spec) noexcept;
// Bits of the integer value for a type (16/32/64; 0 for floats and strings).
unsigned integer_bits(RegisterType type) noexcept;

struct RegisterRule {
    std::string name;
    RegisterSpec spec;
    std::string unit;
    std::string description;  // from a CSV register list, for people (decode, docs); never published
    std::string topic;        // rendered from the template at load time
    int decimals = -1;        // digits after the point in payloads; -1 = shortest exact form
    std::uint8_t priority = 5;
    std::uint8_t qos = 1;
    bool retain = false;
    std::optional<double> minimum;  // readings outside are dropped and counted (not for strings)
    std::optional<double> maximum;
    std::map<std::int64_t, std::string> value_names;  // value table: adds "text" to the payload
    RateControl rate;  // for strings a deadband means "only when the text changed"
    std::int64_t poll_ms = 1000;  // how often the ingest side should read it
};

// One Modbus device: a unit id on a bus, how to talk to it, and its registers.
struct ModbusDeviceRule {
    std::string name;
    std::uint16_t bus = 0;   // index of the bus in site-config order
    std::uint8_t unit = 1;   // unit id: 1..247, or 255 (common for Modbus TCP)
    // Polling parameters for the ingest side; the mapping only checks and carries them.
    std::int64_t response_timeout_ms = 1000;  // 10..60000
    std::uint16_t max_registers = 125;        // per read request, 1..125 (some devices answer fewer)
    std::uint16_t max_bits = 2000;            // per read request, 1..2000
    std::uint16_t max_gap = 8;                // unused registers a request may read across (allow_gaps)
    std::uint16_t max_gap_bits = 64;          // unused coils / discrete inputs likewise
    bool allow_gaps = false;                  // the device answers reads of unmapped addresses
    int retries = 1;                          // 0..10 after a timeout or CRC error
    std::int64_t poll_ms = 1000;              // default poll period of its registers
    std::vector<RegisterRule> registers;
};

// One value the ingest side must read: a register's (or bit's) range and how often. Ranges of
// bit fields of the same register are merged (the shortest period wins).
struct ModbusPollRange {
    core::ModbusTable table = core::ModbusTable::holding_registers;
    std::uint16_t address = 0;
    std::uint16_t count = 1;  // registers, or bits in bit tables; never more than one request holds
    std::int64_t poll_ms = 1000;
};

// The ranges `device` needs read, sorted by table, address and count: the input of a poll planner,
// which groups them by period and coalesces them within max_registers / max_bits / max_gap. A
// value never spans two requests, so each range fits in one. Allocates only the result.
std::vector<ModbusPollRange> wanted_ranges(const ModbusDeviceRule& device);

// A problem with a register's spec on its own (before any device limit): the field it is about
// ("address", "type", "word_order", "bit", "length", "factor", "offset") and what is wrong.
struct RegisterSpecProblem {
    const char* field = "";
    std::string message;
};
// Every problem of `spec`: a type that does not fit the table, a bit outside the value, a string
// length outside 1..125, a value running past address 65535, a string with a scale, a factor of 0.
std::vector<RegisterSpecProblem> check_register_spec(const RegisterSpec& spec);

// Text as people write it (case, '_', '-' and spaces ignored) to a table, type or word order:
//   table: coil(s), discrete(_input(s)), holding(_register(s)), input(_register(s)), hr, ir, di,
//          function codes 1..4 as "3", "03", "0x03", "FC3", "FC03" (a list such as "03/16": its first)
//   type:  bool/bit, u16/uint16/word, i16/int16/int, u32/uint32/dword, i32/int32/dint, u64/uint64,
//          i64/int64, f32/float/real, f64/double/lreal, string/str/ascii
//   order: ABCD/CDAB/BADC/DCBA, 1234/3412/2143/4321, big/little, AB/BA, word_swap, byte_swap
std::optional<core::ModbusTable> parse_table(std::string_view text);
std::optional<RegisterType> parse_register_type(std::string_view text);
std::optional<WordOrder> parse_word_order(std::string_view text);
// Messages such as: "holdng" is not a table (did you mean "holding"?); use coil, discrete, ...
std::string unknown_table_message(std::string_view text);
std::string unknown_type_message(std::string_view text);
std::string unknown_word_order_message(std::string_view text);

// Names for messages and logs: "holding", "input", "coil", "discrete"; "u16", ...; "ABCD", ...
const char* table_name(core::ModbusTable table) noexcept;
const char* type_name(RegisterType type) noexcept;
const char* word_order_name(WordOrder order) noexcept;

}  // namespace outpost::mapping
