#include "outpost/mapping/topic_template.hpp"

namespace outpost::mapping {

std::optional<std::string> render_topic(std::string_view pattern, const std::map<std::string, std::string>& values,
                                        std::string& error) {
    std::string out;
    out.reserve(pattern.size() + 32);
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] != '{') {
            if (pattern[i] == '}') {
                error = "unmatched '}' in topic template";
                return std::nullopt;
            }
            out += pattern[i];
            continue;
        }
        const auto close = pattern.find('}', i);
        if (close == std::string_view::npos) {
            error = "unclosed '{' in topic template";
            return std::nullopt;
        }
        const std::string name(pattern.substr(i + 1, close - i - 1));
        const auto it = values.find(name);
        if (it == values.end()) {
            std::string known;
            for (const auto& entry : values) known += (known.empty() ? "{" : ", {") + entry.first + "}";
            error = "unknown placeholder {" + name + "} (known: " + known + ")";
            return std::nullopt;
        }
        out += it->second;
        i = close;
    }
    if (!valid_publish_topic(out, error)) return std::nullopt;
    return out;
}

bool valid_publish_topic(std::string_view topic, std::string& error) {
    if (topic.empty()) {
        error = "topic is empty";
        return false;
    }
    if (topic.size() > 65535) {
        error = "topic longer than 65535 bytes";
        return false;
    }
    for (char c : topic) {
        if (c == '+' || c == '#') {
            error = "topic contains a wildcard ('+' or '#'), which cannot be published to";
            return false;
        }
        if (c == '\0') {
            error = "topic contains a NUL character";
            return false;
        }
    }
    return true;
}

}  // namespace outpost::mapping
