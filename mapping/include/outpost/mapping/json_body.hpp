#pragma once
// The JSON body of a reading's message, shared by every kind of rule so a CAN signal and a Modbus
// register look the same to a consumer:
//   "ts":1700000000.123456,"value":52.1,"unit":"V","text":"closed"
// (`unit` only when the rule has one, `text` only when a value table names the value). The uplink
// adds the braces, the gateway id and the sequence number. Nothing here throws or logs.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace outpost::mapping {

// Appends `value` as JSON text: fixed with `decimals` digits (trailing zeros trimmed) or, for -1,
// the shortest form that reads back exactly. False for NaN and infinities (not JSON).
bool append_json_number(std::string& out, double value, int decimals);
// Appends nanoseconds since the epoch as seconds with microseconds: 1700000000.123456.
void append_timestamp(std::string& out, std::int64_t ns);
// Appends `text` as a JSON string (quotes and escapes).
void append_json_string(std::string& out, std::string_view text);

// The name a value table gives `value`, or nullptr when the value is not integral or not in it.
const std::string* value_name(const std::map<std::int64_t, std::string>& names, double value);

// Appends `"ts":..,"value":..[,"unit":..][,"text":..]` to `body`. False (and `body` left partly
// written) when the value is not finite: the caller counts a decode error and drops the message.
bool append_reading_body(std::string& body, std::int64_t ts_ns, double value, int decimals, std::string_view unit,
                         const std::map<std::int64_t, std::string>& value_names);
// The same for a text reading (a Modbus string register): `"ts":..,"value":"..."[,"unit":..]`.
void append_text_reading_body(std::string& body, std::int64_t ts_ns, std::string_view text, std::string_view unit);

}  // namespace outpost::mapping
