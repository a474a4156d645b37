#pragma once
// Topic templates such as `site/{gateway}/bms/{signal}`. Placeholders: for CAN rules {gateway},
// {bus}, {message}, {signal}; for Modbus registers {gateway}, {bus}, {device}, {register},
// {unit_id}, and {message}/{signal} as other names for {device}/{register} (so one file-wide
// default template serves both). Rendered once at load time, never per reading.
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace outpost::mapping {

// Substitutes the placeholders (`values`' keys); on an unknown or unclosed placeholder returns
// nullopt and says why, listing the known ones.
std::optional<std::string> render_topic(std::string_view pattern, const std::map<std::string, std::string>& values,
                                        std::string& error);

// Checks a rendered topic is publishable: non-empty, no wildcards, no NUL, at most 65535 bytes.
bool valid_publish_topic(std::string_view topic, std::string& error);

}  // namespace outpost::mapping
