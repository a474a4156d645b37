#pragma once
// Text captures of Modbus RTU traffic for `outpost decode` and fixtures, one frame a line:
//   (1700000000.123456) 01 03 00 00 00 02 C4 0B        request or response, found by the sniffer
//   (1700000000.125000) rx 01030400640032 BA1C          hex with or without spaces
//   (1700000000.125000) tx 01 03 00 00 00 02 C4 0B      tx = the master's request, rx = the response
//   # a comment                                          blank lines and comments are skipped
// Frames are RTU frames with their CRC. parse_transcript_line() is Sans-I/O; TranscriptReader
// reads lines from a stream with a bounded buffer (an endless line or file never grows memory)
// and counts malformed lines with their line numbers. Not shared.
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <istream>
#include <memory>
#include <span>
#include <string_view>

#include "outpost/ingest/modbus/rtu_sniffer.hpp"

namespace outpost::ingest {

struct TranscriptFrame {
    static constexpr std::size_t max_bytes = 256;  // the largest RTU frame
    std::int64_t timestamp_ns = 0;
    FrameDirection direction = FrameDirection::unknown;
    std::array<std::uint8_t, max_bytes> bytes{};
    std::size_t size = 0;

    std::span<const std::uint8_t> frame() const noexcept { return {bytes.data(), size}; }
};

enum class TranscriptLineKind : std::uint8_t { frame, blank, malformed };

struct TranscriptLine {
    TranscriptLineKind kind = TranscriptLineKind::malformed;
    const char* error = nullptr;  // static text, when malformed
};

// Parses one line (without its newline) into `frame`. Never throws; any input is safe.
TranscriptLine parse_transcript_line(std::string_view line, TranscriptFrame& frame) noexcept;

struct TranscriptStats {
    std::uint64_t lines = 0;
    std::uint64_t frames = 0;
    std::uint64_t malformed = 0;  // too-long lines included
    std::uint64_t too_long = 0;
};

class TranscriptReader {
public:
    // Called for each malformed line with its 1-based number and what is wrong.
    using MalformedHandler = std::function<void(std::uint64_t line, const char* error)>;

    explicit TranscriptReader(std::istream& in, std::size_t max_line = 4096, MalformedHandler on_malformed = {});

    // The next frame; false at the end of the stream. Never throws on bad input.
    bool next(TranscriptFrame& frame);
    const TranscriptStats& stats() const noexcept { return stats_; }

private:
    std::istream& in_;
    std::size_t max_line_;
    std::unique_ptr<char[]> line_;
    MalformedHandler on_malformed_;
    TranscriptStats stats_;
};

// Reads a whole transcript through `sniffer` into `sink`: each frame is fed as a frame with its
// timestamp and direction. Returns the reader's counters.
TranscriptStats replay_transcript(std::istream& in, RtuSniffer& sniffer, ModbusSink& sink,
                                  TranscriptReader::MalformedHandler on_malformed = {});

}  // namespace outpost::ingest
