#include "capture_line.hpp"

#include <charconv>

namespace outpost::audit {

namespace {

// "1470818943.786368637": digits, a dot, digits. Nothing else is taken for a receive time.
std::optional<double> unix_time(std::string_view field) {
    const auto dot = field.find('.');
    if (dot == std::string_view::npos || dot == 0 || dot + 1 == field.size()) return std::nullopt;
    for (std::size_t i = 0; i < field.size(); ++i) {
        if (i != dot && (field[i] < '0' || field[i] > '9')) return std::nullopt;
    }
    double value = 0;
    const auto r = std::from_chars(field.data(), field.data() + field.size(), value);
    if (r.ec != std::errc() || r.ptr != field.data() + field.size()) return std::nullopt;
    return value;
}

// Splits "first rest" at the first space; rest is empty when there is none.
std::pair<std::string_view, std::string_view> split_first(std::string_view s) {
    const auto space = s.find(' ');
    if (space == std::string_view::npos) return {s, {}};
    return {s.substr(0, space), s.substr(space + 1)};
}

}  // namespace

std::optional<CaptureLine> parse_capture_line(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == ' ') return std::nullopt;
    const auto [first, rest] = split_first(line);
    if (const auto t = unix_time(first)) {
        const auto [topic, payload] = split_first(rest);
        if (!topic.empty()) return CaptureLine{t, topic, payload};
    }
    return CaptureLine{std::nullopt, first, rest};
}

}  // namespace outpost::audit
