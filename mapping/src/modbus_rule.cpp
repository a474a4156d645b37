#include "outpost/mapping/modbus_rule.hpp"

#include <algorithm>
#include <tuple>

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
