#include "capture_reader.hpp"

#include <string>

#include "capture_line.hpp"

namespace outpost::audit {

void read_capture(std::istream& in, SequenceAudit& audit) {
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line == "\r") continue;
        const auto parsed = parse_capture_line(line);
        if (!parsed) {
            audit.note_unparsable_line();
            continue;
        }
        audit.feed(Arrival{parsed->received, parsed->topic, parsed->payload, std::nullopt});
    }
}

}  // namespace outpost::audit
