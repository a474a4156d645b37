#include "outpost/mapping/json_body.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace outpost::mapping {

bool append_json_number(std::string& out, double value, int decimals) {
    if (!std::isfinite(value)) return false;
    char buf[64];
    std::to_chars_result r{};
    if (decimals < 0) {
        r = std::to_chars(buf, buf + sizeof buf, value);
    } else {
        r = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed, decimals);
        if (r.ec == std::errc{} && decimals > 0) {
            while (r.ptr[-1] == '0') --r.ptr;
            if (r.ptr[-1] == '.') --r.ptr;
        }
    }
    if (r.ec != std::errc{}) return false;
    std::string_view text(buf, static_cast<std::size_t>(r.ptr - buf));
    if (text == "-0") text = "0";
    out.append(text);
    return true;
}

void append_timestamp(std::string& out, std::int64_t ns) {
    if (ns < 0) ns = 0;
    const std::int64_t us = ns / 1000;
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, us / 1'000'000);
    *r.ptr++ = '.';
    const auto frac = static_cast<int>(us % 1'000'000);
    for (int div = 100000; div > 0; div /= 10) *r.ptr++ = static_cast<char>('0' + (frac / div) % 10);
    out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

void append_json_string(std::string& out, std::string_view text) {
    out += '"';
    for (const char c : text) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
                    out += buf;
                } else {
                    out += c;
                }
        }
    }
    out += '"';
}

const std::string* value_name(const std::map<std::int64_t, std::string>& names, double value) {
    if (names.empty()) return nullptr;
    const double rounded = std::round(value);
    if (rounded != value || !(std::fabs(rounded) < 9.2e18)) return nullptr;
    const auto it = names.find(static_cast<std::int64_t>(rounded));
    return it == names.end() ? nullptr : &it->second;
}

bool append_reading_body(std::string& body, std::int64_t ts_ns, double value, int decimals, std::string_view unit,
                         const std::map<std::int64_t, std::string>& value_names) {
    body += "\"ts\":";
    append_timestamp(body, ts_ns);
    body += ",\"value\":";
    if (!append_json_number(body, value, decimals)) return false;
    if (!unit.empty()) {
        body += ",\"unit\":";
        append_json_string(body, unit);
    }
    if (const auto* name = value_name(value_names, value)) {
        body += ",\"text\":";
        append_json_string(body, *name);
    }
    return true;
}

void append_text_reading_body(std::string& body, std::int64_t ts_ns, std::string_view text, std::string_view unit) {
    body += "\"ts\":";
    append_timestamp(body, ts_ns);
    body += ",\"value\":";
    append_json_string(body, text);
    if (!unit.empty()) {
        body += ",\"unit\":";
        append_json_string(body, unit);
    }
}

}  // namespace outpost::mapping
