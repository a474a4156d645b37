#include "outpost/mapping/mapping_loader.hpp"

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <filesystem>
#include <set>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "outpost/core/bounded_read.hpp"
#include "outpost/core/json_reader.hpp"
#include "outpost/mapping/dbc.hpp"
#include "outpost/mapping/topic_template.hpp"
#include "modbus_loader.hpp"
#include "rule_settings.hpp"

namespace outpost::mapping {
namespace {

// Priority, QoS, retain, rate and the rendered topic, from the rule that applies to the signal.
void apply_rule(SignalRule& s, const RuleDefaults& rule, core::JsonReader& r, std::map<std::string, std::string> values) {
    s.priority = rule.priority;
    s.qos = rule.qos;
    s.retain = rule.retain;
    s.rate = rule.rate;
    values["signal"] = s.name;
    s.topic = render_or_report(r, rule.topic, values);
}

SignalRule read_signal(core::JsonReader& r, const RuleDefaults& defaults, std::size_t max_bytes,
                       bool publish_out_of_range, const std::map<std::string, std::string>& placeholders) {
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
    s.unit = read_unit(r, "");
    if (s.spec.factor == 0) r.issue("factor", "must not be 0 (every reading would equal the offset)");
    if (length && s.spec.type == ValueType::ieee_float && *length != 32) r.issue("length", "a float signal is 32 bits long");
    if (length && s.spec.type == ValueType::ieee_double && *length != 64) r.issue("length", "a double signal is 64 bits long");
    if (length && bytes_needed(s.spec) > max_bytes) {
        r.issue("start_bit", "the signal needs " + std::to_string(bytes_needed(s.spec)) + " bytes but the message has " +
                                 std::to_string(max_bytes) + " (set the message's \"length\" for CAN FD)");
    }
    s.decimals = decimals_for(s.spec.factor, s.spec.offset, s.spec.type == ValueType::ieee_float || s.spec.type == ValueType::ieee_double);
    if (r.has("min")) s.minimum = r.require_number("min");
    if (r.has("max")) s.maximum = r.require_number("max");
    if (s.minimum && s.maximum && *s.minimum > *s.maximum) r.issue("max", "is below min");
    s.publish_out_of_range = read_out_of_range(r, publish_out_of_range);
    if (r.boolean("multiplexor", false)) s.multiplex = Multiplex::multiplexor;
    if (r.has("mux")) {
        if (s.multiplex == Multiplex::multiplexor) r.issue("mux", "a multiplexor cannot itself be multiplexed");
        s.multiplex = Multiplex::multiplexed;
        s.mux_value = static_cast<std::uint64_t>(r.require_integer("mux", 0, INT64_MAX).value_or(0));
    }
    read_value_names(r, s.value_names);
    s.publish = r.boolean("publish", true);

    apply_rule(s, read_defaults(r, defaults), r, placeholders);
    r.finish();
    return s;
}



// A signal as the DBC defines it, with the rule's topic, priority, QoS, retain and rate.
SignalRule signal_from_dbc(const DbcSignal& d, const RuleDefaults& rule, bool publish_out_of_range,
                           core::JsonReader& r, const std::map<std::string, std::string>& placeholders) {
    SignalRule s;
    s.name = d.name;
    s.spec = d.spec;
    s.unit = d.unit;
    s.minimum = d.minimum;
    s.maximum = d.maximum;
    s.multiplex = d.multiplex;
    s.mux_value = d.mux_value;
    s.value_names = d.value_names;
    s.publish_out_of_range = publish_out_of_range;
    s.decimals = decimals_for(s.spec.factor, s.spec.offset, s.spec.type == ValueType::ieee_float || s.spec.type == ValueType::ieee_double);
    apply_rule(s, rule, r, placeholders);
    return s;
}

// "dbc": [{"file": "x.dbc", "bus": "bms", "defaults": {...}, "messages": "*" | {"Name": {...}}}]
void import_dbc(core::JsonReader& r, const std::string& mapping_file, const MappingContext& context,
                const RuleDefaults& file_defaults, core::ConfigIssues& issues, Mapping& mapping) {
    const auto dbc_name = r.require_string("file").value_or("");
    std::optional<std::uint16_t> bus;
    if (r.has("bus")) {
        const auto name = r.require_string("bus").value_or("");
        const auto it = std::find(context.bus_names.begin(), context.bus_names.end(), name);
        if (it == context.bus_names.end()) {
            r.issue("bus", "no bus named \"" + name + "\" in the site configuration");
        } else {
            bus = static_cast<std::uint16_t>(it - context.bus_names.begin());
        }
    }
    RuleDefaults defaults = file_defaults;
    if (auto d = r.child("defaults")) {
        defaults = read_defaults(*d, file_defaults);
        d->finish();
    }
    // Over every message of this import, unless a message says otherwise.
    const bool entry_short = r.boolean("accept_short_frames", false);
    const bool entry_out_of_range = read_out_of_range(r, false);
    const auto* selection = r.member("messages");
    r.finish();
    if (dbc_name.empty()) return;
    const std::filesystem::path path = std::filesystem::path(dbc_name).is_absolute()
                                           ? std::filesystem::path(dbc_name)
                                           : std::filesystem::path(mapping_file).parent_path() / dbc_name;
    // Bounded: a DBC path naming /dev/zero or a huge file is refused, not read into memory.
    const auto text = core::read_file_bounded(path.string(), core::limits::dbc_file);
    if (!text) {
        r.issue("file", text.error);
        return;
    }
    const auto dbc = parse_dbc(text.text);
    for (const auto& e : dbc.errors) issues.add(path.string(), "line " + std::to_string(e.line), e.message);

    auto add_message = [&](const DbcMessage& m, core::JsonReader* sel) {
        CanMessageRule rule;
        rule.name = m.name;
        rule.id = m.id;
        rule.extended = m.extended;
        rule.bus = bus;
        rule.length = static_cast<std::uint8_t>(std::min<std::uint32_t>(m.length, 64));
        rule.accept_short_frames = entry_short;
        bool out_of_range = entry_out_of_range;
        RuleDefaults own = defaults;
        const nlohmann::json* signal_sel = nullptr;
        if (sel) {
            own = read_defaults(*sel, defaults);
            rule.accept_short_frames = sel->boolean("accept_short_frames", entry_short);
            out_of_range = read_out_of_range(*sel, entry_out_of_range);
            if (sel->has("mask")) {
                rule.mask = static_cast<std::uint32_t>(sel->require_id("mask", 1, m.extended ? 0x1FFFFFFF : 0x7FF).value_or(0));
            }
            signal_sel = sel->member("signals");
        }
        const std::map<std::string, std::string> placeholders = {
            {"gateway", context.gateway_id},
            {"bus", bus ? context.bus_names[*bus] : std::string("any")},
            {"message", m.name}};
        const bool all = !signal_sel || (signal_sel->is_string() && signal_sel->get<std::string>() == "*");
        std::map<std::string, const nlohmann::json*> chosen;  // name -> overrides (may be null)
        if (!all) {
            if (signal_sel->is_array()) {
                for (const auto& n : *signal_sel) {
                    if (n.is_string()) chosen[n.get<std::string>()] = nullptr;
                    else sel->issue("signals", "expected signal names");
                }
            } else if (signal_sel->is_object()) {
                for (const auto& [n, o] : signal_sel->items()) chosen[n] = &o;
            } else {
                sel->issue("signals", "expected \"*\", a list of signal names or an object of name -> settings");
            }
            // A set, not a scan per name: a message may have 100k signals and a site may list them all.
            std::unordered_set<std::string_view> names;
            names.reserve(m.signals.size());
            for (const auto& x : m.signals) names.insert(x.name);
            for (const auto& entry : chosen) {
                const std::string& n = entry.first;
                if (!names.count(n)) sel->issue("signals", "message " + m.name + " in " + path.filename().string() + " has no signal \"" + n + "\"");
            }
        }
        for (const auto& d : m.signals) {
            const auto it = chosen.find(d.name);
            const bool selected = all || it != chosen.end();
            // A multiplexor is always decoded (it selects the others), published only if chosen.
            if (!selected && d.multiplex != Multiplex::multiplexor) continue;
            RuleDefaults sig = own;
            bool signal_out_of_range = out_of_range;
            std::optional<core::JsonReader> over;
            if (it != chosen.end() && it->second) {
                over.emplace(*it->second, r.file(), sel->path_of("signals") + "/" + d.name, issues);
                sig = read_defaults(*over, own);
                signal_out_of_range = read_out_of_range(*over, out_of_range);
            }
            auto rule_signal = signal_from_dbc(d, sig, signal_out_of_range, over ? *over : *sel, placeholders);
            rule_signal.publish = selected;
            if (over) over->finish();
            rule.signals.push_back(std::move(rule_signal));
        }
        if (sel) sel->finish();
        mapping.can.push_back(std::move(rule));
    };

    if (!selection || (selection->is_string() && selection->get<std::string>() == "*")) {
        static const nlohmann::json empty = nlohmann::json::object();
        core::JsonReader none(empty, r.file(), r.path(), issues);
        for (const auto& m : dbc.messages) add_message(m, &none);
        return;
    }
    if (!selection->is_object()) {
        r.issue("messages", "expected \"*\" or an object of message name -> settings");
        return;
    }
    std::unordered_map<std::string_view, const DbcMessage*> by_name;
    by_name.reserve(dbc.messages.size());
    for (const auto& m : dbc.messages) by_name.emplace(m.name, &m);  // the first of a name, as DbcFile::find
    for (const auto& [name, settings] : selection->items()) {
        const auto found = by_name.find(name);
        const auto* m = found == by_name.end() ? nullptr : found->second;
        core::JsonReader sel(settings, r.file(), r.path_of("messages") + "/" + name, issues);
        if (!m) {
            sel.issue("", "no message \"" + name + "\" in " + path.filename().string());
            continue;
        }
        add_message(*m, &sel);
    }
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

    if (const auto* dbcs = root.array("dbc", false)) {
        for (std::size_t i = 0; i < dbcs->size(); ++i) {
            core::JsonReader d((*dbcs)[i], file, "/dbc/" + std::to_string(i), issues);
            import_dbc(d, file, context, defaults, issues, mapping);
        }
    }
    std::set<std::tuple<std::uint32_t, bool, int>> seen_ids;
    if (const auto* can = root.array("can", !root.has("dbc") && !root.has("modbus"))) {
        for (std::size_t i = 0; i < can->size(); ++i) {
            core::JsonReader m((*can)[i], file, "/can/" + std::to_string(i), issues);
            CanMessageRule rule;
            rule.name = m.require_string("name").value_or("");
            rule.extended = m.boolean("extended", false);
            const auto id = m.require_id("id", 0, rule.extended ? 0x1FFFFFFF : 0x7FF);
            rule.id = static_cast<std::uint32_t>(id.value_or(0));
            if (m.has("mask")) {
                rule.mask = static_cast<std::uint32_t>(m.require_id("mask", 1, rule.extended ? 0x1FFFFFFF : 0x7FF).value_or(0));
            }
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
            // "length" declared: frames must have it; left out: frames must hold every signal (up to 8 bytes).
            if (m.has("length")) rule.length = static_cast<std::uint8_t>(m.integer("length", 8, 0, 64));
            const std::size_t length = rule.length.value_or(8);
            rule.accept_short_frames = m.boolean("accept_short_frames", false);
            const bool out_of_range = read_out_of_range(m, false);
            const RuleDefaults message_defaults = read_defaults(m, defaults);
            if (id && rule.mask == 0 && !seen_ids.insert({rule.id, rule.extended, rule.bus ? *rule.bus : -1}).second) {
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
                    auto signal = read_signal(s, message_defaults, length, out_of_range, placeholders);
                    if (!signal.name.empty() && !names.insert(signal.name).second) {
                        s.issue("name", "another signal of this message has the name \"" + signal.name + "\"");
                    }
                    rule.signals.push_back(std::move(signal));
                }
            }
            const auto multiplexors = std::count_if(rule.signals.begin(), rule.signals.end(),
                                                    [](const SignalRule& x) { return x.multiplex == Multiplex::multiplexor; });
            const bool any_multiplexed = std::any_of(rule.signals.begin(), rule.signals.end(),
                                                     [](const SignalRule& x) { return x.multiplex == Multiplex::multiplexed; });
            if (multiplexors > 1) m.issue("signals", "a message has at most one multiplexor");
            if (any_multiplexed && multiplexors == 0) m.issue("signals", "multiplexed signals (\"mux\") need a \"multiplexor\" signal");
            m.finish();
            mapping.can.push_back(std::move(rule));
        }
    }
    if (const auto* modbus = root.member("modbus")) {
        load_modbus_section(*modbus, file, context, defaults, issues, mapping);
    }
    root.finish();
    return mapping;
}

void merge_mapping(Mapping& into, Mapping from, const std::string& file, core::ConfigIssues& issues) {
    for (auto& rule : from.can) into.can.push_back(std::move(rule));
    for (std::size_t i = 0; i < from.modbus.size(); ++i) {
        auto& device = from.modbus[i];
        const auto path = "/modbus/" + std::to_string(i);
        for (const auto& other : into.modbus) {
            if (!device.name.empty() && other.name == device.name) {
                issues.add(file, path + "/name", "another mapping file already has a device named \"" + device.name + "\"");
            }
            if (other.bus == device.bus && other.unit == device.unit) {
                issues.add(file, path + "/unit",
                           "another mapping file already has a device with unit id " + std::to_string(device.unit) +
                               " on this bus (\"" + other.name + "\")");
            }
        }
        into.modbus.push_back(std::move(device));
    }
}

}  // namespace outpost::mapping
