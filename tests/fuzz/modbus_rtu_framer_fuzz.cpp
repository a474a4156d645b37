// Fuzz target: the RTU master's framer. The first 6 bytes choose the request (unit, function,
// address, count); the rest arrive as the response, in chunks whose sizes the input also picks.
// Any input must end in a defined outcome, never read or write out of bounds.
#include <cstddef>
#include <cstdint>
#include <span>

#include "outpost/ingest/modbus/rtu_framer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace outpost::ingest;
    if (size < 7) return 0;
    ModbusRead read;
    read.unit = static_cast<std::uint8_t>(1 + data[0] % 247);
    read.table = static_cast<outpost::core::ModbusTable>(1 + data[1] % 4);
    read.address = static_cast<std::uint16_t>(data[2] << 8 | data[3]);
    read.count = static_cast<std::uint16_t>(1 + (data[4] << 8 | data[5]) % modbus_read_limit(read.table));
    if (static_cast<std::uint32_t>(read.address) + read.count > 0x10000u) read.address = 0;
    const std::uint8_t chunk = static_cast<std::uint8_t>(1 + data[6] % 16);
    std::span<const std::uint8_t> rest(data + 7, size - 7);
    RtuFramer framer;
    for (int round = 0; round < 4 && !rest.empty(); ++round) {
        const auto request = framer.begin(read);
        if (request.size() != RtuFramer::request_size) __builtin_trap();
        while (!rest.empty() && !framer.complete()) {
            const std::size_t n = rest.size() < chunk ? rest.size() : chunk;
            const std::size_t used = framer.feed(rest.first(n));
            if (used > n || framer.received() > RtuFramer::max_adu) __builtin_trap();
            rest = rest.subspan(used == 0 ? n : used);
        }
        const auto r = framer.complete() ? framer.result() : framer.expire();
        if (r.outcome == ModbusOutcome::ok && r.data.size() != modbus_data_bytes(read.table, read.count)) __builtin_trap();
    }
    return 0;
}
