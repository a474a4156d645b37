// Fuzz target: Modbus transcripts (`outpost decode` input). The whole input is a file: lines go
// through the bounded reader and the sniffer. Any text must be parsed or counted, never crash.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "outpost/ingest/modbus/transcript_parser.hpp"

namespace {
struct NullSink : outpost::ingest::ModbusSink {
    void on_modbus(const outpost::core::ModbusBlock& b) override {
        if (b.data_len > outpost::core::ModbusBlock::max_data) __builtin_trap();
    }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace outpost::ingest;
    TranscriptFrame frame;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    // One line on its own, then the whole input as a file with a small line bound.
    const auto line = parse_transcript_line(text.substr(0, text.find('\n')), frame);
    if (line.kind == TranscriptLineKind::frame && frame.size > TranscriptFrame::max_bytes) __builtin_trap();
    std::istringstream in{std::string(text)};
    RtuSniffer sniffer;
    NullSink sink;
    TranscriptReader reader(in, 200);
    std::uint64_t frames = 0;
    while (reader.next(frame)) {
        ++frames;
        sniffer.feed_frame(frame.timestamp_ns, frame.frame(), frame.direction, sink);
    }
    if (reader.stats().frames != frames) __builtin_trap();
    return 0;
}
