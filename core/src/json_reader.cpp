#include "outpost/core/json_reader.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <sstream>

#include "outpost/core/bounded_read.hpp"

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

std::string number_text(double d) {
    std::ostringstream s;
    s.precision(17);
    s << d;
    return s.str();
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

// "line 3 column 7": what an editor shows, from a byte offset into `text`.
std::string line_and_column(std::string_view text, std::size_t byte) {
    std::size_t line = 1, col = 1;
    for (std::size_t i = 0; i + 1 < byte && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++line;
            col = 1;
        } else {
            ++col;
        }
    }
    return "line " + std::to_string(line) + " column " + std::to_string(col);
}

// Builds the document like nlohmann's own DOM parser, and on the way reports what that parser
// accepts silently or reports without a place: duplicate keys (the last one would win), numbers
// beyond a double (1e400), and nesting deeper than any configuration needs (each level costs the
// parser and this handler memory, so 16 MiB of '[' must not become millions of levels).
class ConfigSax final : public nlohmann::json_sax<nlohmann::json> {
public:
    static constexpr std::size_t max_depth = 64;
    // A hostile file can repeat one key millions of times; list the first ones and count the rest.
    static constexpr std::size_t max_duplicates_listed = 20;

    ConfigSax(nlohmann::json& root, std::string_view text, const std::string& file, ConfigIssues& issues)
        : root_(root), text_(text), file_(file), issues_(issues) {}

    bool null() override { return put(nullptr); }
    bool boolean(bool v) override { return put(v); }
    bool number_integer(number_integer_t v) override { return put(v); }
    bool number_unsigned(number_unsigned_t v) override { return put(v); }
    bool number_float(number_float_t v, const string_t&) override { return put(v); }
    bool string(string_t& v) override { return put(std::move(v)); }
    bool binary(binary_t&) override { return false; }  // not produced by the JSON parser

    bool start_object(std::size_t) override { return open(nlohmann::json::object()); }
    bool start_array(std::size_t) override { return open(nlohmann::json::array()); }
    bool end_object() override { return close(); }
    bool end_array() override { return close(); }

    bool key(string_t& k) override {
        auto& top = stack_.back();
        if (top.value->contains(k) && ++duplicates_ <= max_duplicates_listed) {
            issues_.add(file_, path(false) + "/" + k,
                        "duplicate key \"" + k + "\" (JSON keeps only one of them; remove the other)");
        }
        top.key = std::move(k);
        return true;
    }

    // After the document: how many duplicates were not listed one by one.
    void report_unlisted() {
        if (duplicates_ > max_duplicates_listed) {
            issues_.add(file_, "", "and " + std::to_string(duplicates_ - max_duplicates_listed) +
                                       " more duplicate key(s) not listed");
        }
    }

    bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) override {
        const auto where = line_and_column(text_, position);
        if (e.id == 406) {  // out_of_range: number overflow
            issues_.add(file_, path(), "number out of range at " + where + " (\"" + token_at(position) +
                                           "\" does not fit a double)");
            return false;
        }
        std::string what = e.what();
        if (const auto p = what.find("syntax error"); p != std::string::npos) what = what.substr(p);
        issues_.add(file_, "", "JSON syntax error at " + where + ": " + what);
        return false;
    }

private:
    struct Frame {
        nlohmann::json* value;
        std::string key;  // objects: the key of the member being read
    };

    // The JSON path of the value being read now; of the innermost container when `member` is false.
    std::string path(bool member = true) const {
        std::string p;
        const auto levels = member ? stack_.size() : stack_.size() - 1;
        for (std::size_t i = 0; i < levels; ++i) {
            const auto& f = stack_[i];
            // Appended piece by piece, not `"/" + x`: GCC 12 warns falsely about that (-Wrestrict,
            // its bug 105329).
            p += '/';
            if (f.value->is_object()) {
                p += f.key;
            } else {
                // Below the top the element being read is already in the array; at the top it is next.
                const auto n = f.value->size();
                p += std::to_string(i + 1 < stack_.size() ? n - 1 : n);
            }
        }
        return p;
    }

    // The number token that ends at `position` (for the message; at most 40 characters).
    std::string token_at(std::size_t position) const {
        std::size_t end = std::min(position, text_.size());
        std::size_t begin = end;
        while (begin > 0 && end - begin < 40 && std::string_view("+-.eE0123456789").find(text_[begin - 1]) !=
                                                     std::string_view::npos) {
            --begin;
        }
        return std::string(text_.substr(begin, end - begin));
    }

    template <class V>
    nlohmann::json* insert(V&& v) {
        if (stack_.empty()) {
            root_ = nlohmann::json(std::forward<V>(v));
            return &root_;
        }
        auto& top = stack_.back();
        if (top.value->is_array()) {
            top.value->emplace_back(std::forward<V>(v));
            return &top.value->back();
        }
        auto& slot = (*top.value)[top.key];
        slot = nlohmann::json(std::forward<V>(v));
        return &slot;
    }

    template <class V>
    bool put(V&& v) {
        insert(std::forward<V>(v));
        return true;
    }

    bool open(nlohmann::json empty) {
        if (stack_.size() >= max_depth) {
            issues_.add(file_, path(), "nested deeper than " + std::to_string(max_depth) + " levels");
            return false;
        }
        auto* value = insert(std::move(empty));
        stack_.push_back({value, {}});
        return true;
    }

    bool close() {
        stack_.pop_back();
        return true;
    }

    nlohmann::json& root_;
    std::string_view text_;
    const std::string& file_;
    ConfigIssues& issues_;
    std::vector<Frame> stack_;
    std::size_t duplicates_ = 0;
};

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
    if (v->is_number_float()) {
        // 1e3 or 8.0 is an integer written as a float: take it when it is one exactly.
        const double d = v->get<double>();
        const bool whole = std::trunc(d) == d;
        if (whole && d >= static_cast<double>(min) && d <= static_cast<double>(max) && std::abs(d) <= 0x1p53) {
            return static_cast<std::int64_t>(d);
        }
        issue(key, whole ? number_text(d) + " is out of range " + std::to_string(min) + ".." + std::to_string(max)
                         : "expected an integer, found " + number_text(d));
        return std::nullopt;
    }
    if (!v->is_number_integer()) {
        issue(key, "expected an integer, found " + type_name(*v));
        return std::nullopt;
    }
    // Unsigned values above INT64_MAX are out of every range we accept.
    if (v->is_number_unsigned() && v->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
        issue(key, v->dump() + " is out of range " + std::to_string(min) + ".." + std::to_string(max));
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
    const auto f = read_file_bounded(file, limits::json_file);
    if (!f) {
        const bool refused = f.ec == std::errc::file_too_large || f.ec == std::errc::invalid_argument;
        issues.add(file, "", refused ? f.reason : "cannot open the file: " + f.ec.message());
        return nullptr;
    }
    return parse_json_text(f.text, file, issues);
}

nlohmann::json parse_json_text(std::string_view text, const std::string& file, ConfigIssues& issues) {
    nlohmann::json root;
    const auto before = issues.size();
    ConfigSax sax(root, text, file, issues);
    const bool parsed = nlohmann::json::sax_parse(text, &sax, nlohmann::json::input_format_t::json, true, false);
    sax.report_unlisted();
    if (!parsed || issues.size() != before) return nullptr;
    if (!root.is_object()) {
        issues.add(file, "", "the file must hold a JSON object ({...}), found " + std::string(root.type_name()));
        return nullptr;
    }
    return root;
}

}  // namespace outpost::core
