#pragma once
// Looks for one configuration problem by JSON path and a piece of its message.
#include <string>

#include "outpost/core/config_error.hpp"

namespace outpost::test {

inline bool has_issue(const core::ConfigIssues& issues, const std::string& path, const std::string& text) {
    for (const auto& i : issues.all()) {
        if (i.path == path && i.message.find(text) != std::string::npos) return true;
    }
    return false;
}

}  // namespace outpost::test
