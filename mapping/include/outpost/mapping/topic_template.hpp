#pragma once
// Topic templates such as `site/{gateway}/bms/{signal}`. Placeholders: {gateway}, {bus},
// {message}, {signal}. Rendered once at load time, never per reading.
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace outpost::mapping {

// Substitutes the placeholders; on an unknown or unclosed placeholder returns nullopt and says why.
std::optional<std::string> render_topic(std::string_view pattern, const std::map<std::string, std::string>& values,
                                        std::string& error);

// Checks a rendered topic is publishable: non-empty, no wildcards, no NUL, at most 65535 bytes.
bool valid_publish_topic(std::string_view topic, std::string& error);

}  // namespace outpost::mapping
