#include "outpost/mapping/mapping_loader.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <tuple>

#include "outpost/core/json_reader.hpp"
#include "outpost/mapping/topic_template.hpp"

namespace outpost::mapping {
namespace {

struct RuleDefaults {
    std::string topic = "site/{gateway}/{message}/{signal}";
    std::uint8_t priority = 5;
    std::uint8_t qos = 1;
    bool retain = false;
};

RuleDefaults read_defaults(core::JsonReader& r, const RuleDefaults& base) {
    RuleDefaults d = base;
    d.topic = r.string("topic", base.topic);
    d.priority = static_cast<std::uint8_t>(r.integer("priority", base.priority, 0, 9));
    d.qos = static_cast<std::uint8_t>(r.integer("qos", base.qos, 0, 2));
    d.retain = r.boolean("retain", base.retain);
    return d;
}

// Digits worth printing for a scaled integer signal: enough to show one step of `factor`.
int decimals_for(const SignalSpec& spec) {
    if (spec.type == ValueType::ieee_float || spec.type == ValueType::ieee_double) return -1;
    const double step = std::fabs(spec.factor);
    if (step == 0 || !std::isfinite(step)) return -1;
    int d = 0;
    while (d < 9 && std::fabs(step * std::pow(10.0, d) - std::round(step * std::pow(10.0, d))) > 1e-9) ++d;
    // The offset may need digits of its own (e.g. factor 1, offset -40.5).
    int od = 0;
    while (od < 9 && std::fabs(spec.offset * std::pow(10.0, od) - std::round(spec.offset * std::pow(10.0, od))) > 1e-9) ++od;
    return std::max(d, od);
}

SignalRule read_signal(core::JsonReader& r, const RuleDefaults& defaults, std::size_t max_bytes,
                       const std::map<std::string, std::string>& placeholders) {
    SignalRule s;
    s.name = r.require_string("name").value_or("");
    s.spec.start_bit = static_cast<std::uint16_t>(r.require_integer("start_bit", 0, 511).value_or(0));
    const auto length = r.require_integer("length", 1, 64);
    s.spec.length = static_cast<std::uint16_t>(length.value_or(1));
    s.spec.byte_order =
        r.choice("byte_order", "intel", {"intel", "motorola"}) == "intel" ? ByteOrder::intel : ByteOrder::motorola;
    const auto type = r.choice("type", "unsigned", {"unsigned", "signed", "float", "double"});
    s.spec.type = type == "signed"  ? ValueType::signed_int
                  : type == "float" ? ValueType::ieee_float
                  : type == "double" ? ValueType::ieee_double
                                     : ValueType::unsigned_int;
    s.spec.factor = r.number("factor", 1.0);
    s.spec.offset = r.number("offset", 0.0);
    s.unit = r.string("unit", "");
    if (s.unit.find_first_of("\"\\") != std::string::npos ||
        std::any_of(s.unit.begin(), s.unit.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
        r.issue("unit", "must not contain quotes, backslashes or control characters");
    }
    if (s.spec.factor == 0) r.issue("factor", "must not be 0 (every reading would equal the offset)");
    if (length && s.spec.type == ValueType::ieee_float && *length != 32) r.issue("length", "a float signal is 32 bits long");
    if (length && s.spec.type == ValueType::ieee_double && *length != 64) r.issue("length", "a double signal is 64 bits long");
    if (length && bytes_needed(s.spec) > max_bytes) {
        r.issue("start_bit", "the signal needs " + std::to_string(bytes_needed(s.spec)) + " bytes but the message has " +
                                 std::to_string(max_bytes) + " (set the message's \"length\" for CAN FD)");
    }
    s.decimals = decimals_for(s.spec);

    const RuleDefaults own = read_defaults(r, defaults);
    s.priority = own.priority;
    s.qos = own.qos;
    s.retain = own.retain;
    auto values = placeholders;
    values["signal"] = s.name;
    std::string error;
    if (auto topic = render_topic(own.topic, values, error)) {
        s.topic = std::move(*topic);
    } else {
        r.issue("topic", error + " in \"" + own.topic + "\"");
    }
    r.finish();
    return s;
}

}  // namespace

Mapping load_mapping_file(const std::string& file, const MappingContext& context, core::ConfigIssues& issues) {
    Mapping mapping;
    const auto json = core::read_json_file(file, issues);
    if (json.is_null()) return mapping;
    core::JsonReader root(json, file, "", issues);

    RuleDefaults defaults;
    if (const auto* d = root.member("defaults")) {
        core::JsonReader r(*d, file, "/defaults", issues);
        defaults = read_defaults(r, defaults);
        r.finish();
    }

    std::set<std::tuple<std::uint32_t, bool, int>> seen_ids;
    if (const auto* can = root.array("can", true)) {
        for (std::size_t i = 0; i < can->size(); ++i) {
            core::JsonReader m((*can)[i], file, "/can/" + std::to_string(i), issues);
            CanMessageRule rule;
            rule.name = m.require_string("name").value_or("");
            rule.extended = m.boolean("extended", false);
            const auto id = m.require_id("id", 0, rule.extended ? 0x1FFFFFFF : 0x7FF);
            rule.id = static_cast<std::uint32_t>(id.value_or(0));
            if (m.has("bus")) {
                const auto bus = m.require_string("bus").value_or("");
                const auto& names = context.bus_names;
                const auto it = std::find(names.begin(), names.end(), bus);
                if (it == names.end()) {
                    m.issue("bus", "no bus named \"" + bus + "\" in the site configuration");
                } else {
                    rule.bus = static_cast<std::uint16_t>(it - names.begin());
                }
            }
            const auto length = static_cast<std::size_t>(m.integer("length", 8, 0, 64));
            const RuleDefaults message_defaults = read_defaults(m, defaults);
            if (id && !seen_ids.insert({rule.id, rule.extended, rule.bus ? *rule.bus : -1}).second) {
                m.issue("id", "another message in this file already maps this id");
            }
            const std::map<std::string, std::string> placeholders = {
                {"gateway", context.gateway_id},
                {"bus", rule.bus ? context.bus_names[*rule.bus] : std::string("any")},
                {"message", rule.name}};
            std::set<std::string> names;
            if (const auto* signals = m.array("signals", true)) {
                if (signals->empty()) m.issue("signals", "a message needs at least one signal");
                for (std::size_t k = 0; k < signals->size(); ++k) {
                    core::JsonReader s((*signals)[k], file, m.path_of("signals") + "/" + std::to_string(k), issues);
                    auto signal = read_signal(s, message_defaults, length, placeholders);
                    if (!signal.name.empty() && !names.insert(signal.name).second) {
                        s.issue("name", "another signal of this message has the name \"" + signal.name + "\"");
                    }
                    rule.signals.push_back(std::move(signal));
                }
            }
            m.finish();
            mapping.can.push_back(std::move(rule));
        }
    }
    root.finish();
    return mapping;
}

}  // namespace outpost::mapping
