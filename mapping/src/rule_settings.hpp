#pragma once
// Loader internals shared by CAN and Modbus rules, so a site engineer writes topic, priority, QoS,
// retain, rate, units and value tables the same way for both. Every problem goes to the reader's
// ConfigIssues with its JSON path.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "outpost/core/json_reader.hpp"
#include "outpost/mapping/rate_control.hpp"

namespace outpost::mapping {

// What a file's, a device's or a message's "defaults" hand down to its rules.
struct RuleDefaults {
    std::string topic = "site/{gateway}/{message}/{signal}";
    std::uint8_t priority = 5;
    std::uint8_t qos = 1;
    bool retain = false;
    RateControl rate;
};

// Reads "min_interval_ms", "deadband", "deadband_percent", "heartbeat_s" over `base`; finishes `r`.
RateControl read_rate(core::JsonReader& r, const RateControl& base);
// Reads "topic", "priority", "qos", "retain" and "rate" over `base` (does not finish `r`).
RuleDefaults read_defaults(core::JsonReader& r, const RuleDefaults& base);

// Digits worth printing for a scaled integer: enough to show one step of `factor` and the
// offset's own digits; -1 (shortest exact form) for floating-point values.
int decimals_for(double factor, double offset, bool floating);

// The rendered topic, or an empty string after reporting the problem at `r`'s "topic".
std::string render_or_report(core::JsonReader& r, const std::string& pattern,
                             const std::map<std::string, std::string>& values);

// Reads "unit" (no quotes, backslashes or control characters).
std::string read_unit(core::JsonReader& r, std::string fallback);
// A unit from elsewhere (a DBC, a CSV): the same rule, the problem as a message or empty.
std::string check_unit(const std::string& unit);

// Reads a CAN message's or signal's "out_of_range": "drop" (readings outside min/max are counted
// and dropped) or "publish" (published with "out_of_range":true); true for "publish".
bool read_out_of_range(core::JsonReader& r, bool base);

// Reads "values": {"0": "off", "1": "on"} into `names` (entries already there are overridden).
void read_value_names(core::JsonReader& r, std::map<std::int64_t, std::string>& names);

// The closest of `choices` to `given` (edit distance at most 2), or empty.
std::string closest(std::string_view given, std::initializer_list<std::string_view> choices);
std::string closest(std::string_view given, const std::vector<std::string>& choices);

}  // namespace outpost::mapping
