#include "outpost/core/json_reader.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

namespace outpost::core {
namespace {

std::string type_name(const nlohmann::json& j) {
    return j.type_name();
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diag = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

std::optional<std::int64_t> parse_integer_text(std::string_view s) {
    int base = 10;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s.remove_prefix(2);
        base = 16;
    }
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
    if (ec != std::errc{} || end != s.data() + s.size() || s.empty()) return std::nullopt;
    return v;
}

}  // namespace

JsonReader::JsonReader(const nlohmann::json& value, std::string file, std::string path,
                       ConfigIssues& issues)
    : object_(value.is_object() ? &value : nullptr),
      file_(std::move(file)),
      path_(std::move(path)),
      issues_(issues) {
    if (!object_) issues_.add(file_, path_, "expected an object, found " + type_name(value));
}

std::string JsonReader::path_of(std::string_view key) const {
    return path_ + "/" + std::string(key);
}

const nlohmann::json* JsonReader::find(std::string_view key) {
    if (std::find(known_.begin(), known_.end(), key) == known_.end()) known_.emplace_back(key);
    if (!object_) return nullptr;
    const auto it = object_->find(key);
    return it == object_->end() ? nullptr : &*it;
}

bool JsonReader::has(std::string_view key) {
    return find(key) != nullptr;
}

void JsonReader::issue(std::string_view key, std::string message) {
    issues_.add(file_, key.empty() ? path_ : path_of(key), std::move(message));
}

std::optional<std::string> JsonReader::require_string(std::string_view key) {
    const auto* v = find(key);
    if (!v) {
        if (object_) issue(key, "missing (a string is required)");
        return std::nullopt;
    }
    if (!v->is_string()) {
        issue(key, "expected a string, found " + type_name(*v));
        return std::nullopt;
    }
    return v->get<std::string>();
}

std::string JsonReader::string(std::string_view key, std::string fallback) {
    if (!find(key)) return fallback;
    return require_string(key).value_or(std::move(fallback));
}

std::string JsonReader::choice(std::string_view key, std::string fallback,
                               const std::vector<std::string>& choices) {
    if (!find(key)) return fallback;
    auto v = require_string(key);
    if (!v) return fallback;
    if (std::find(choices.begin(), choices.end(), *v) != choices.end()) return *v;
    std::string allowed;
    for (const auto& c : choices) allowed += (allowed.empty() ? "\"" : ", \"") + c + "\"";
    issue(key, "\"" + *v + "\" is not one of " + allowed);
    return fallback;
}

std::optional<std::int64_t> JsonReader::require_integer(std::string_view key, std::int64_t min,
                                                        std::int64_t max) {
    const auto* v = find(key);
    if (!v) {
        if (object_) issue(key, "missing (an integer is required)");
        return std::nullopt;
    }
    if (!v->is_number_integer()) {
        issue(key, "expected an integer, found " + (v->is_number() ? std::string("a fraction") : type_name(*v)));
        return std::nullopt;
    }
    // Unsigned values above INT64_MAX are out of every range we accept.
    if (v->is_number_unsigned() && v->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
        issue(key, "out of range " + std::to_string(min) + ".." + std::to_string(max));
        return std::nullopt;
    }
    const auto n = v->get<std::int64_t>();
    if (n < min || n > max) {
        issue(key, std::to_string(n) + " is out of range " + std::to_string(min) + ".." + std::to_string(max));
        return std::nullopt;
    }
    return n;
}

std::int64_t JsonReader::integer(std::string_view key, std::int64_t fallback, std::int64_t min,
                                 std::int64_t max) {
    if (!find(key)) return fallback;
    return require_integer(key, min, max).value_or(fallback);
}

std::optional<std::int64_t> JsonReader::require_id(std::string_view key, std::int64_t min,
                                                   std::int64_t max) {
    const auto* v = find(key);
    if (v && v->is_string()) {
        const auto n = parse_integer_text(v->get<std::string>());
        if (!n) {
            issue(key, "\"" + v->get<std::string>() + "\" is not an integer (decimal or 0x-hex)");
            return std::nullopt;
        }
        if (*n < min || *n > max) {
            std::ostringstream s;
            s << "0x" << std::hex << *n << " is out of range 0x" << min << "..0x" << max;
            issue(key, s.str());
            return std::nullopt;
        }
        return n;
    }
    return require_integer(key, min, max);
}

std::optional<double> JsonReader::require_number(std::string_view key) {
    const auto* v = find(key);
    if (!v) {
        if (object_) issue(key, "missing (a number is required)");
        return std::nullopt;
    }
    if (!v->is_number()) {
        issue(key, "expected a number, found " + type_name(*v));
        return std::nullopt;
    }
    return v->get<double>();
}

double JsonReader::number(std::string_view key, double fallback) {
    if (!find(key)) return fallback;
    return require_number(key).value_or(fallback);
}

bool JsonReader::boolean(std::string_view key, bool fallback) {
    const auto* v = find(key);
    if (!v) return fallback;
    if (!v->is_boolean()) {
        issue(key, "expected true or false, found " + type_name(*v));
        return fallback;
    }
    return v->get<bool>();
}

const nlohmann::json* JsonReader::member(std::string_view key) {
    return find(key);
}

const nlohmann::json* JsonReader::array(std::string_view key, bool required) {
    const auto* v = find(key);
    if (!v) {
        if (required && object_) issue(key, "missing (an array is required)");
        return nullptr;
    }
    if (!v->is_array()) {
        issue(key, "expected an array, found " + type_name(*v));
        return nullptr;
    }
    return v;
}

std::optional<JsonReader> JsonReader::child(std::string_view key) {
    const auto* v = find(key);
    if (!v) return std::nullopt;
    return JsonReader(*v, file_, path_of(key), issues_);
}

void JsonReader::finish() {
    if (!object_) return;
    for (const auto& [key, value] : object_->items()) {
        if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
        std::string best;
        std::size_t best_distance = 3;  // suggest only close matches
        for (const auto& k : known_) {
            const auto d = edit_distance(key, k);
            if (d < best_distance) {
                best_distance = d;
                best = k;
            }
        }
        issue(key, best.empty() ? "unknown key" : "unknown key (did you mean \"" + best + "\"?)");
    }
}

nlohmann::json read_json_file(const std::string& file, ConfigIssues& issues) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        issues.add(file, "", "cannot open the file");
        return nullptr;
    }
    std::ostringstream text;
    text << in.rdbuf();
    const std::string s = text.str();
    try {
        return nlohmann::json::parse(s);
    } catch (const nlohmann::json::parse_error& e) {
        // Turn the byte offset into line:column, which is what an editor shows.
        std::size_t line = 1, col = 1;
        for (std::size_t i = 0; i + 1 < e.byte && i < s.size(); ++i) {
            if (s[i] == '\n') {
                ++line;
                col = 1;
            } else {
                ++col;
            }
        }
        std::string what = e.what();
        if (const auto p = what.find("syntax error"); p != std::string::npos) what = what.substr(p);
        issues.add(file, "", "JSON syntax error at line " + std::to_string(line) + " column " +
                                 std::to_string(col) + ": " + what);
        return nullptr;
    }
}

}  // namespace outpost::core
