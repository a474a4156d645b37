#include "outpost/mapping/modbus_rule.hpp"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <utility>

#include "rule_settings.hpp"

namespace outpost::mapping {

unsigned integer_bits(RegisterType type) noexcept {
    switch (type) {
        case RegisterType::boolean:
        case RegisterType::u16:
        case RegisterType::i16: return 16;
        case RegisterType::u32:
        case RegisterType::i32: return 32;
        case RegisterType::u64:
        case RegisterType::i64: return 64;
        case RegisterType::f32:
        case RegisterType::f64:
        case RegisterType::string: return 0;
    }
    return 0;
}

std::uint16_t register_count(const RegisterSpec& spec) noexcept {
    if (core::is_bit_table(spec.table)) return 1;
    switch (spec.type) {
        case RegisterType::boolean:
        case RegisterType::u16:
        case RegisterType::i16: return 1;
        case RegisterType::u32:
        case RegisterType::i32:
        case RegisterType::f32: return 2;
        case RegisterType::u64:
        case RegisterType::i64:
        case RegisterType::f64: return 4;
        case RegisterType::string: return spec.length;
    }
    return 1;
}

std::vector<ModbusPollRange> wanted_ranges(const ModbusDeviceRule& device) {
    std::vector<ModbusPollRange> ranges;
    ranges.reserve(device.registers.size());
    for (const auto& r : device.registers) {
        ranges.push_back({r.spec.table, r.spec.address, register_count(r.spec), r.poll_ms});
    }
    std::sort(ranges.begin(), ranges.end(), [](const ModbusPollRange& a, const ModbusPollRange& b) {
        return std::tie(a.table, a.address, a.count, a.poll_ms) < std::tie(b.table, b.address, b.count, b.poll_ms);
    });
    // Identical ranges (bit fields of one register) are read once, as often as the most eager.
    std::vector<ModbusPollRange> merged;
    merged.reserve(ranges.size());
    for (const auto& r : ranges) {
        if (!merged.empty() && merged.back().table == r.table && merged.back().address == r.address &&
            merged.back().count == r.count) {
            merged.back().poll_ms = std::min(merged.back().poll_ms, r.poll_ms);
        } else {
            merged.push_back(r);
        }
    }
    return merged;
}

namespace {

// Lower case without '_', '-', ' ' and tabs: "Holding_Registers" and "holding registers" alike.
std::string normalise(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        if (c == '_' || c == '-' || c == ' ' || c == '\t') continue;
        out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    return out;
}

template <typename T, std::size_t N>
std::optional<T> lookup(const std::pair<std::string_view, T> (&table)[N], std::string_view key) {
    for (const auto& [k, v] : table) {
        if (k == key) return v;
    }
    return std::nullopt;
}

using core::ModbusTable;
constexpr std::pair<std::string_view, ModbusTable> table_names[] = {
    {"coil", ModbusTable::coils}, {"coils", ModbusTable::coils}, {"c", ModbusTable::coils},
    {"readcoils", ModbusTable::coils}, {"discrete", ModbusTable::discrete_inputs},
    {"discreteinput", ModbusTable::discrete_inputs}, {"discreteinputs", ModbusTable::discrete_inputs},
    {"di", ModbusTable::discrete_inputs}, {"inputstatus", ModbusTable::discrete_inputs},
    {"holding", ModbusTable::holding_registers}, {"holdingregister", ModbusTable::holding_registers},
    {"holdingregisters", ModbusTable::holding_registers}, {"hr", ModbusTable::holding_registers},
    {"input", ModbusTable::input_registers}, {"inputregister", ModbusTable::input_registers},
    {"inputregisters", ModbusTable::input_registers}, {"ir", ModbusTable::input_registers},
};

constexpr std::pair<std::string_view, RegisterType> type_names[] = {
    {"bool", RegisterType::boolean}, {"boolean", RegisterType::boolean}, {"bit", RegisterType::boolean},
    {"u16", RegisterType::u16}, {"uint16", RegisterType::u16}, {"uint16t", RegisterType::u16},
    {"uint", RegisterType::u16}, {"word", RegisterType::u16}, {"ushort", RegisterType::u16},
    {"unsigned", RegisterType::u16}, {"unsigned16", RegisterType::u16},
    {"i16", RegisterType::i16}, {"int16", RegisterType::i16}, {"int16t", RegisterType::i16},
    {"int", RegisterType::i16}, {"short", RegisterType::i16}, {"signed", RegisterType::i16},
    {"signed16", RegisterType::i16}, {"sint16", RegisterType::i16},
    {"u32", RegisterType::u32}, {"uint32", RegisterType::u32}, {"uint32t", RegisterType::u32},
    {"udint", RegisterType::u32}, {"dword", RegisterType::u32}, {"ulong", RegisterType::u32},
    {"unsigned32", RegisterType::u32},
    {"i32", RegisterType::i32}, {"int32", RegisterType::i32}, {"int32t", RegisterType::i32},
    {"dint", RegisterType::i32}, {"long", RegisterType::i32}, {"signed32", RegisterType::i32},
    {"sint32", RegisterType::i32},
    {"u64", RegisterType::u64}, {"uint64", RegisterType::u64}, {"uint64t", RegisterType::u64},
    {"ulint", RegisterType::u64}, {"lword", RegisterType::u64}, {"unsigned64", RegisterType::u64},
    {"i64", RegisterType::i64}, {"int64", RegisterType::i64}, {"int64t", RegisterType::i64},
    {"lint", RegisterType::i64}, {"signed64", RegisterType::i64}, {"sint64", RegisterType::i64},
    {"f32", RegisterType::f32}, {"float", RegisterType::f32}, {"float32", RegisterType::f32},
    {"real", RegisterType::f32}, {"single", RegisterType::f32}, {"ieee754", RegisterType::f32},
    {"f64", RegisterType::f64}, {"double", RegisterType::f64}, {"float64", RegisterType::f64},
    {"lreal", RegisterType::f64},
    {"string", RegisterType::string}, {"str", RegisterType::string}, {"ascii", RegisterType::string},
    {"char", RegisterType::string}, {"chars", RegisterType::string}, {"text", RegisterType::string},
};

constexpr std::pair<std::string_view, WordOrder> order_names[] = {
    {"abcd", WordOrder::abcd}, {"cdab", WordOrder::cdab}, {"badc", WordOrder::badc}, {"dcba", WordOrder::dcba},
    {"1234", WordOrder::abcd}, {"3412", WordOrder::cdab}, {"2143", WordOrder::badc}, {"4321", WordOrder::dcba},
    {"ab", WordOrder::abcd}, {"ba", WordOrder::badc}, {"12", WordOrder::abcd}, {"21", WordOrder::badc},
    {"big", WordOrder::abcd}, {"bigendian", WordOrder::abcd}, {"be", WordOrder::abcd},
    {"little", WordOrder::dcba}, {"littleendian", WordOrder::dcba}, {"le", WordOrder::dcba},
    {"wordswap", WordOrder::cdab}, {"swapped", WordOrder::cdab}, {"lowwordfirst", WordOrder::cdab},
    {"byteswap", WordOrder::badc},
};

}  // namespace

std::optional<core::ModbusTable> parse_table(std::string_view text) {
    // A list of function codes ("03/06/16"): the first is the one that reads.
    const auto cut = text.find_first_of("/,;|");
    auto key = normalise(text.substr(0, cut));
    if (auto t = lookup(table_names, key)) return t;
    if (key.size() > 2 && key.compare(0, 2, "fc") == 0) key.erase(0, 2);
    else if (key.size() > 2 && key.compare(0, 2, "0x") == 0) key.erase(0, 2);
    while (key.size() > 1 && key[0] == '0') key.erase(0, 1);
    if (key.size() == 1 && key[0] >= '1' && key[0] <= '4') return static_cast<core::ModbusTable>(key[0] - '0');
    return std::nullopt;
}

std::optional<RegisterType> parse_register_type(std::string_view text) {
    return lookup(type_names, normalise(text));
}

std::optional<WordOrder> parse_word_order(std::string_view text) {
    return lookup(order_names, normalise(text));
}

std::string unknown_table_message(std::string_view text) {
    const auto hint = closest(normalise(text), {"coil", "discrete", "holding", "input"});
    return "\"" + std::string(text) + "\" is not a table" + (hint.empty() ? "" : " (did you mean \"" + hint + "\"?)") +
           "; use coil, discrete, holding or input (or function code 1..4)";
}

std::string unknown_type_message(std::string_view text) {
    const auto hint =
        closest(normalise(text), {"bool", "u16", "i16", "u32", "i32", "u64", "i64", "f32", "f64", "string",
                                  "uint16", "int16", "uint32", "int32", "uint64", "int64", "float", "double"});
    return "\"" + std::string(text) + "\" is not a type" + (hint.empty() ? "" : " (did you mean \"" + hint + "\"?)") +
           "; use bool, u16, i16, u32, i32, u64, i64, f32, f64 or string";
}

std::string unknown_word_order_message(std::string_view text) {
    std::string upper;
    for (const char c : normalise(text)) upper += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    const auto hint = closest(upper, {"ABCD", "CDAB", "BADC", "DCBA"});
    return "\"" + std::string(text) + "\" is not a word order" +
           (hint.empty() ? "" : " (did you mean \"" + hint + "\"?)") + "; use ABCD, CDAB, BADC or DCBA";
}

std::vector<RegisterSpecProblem> check_register_spec(const RegisterSpec& spec) {
    std::vector<RegisterSpecProblem> problems;
    const bool bits = core::is_bit_table(spec.table);
    if (bits) {
        if (spec.type != RegisterType::boolean) {
            problems.push_back({"type", std::string("a ") + table_name(spec.table) +
                                            " is a single bit: its type is bool, not " + type_name(spec.type)});
        }
        if (spec.bit >= 0) problems.push_back({"bit", std::string("a ") + table_name(spec.table) + " has no bits to pick"});
    } else {
        const unsigned width = integer_bits(spec.type);
        if (spec.type == RegisterType::boolean && spec.bit < 0) {
            problems.push_back({"bit", "a bool in a register needs \"bit\" (0..15)"});
        }
        if (spec.bit >= 0 && width == 0) {
            problems.push_back({"bit", std::string("a ") + type_name(spec.type) + " has no bits to pick; use an integer type"});
        } else if (spec.bit >= 0 && static_cast<unsigned>(spec.bit) >= width) {
            problems.push_back({"bit", "bit " + std::to_string(spec.bit) + " is outside the " + std::to_string(width) +
                                           "-bit value (0.." + std::to_string(width - 1) + ")"});
        }
    }
    if (spec.type == RegisterType::string) {
        if (spec.length == 0 || spec.length > 125) {
            problems.push_back({"length", "a string is 1..125 registers long (2 characters each), not " +
                                              std::to_string(spec.length)});
        }
        if (spec.order == WordOrder::cdab || spec.order == WordOrder::dcba) {
            problems.push_back({"word_order", "a string's byte order is ABCD (high byte first) or BADC (low byte first)"});
        }
        if (spec.factor != 1.0) problems.push_back({"factor", "a string cannot be scaled"});
        if (spec.offset != 0.0) problems.push_back({"offset", "a string cannot be scaled"});
    } else {
        if (spec.length != 0) {
            problems.push_back({"length", "only strings have a length (a " + std::string(type_name(spec.type)) +
                                              " is " + std::to_string(register_count(spec)) + " register(s))"});
        }
        if (spec.factor == 0 || !std::isfinite(spec.factor)) {
            problems.push_back({"factor", "must be a finite number other than 0"});
        }
        if (!std::isfinite(spec.offset)) problems.push_back({"offset", "must be a finite number"});
    }
    const std::uint32_t end = std::uint32_t{spec.address} + register_count(spec);
    if (end > 65536) {
        problems.push_back({"address", "the value at " + std::to_string(spec.address) + " needs " +
                                           std::to_string(register_count(spec)) + " registers and runs past 65535"});
    }
    return problems;
}

const char* table_name(core::ModbusTable table) noexcept {
    switch (table) {
        case core::ModbusTable::coils: return "coil";
        case core::ModbusTable::discrete_inputs: return "discrete";
        case core::ModbusTable::holding_registers: return "holding";
        case core::ModbusTable::input_registers: return "input";
    }
    return "?";
}

const char* type_name(RegisterType type) noexcept {
    switch (type) {
        case RegisterType::boolean: return "bool";
        case RegisterType::u16: return "u16";
        case RegisterType::i16: return "i16";
        case RegisterType::u32: return "u32";
        case RegisterType::i32: return "i32";
        case RegisterType::u64: return "u64";
        case RegisterType::i64: return "i64";
        case RegisterType::f32: return "f32";
        case RegisterType::f64: return "f64";
        case RegisterType::string: return "string";
    }
    return "?";
}

const char* word_order_name(WordOrder order) noexcept {
    switch (order) {
        case WordOrder::abcd: return "ABCD";
        case WordOrder::cdab: return "CDAB";
        case WordOrder::badc: return "BADC";
        case WordOrder::dcba: return "DCBA";
    }
    return "?";
}

}  // namespace outpost::mapping
