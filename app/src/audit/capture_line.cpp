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

// Splits "rest last" at the last space; rest is all of `s` when there is none.
std::pair<std::string_view, std::string_view> split_last(std::string_view s) {
    const auto space = s.rfind(' ');
    if (space == std::string_view::npos) return {s, {}};
    return {s.substr(0, space), s.substr(space + 1)};
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

std::optional<CaptureLine> parse_capture_line(std::string_view line, CaptureForm form) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == ' ') return std::nullopt;
    const bool hex = form == CaptureForm::hex;
    const auto split = hex ? split_last : split_first;
    const auto [first, rest] = split_first(line);
    // mosquitto_sub always prints the space before %x, even for an empty payload.
    if (const auto t = unix_time(first); t && (!hex || rest.find(' ') != std::string_view::npos)) {
        const auto [topic, payload] = split(rest);
        if (!topic.empty()) return CaptureLine{t, topic, payload};
    }
    const auto [topic, payload] = split(line);
    return CaptureLine{std::nullopt, topic, payload};
}

bool decode_hex(std::string_view hex, std::string& out) {
    out.clear();
    if (hex.size() % 2 != 0) return false;
    out.reserve(hex.size() / 2);
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        const int high = hex_digit(hex[i]);
        const int low = hex_digit(hex[i + 1]);
        if (high < 0 || low < 0) return false;
        out += static_cast<char>(high * 16 + low);
    }
    return true;
}

}  // namespace outpost::audit
