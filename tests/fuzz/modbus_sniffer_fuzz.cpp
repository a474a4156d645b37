// Fuzz target: the listen-only sniffer. The input is a byte stream cut into chunks with
// timestamps (each chunk: one byte of mode and length, one byte of time step, then the bytes).
// Every block it hands on must be a consistent read.
#include <cstddef>
#include <cstdint>
#include <span>

#include "outpost/ingest/modbus/pdu.hpp"
#include "outpost/ingest/modbus/rtu_sniffer.hpp"

namespace {
struct CheckSink : outpost::ingest::ModbusSink {
    void on_modbus(const outpost::core::ModbusBlock& b) override {
        using namespace outpost::ingest;
        ModbusRead r{b.unit, b.table, b.address, b.count};
        if (!is_valid(r) || b.data_len != modbus_data_bytes(b.table, b.count)) __builtin_trap();
    }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace outpost::ingest;
    RtuSniffer sniffer({1, 1'750'000, 50'000'000});
    CheckSink sink;
    std::int64_t now = 1'000'000'000;
    std::span<const std::uint8_t> in(data, size);
    while (in.size() >= 2) {
        const std::uint8_t mode = in[0];
        const std::size_t n = mode % 64;
        now += static_cast<std::int64_t>(in[1]) * 100'000;  // 0..25.5 ms
        in = in.subspan(2);
        const std::size_t take = n < in.size() ? n : in.size();
        if (mode & 0x80) {
            sniffer.feed_frame(now, in.first(take), static_cast<FrameDirection>((mode >> 6) % 3), sink);
        } else {
            sniffer.feed(now, in.first(take), sink);
        }
        in = in.subspan(take);
        sniffer.idle(now + 1'000'000, sink);
    }
    return 0;
}
