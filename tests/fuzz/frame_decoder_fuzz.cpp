// Fuzz target: the frame decoder. The first bytes choose a signal layout (start bit, length, byte
// order, type) and a frame id; the rest is the frame's data. The signal decoder and the mapper
// (multiplexing, masks, value tables, rate control) must handle any frame without crashing.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "outpost/mapping/mapper.hpp"

using namespace outpost::mapping;

namespace {

Mapper make_mapper() {
    Mapping m;
    CanMessageRule mux{"mux", 0x310, false, 0, std::nullopt, {}};
    SignalRule selector;
    selector.name = "sel";
    selector.spec = {0, 8, ByteOrder::intel, ValueType::unsigned_int, 1, 0};
    selector.multiplex = Multiplex::multiplexor;
    SignalRule a;
    a.name = "a";
    a.topic = "t/a";
    a.spec = {13, 19, ByteOrder::motorola, ValueType::signed_int, 0.25, -3};
    a.multiplex = Multiplex::multiplexed;
    a.mux_value = 3;
    a.value_names = {{0, "zero"}, {-3, "low"}};
    a.rate = {.min_interval_ms = 5, .deadband_percent = 1, .heartbeat_ms = 100};
    SignalRule f;
    f.name = "f";
    f.topic = "t/f";
    f.spec = {32, 32, ByteOrder::intel, ValueType::ieee_float, 1, 0};
    f.minimum = -1e6;
    f.maximum = 1e6;
    mux.signals = {selector, a, f};
    CanMessageRule pgn{"pgn", 0x18FEF100, true, 0x03FFFF00, std::nullopt, {}};
    SignalRule d;
    d.name = "d";
    d.topic = "t/d";
    d.spec = {0, 64, ByteOrder::motorola, ValueType::ieee_double, 1, 0};
    pgn.signals = {d};
    m.can = {mux, pgn};
    return Mapper(m);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 6) return 0;
    SignalSpec spec;
    spec.start_bit = static_cast<std::uint16_t>((data[0] | (data[1] << 8)) % 512);
    spec.length = static_cast<std::uint16_t>(data[2] % 66);  // 0 and 65 are invalid on purpose
    spec.byte_order = (data[3] & 1) ? ByteOrder::motorola : ByteOrder::intel;
    spec.type = static_cast<ValueType>((data[3] >> 1) % 4);
    spec.factor = (data[3] & 0x10) ? 0.1 : 1.0;
    outpost::core::CanFrame frame;
    frame.extended = data[4] & 1;
    frame.id = frame.extended ? (0x18FEF100u | data[5]) : 0x310u;
    frame.fd = size - 6 > 8;
    frame.len = static_cast<std::uint8_t>(std::min<std::size_t>(size - 6, 64));
    std::copy(data + 6, data + 6 + frame.len, frame.data.begin());
    frame.timestamp_ns = static_cast<std::int64_t>(data[0]) * 1'000'000;
    if (const auto v = decode_signal(spec, frame.bytes()); v && bytes_needed(spec) > frame.len) __builtin_trap();
    static Mapper mapper = make_mapper();
    std::vector<outpost::core::Message> out;
    std::vector<Reading> readings;
    mapper.map(frame, out, &readings);
    return 0;
}
