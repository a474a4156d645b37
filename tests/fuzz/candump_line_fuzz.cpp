// Fuzz target: one line of a candump log. Any input must parse or be rejected, never crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "outpost/ingest/candump_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    outpost::core::CanFrame frame;
    const auto r = outpost::ingest::parse_candump_line({reinterpret_cast<const char*>(data), size}, frame);
    if (r.kind == outpost::ingest::CandumpLineKind::frame && frame.len > outpost::core::CanFrame::max_data) __builtin_trap();
    return 0;
}
