#pragma once
// One line of a capture made by mosquitto_sub, in either of the two forms the audit reads:
//   mosquitto_sub -v ...                 topic payload
//   mosquitto_sub -F '%U %t %p' ...      1700000000.123456789 topic payload
// A line whose first field is a decimal number with a fraction (as %U prints it) followed by a
// topic is read as the second form. Sans-I/O: the views point into `line`.
#include <optional>
#include <string_view>

namespace outpost::audit {

struct CaptureLine {
    std::optional<double> received;  // seconds since the Unix epoch, from %U
    std::string_view topic;
    std::string_view payload;  // may be empty
};

// nullopt for an empty line or one without a topic (it starts with a space).
std::optional<CaptureLine> parse_capture_line(std::string_view line);

}  // namespace outpost::audit
