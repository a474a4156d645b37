// Fuzz target: a whole CSV register list. Problems are reported, never thrown; what is kept is
// bounded and every register kept passes its own checks and lies inside the address space.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "outpost/mapping/register_csv.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace outpost::mapping;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    RegisterCsvOptions options;
    // The first byte, when there is one, picks the options: both paths get fuzzed.
    if (size > 0 && (data[0] & 1U)) options.default_table = outpost::core::ModbusTable::holding_registers;
    if (size > 0 && (data[0] & 2U)) options.address_offset = -1;
    const auto csv = parse_register_csv(text, options);
    if (csv.errors.size() > max_csv_errors) __builtin_trap();
    for (const auto& r : csv.registers) {
        if (r.name.empty() || !check_register_spec(r.spec).empty()) __builtin_trap();
        if (std::uint32_t{r.spec.address} + register_count(r.spec) > 65536) __builtin_trap();
        if (r.line < 1) __builtin_trap();
    }
    return 0;
}
