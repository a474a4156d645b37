// Fuzz target: a whole DBC file. Errors are reported, never thrown; every signal kept fits its message.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "outpost/mapping/dbc.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto dbc = outpost::mapping::parse_dbc({reinterpret_cast<const char*>(data), size});
    for (const auto& m : dbc.messages) {
        for (const auto& s : m.signals) {
            if (outpost::mapping::bytes_needed(s.spec) > m.length) __builtin_trap();
        }
    }
    return 0;
}
