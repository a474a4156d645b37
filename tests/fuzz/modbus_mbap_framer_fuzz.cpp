// Fuzz target: the Modbus TCP (MBAP) framer. The first 6 bytes choose the request; the rest is the
// TCP stream, fed in chunks. Stale answers, bad headers and garbage must all end defined.
#include <cstddef>
#include <cstdint>
#include <span>

#include "outpost/ingest/modbus/mbap_framer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace outpost::ingest;
    if (size < 7) return 0;
    ModbusRead read;
    read.unit = static_cast<std::uint8_t>(1 + data[0] % 247);
    read.table = static_cast<outpost::core::ModbusTable>(1 + data[1] % 4);
    read.address = static_cast<std::uint16_t>(data[2] << 8 | data[3]);
    read.count = static_cast<std::uint16_t>(1 + (data[4] << 8 | data[5]) % modbus_read_limit(read.table));
    if (static_cast<std::uint32_t>(read.address) + read.count > 0x10000u) read.address = 0;
    const std::uint8_t chunk = static_cast<std::uint8_t>(1 + data[6] % 32);
    std::span<const std::uint8_t> rest(data + 7, size - 7);
    MbapFramer framer;
    framer.set_next_transaction_id(static_cast<std::uint16_t>(data[0] << 8 | data[6]));
    for (int round = 0; round < 4 && !rest.empty(); ++round) {
        framer.begin(read);
        while (!rest.empty() && !framer.complete()) {
            const std::size_t n = rest.size() < chunk ? rest.size() : chunk;
            const std::size_t used = framer.feed(rest.first(n));
            if (used > n || framer.received() > MbapFramer::max_adu) __builtin_trap();
            rest = rest.subspan(used == 0 ? n : used);
        }
        const auto r = framer.complete() ? framer.result() : framer.expire();
        if (r.outcome == ModbusOutcome::ok && r.data.size() != modbus_data_bytes(read.table, read.count)) __builtin_trap();
        if (r.desync) framer = MbapFramer{};  // the shell reconnects
    }
    return 0;
}
