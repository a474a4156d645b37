#include "outpost/ingest/modbus/transcript_parser.hpp"

#include <limits>

namespace outpost::ingest {

namespace {
int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\r'; }
std::string_view trim_left(std::string_view s) noexcept {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    return s;
}

// "(seconds.fraction)": seconds up to the year 2255, up to 9 digits of fraction.
constexpr std::int64_t max_seconds = 9'000'000'000;
bool parse_timestamp(std::string_view& s, std::int64_t& ns) noexcept {
    if (s.empty() || s.front() != '(') return false;
    s.remove_prefix(1);
    std::int64_t seconds = 0;
    int digits = 0;
    while (!s.empty() && s.front() >= '0' && s.front() <= '9') {
        if (++digits > 12) return false;
        seconds = seconds * 10 + (s.front() - '0');
        s.remove_prefix(1);
    }
    if (digits == 0) return false;
    std::int64_t fraction = 0;
    int fraction_digits = 0;
    if (!s.empty() && s.front() == '.') {
        s.remove_prefix(1);
        while (!s.empty() && s.front() >= '0' && s.front() <= '9') {
            if (++fraction_digits > 9) return false;
            fraction = fraction * 10 + (s.front() - '0');
            s.remove_prefix(1);
        }
        if (fraction_digits == 0) return false;
    }
    if (s.empty() || s.front() != ')') return false;
    s.remove_prefix(1);
    if (seconds > max_seconds) return false;  // nanoseconds since 1970 must fit in 64 bits
    for (int i = fraction_digits; i < 9; ++i) fraction *= 10;
    ns = seconds * 1'000'000'000 + fraction;
    return true;
}
}  // namespace

TranscriptLine parse_transcript_line(std::string_view line, TranscriptFrame& frame) noexcept {
    TranscriptLine r;
    line = trim_left(line);
    while (!line.empty() && is_space(line.back())) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') {
        r.kind = TranscriptLineKind::blank;
        return r;
    }
    std::int64_t ns = 0;
    if (!parse_timestamp(line, ns)) {
        r.error = "expected a timestamp like (1700000000.123456)";
        return r;
    }
    if (line.empty() || !is_space(line.front())) {
        r.error = "expected a space after the timestamp";
        return r;
    }
    line = trim_left(line);
    FrameDirection direction = FrameDirection::unknown;
    if (line.size() > 2 && (line.substr(0, 2) == "tx" || line.substr(0, 2) == "rx") && is_space(line[2])) {
        direction = line[0] == 't' ? FrameDirection::request : FrameDirection::response;
        line = trim_left(line.substr(3));
    }
    std::size_t n = 0;
    int high = -1;
    for (const char c : line) {
        if (is_space(c)) {
            if (high >= 0) {
                r.error = "odd number of hex digits in a byte";
                return r;
            }
            continue;
        }
        const int v = hex_value(c);
        if (v < 0) {
            r.error = "not a hex digit";
            return r;
        }
        if (high < 0) {
            high = v;
            continue;
        }
        if (n == TranscriptFrame::max_bytes) {
            r.error = "frame longer than 256 bytes";
            return r;
        }
        frame.bytes[n++] = static_cast<std::uint8_t>(high << 4 | v);
        high = -1;
    }
    if (high >= 0) {
        r.error = "odd number of hex digits";
        return r;
    }
    if (n < 4) {
        r.error = "frame shorter than 4 bytes";
        return r;
    }
    frame.size = n;
    frame.timestamp_ns = ns;
    frame.direction = direction;
    r.kind = TranscriptLineKind::frame;
    return r;
}

TranscriptReader::TranscriptReader(std::istream& in, std::size_t max_line, MalformedHandler on_malformed)
    : in_(in), max_line_(max_line < 64 ? 64 : max_line), line_(new char[max_line_ + 1]), on_malformed_(std::move(on_malformed)) {}

bool TranscriptReader::next(TranscriptFrame& frame) {
    for (;;) {
        if (!in_.good()) return false;
        // getline with a bounded buffer: a longer line sets failbit; skip the rest of it.
        in_.getline(line_.get(), static_cast<std::streamsize>(max_line_ + 1));
        const auto got = in_.gcount();
        if (in_.bad()) return false;
        if (in_.fail() && !in_.eof()) {
            in_.clear();
            in_.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
            ++stats_.lines;
            ++stats_.too_long;
            ++stats_.malformed;
            if (on_malformed_) on_malformed_(stats_.lines, "line too long");
            continue;
        }
        if (got == 0 && in_.eof()) return false;
        ++stats_.lines;
        // gcount counts the newline when one was extracted (then the stream is not at its end).
        const std::size_t len = static_cast<std::size_t>(got) - (in_.eof() ? 0 : 1);
        const auto parsed = parse_transcript_line(std::string_view(line_.get(), len), frame);
        if (parsed.kind == TranscriptLineKind::blank) continue;
        if (parsed.kind == TranscriptLineKind::malformed) {
            ++stats_.malformed;
            if (on_malformed_) on_malformed_(stats_.lines, parsed.error);
            continue;
        }
        ++stats_.frames;
        return true;
    }
}

TranscriptStats replay_transcript(std::istream& in, RtuSniffer& sniffer, ModbusSink& sink,
                                  TranscriptReader::MalformedHandler on_malformed) {
    TranscriptReader reader(in, 4096, std::move(on_malformed));
    auto frame = std::make_unique<TranscriptFrame>();
    while (reader.next(*frame)) sniffer.feed_frame(frame->timestamp_ns, frame->frame(), frame->direction, sink);
    return reader.stats();
}

}  // namespace outpost::ingest
