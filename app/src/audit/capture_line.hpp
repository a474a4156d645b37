#pragma once
// One line of a capture made by mosquitto_sub, in the forms the audit reads:
//   mosquitto_sub -v ...                 topic payload
//   mosquitto_sub -F '%U %t %p' ...      1700000000.123456789 topic payload
// and, for binary payloads (compact or compressed batches), which cannot travel as text:
//   mosquitto_sub -F '%t %x' ...         topic 7b2267... (the payload in hex, lowercase, no spaces)
//   mosquitto_sub -F '%U %t %x' ...      1700000000.123456789 topic 7b2267...
// A line whose first field is a decimal number with a fraction (as %U prints it) followed by a
// topic is read as a form with a receive time. A hex line's payload is its last field, so its
// topic may hold spaces. Sans-I/O: the views point into `line`.
#include <optional>
#include <string>
#include <string_view>

namespace outpost::audit {

enum class CaptureForm {
    text,  // %p: the payload as it is
    hex,   // %x: the payload in hex digits
};

struct CaptureLine {
    std::optional<double> received;  // seconds since the Unix epoch, from %U
    std::string_view topic;
    std::string_view payload;  // may be empty; still in hex for CaptureForm::hex
};

// nullopt for an empty line or one without a topic (it starts with a space).
std::optional<CaptureLine> parse_capture_line(std::string_view line, CaptureForm form = CaptureForm::text);

// Replaces `out` with the bytes that `hex` spells (digits of either case, two per byte). False for
// an odd count or anything but a hex digit.
bool decode_hex(std::string_view hex, std::string& out);

}  // namespace outpost::audit
