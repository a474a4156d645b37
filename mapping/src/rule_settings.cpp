#include "rule_settings.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "outpost/mapping/topic_template.hpp"

namespace outpost::mapping {
namespace {

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

int digits_needed(double x) {
    int d = 0;
    while (d < 9 && std::fabs(x * std::pow(10.0, d) - std::round(x * std::pow(10.0, d))) > 1e-9) ++d;
    return d;
}

}  // namespace

RateControl read_rate(core::JsonReader& r, const RateControl& base) {
    RateControl rate = base;
    rate.min_interval_ms = r.integer("min_interval_ms", base.min_interval_ms, 0, 86'400'000);
    rate.deadband = r.number("deadband", base.deadband);
    rate.deadband_percent = r.number("deadband_percent", base.deadband_percent);
    rate.heartbeat_ms = r.integer("heartbeat_s", base.heartbeat_ms / 1000, 0, 86'400) * 1000;
    if (rate.deadband < 0) r.issue("deadband", "must not be negative");
    if (rate.deadband_percent < 0 || rate.deadband_percent > 1000) r.issue("deadband_percent", "must be 0..1000");
    if (rate.heartbeat_ms > 0 && rate.heartbeat_ms < rate.min_interval_ms) {
        r.issue("heartbeat_s", "a heartbeat shorter than min_interval_ms can never fire");
    }
    r.finish();
    return rate;
}

RuleDefaults read_defaults(core::JsonReader& r, const RuleDefaults& base) {
    RuleDefaults d = base;
    d.topic = r.string("topic", base.topic);
    d.priority = static_cast<std::uint8_t>(r.integer("priority", base.priority, 0, 9));
    d.qos = static_cast<std::uint8_t>(r.integer("qos", base.qos, 0, 2));
    d.retain = r.boolean("retain", base.retain);
    if (auto rate = r.child("rate")) d.rate = read_rate(*rate, base.rate);
    return d;
}

int decimals_for(double factor, double offset, bool floating) {
    if (floating) return -1;
    const double step = std::fabs(factor);
    if (step == 0 || !std::isfinite(step) || !std::isfinite(offset)) return -1;
    // The offset may need digits of its own (e.g. factor 1, offset -40.5).
    return std::max(digits_needed(step), digits_needed(offset));
}

std::string render_or_report(core::JsonReader& r, const std::string& pattern,
                             const std::map<std::string, std::string>& values) {
    std::string error;
    if (auto topic = render_topic(pattern, values, error)) return *topic;
    r.issue("topic", error + " in \"" + pattern + "\"");
    return {};
}

std::string check_unit(const std::string& unit) {
    if (unit.find_first_of("\"\\") != std::string::npos ||
        std::any_of(unit.begin(), unit.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
        return "must not contain quotes, backslashes or control characters";
    }
    return {};
}

std::string read_unit(core::JsonReader& r, std::string fallback) {
    auto unit = r.string("unit", std::move(fallback));
    if (auto problem = check_unit(unit); !problem.empty()) r.issue("unit", problem);
    return unit;
}

bool read_out_of_range(core::JsonReader& r, bool base) {
    return r.choice("out_of_range", base ? "publish" : "drop", {"drop", "publish"}) == "publish";
}

void read_value_names(core::JsonReader& r, std::map<std::int64_t, std::string>& names) {
    const auto* values = r.member("values");
    if (!values) return;
    if (!values->is_object()) {
        r.issue("values", "expected an object of value -> name, e.g. {\"0\": \"idle\"}");
        return;
    }
    for (const auto& [k, v] : values->items()) {
        std::int64_t n = 0;
        const auto [end, ec] = std::from_chars(k.data(), k.data() + k.size(), n);
        if (ec != std::errc{} || end != k.data() + k.size()) {
            r.issue("values", "\"" + k + "\" is not an integer value");
        } else if (!v.is_string()) {
            r.issue("values", "the name for " + k + " must be a string");
        } else {
            names[n] = v.get<std::string>();
        }
    }
}

std::string closest(std::string_view given, std::initializer_list<std::string_view> choices) {
    return closest(given, std::vector<std::string>(choices.begin(), choices.end()));
}

std::string closest(std::string_view given, const std::vector<std::string>& choices) {
    std::string best;
    std::size_t best_distance = 3;
    for (const auto& c : choices) {
        const auto d = edit_distance(given, c);
        if (d < best_distance) {
            best_distance = d;
            best = c;
        }
    }
    return best;
}

}  // namespace outpost::mapping
