#include "capture_reader.hpp"

#include <string>

namespace outpost::audit {

namespace {

enum class LineRead { line, too_long, end };

// The next line (without its '\n') into `line`, holding at most `max` bytes of it: the rest of a
// longer line is read and dropped.
LineRead next_line(std::istream& in, std::string& line, std::size_t max) {
    line.clear();
    auto* buf = in.rdbuf();
    if (buf == nullptr) return LineRead::end;
    bool any = false, too_long = false;
    for (auto c = buf->sbumpc(); c != std::char_traits<char>::eof(); c = buf->sbumpc()) {
        any = true;
        if (c == '\n') break;
        if (line.size() < max)
            line += static_cast<char>(c);
        else
            too_long = true;
    }
    if (!any) return LineRead::end;
    if (too_long) {
        line.clear();
        return LineRead::too_long;
    }
    return LineRead::line;
}

}  // namespace

void read_capture(std::istream& in, SequenceAudit& audit, const CaptureOptions& options) {
    std::string line, payload;
    for (auto read = next_line(in, line, options.max_line_bytes); read != LineRead::end;
         read = next_line(in, line, options.max_line_bytes)) {
        if (read == LineRead::too_long) {
            audit.note_unparsable_line();
            continue;
        }
        if (line.empty() || line == "\r") continue;
        const auto parsed = parse_capture_line(line, options.form);
        if (!parsed) {
            audit.note_unparsable_line();
            continue;
        }
        std::string_view bytes = parsed->payload;
        if (options.form == CaptureForm::hex) {
            if (!decode_hex(parsed->payload, payload)) {
                audit.note_unparsable_line();
                continue;
            }
            bytes = payload;
        }
        audit.feed(Arrival{parsed->received, parsed->topic, bytes, std::nullopt});
    }
}

}  // namespace outpost::audit
