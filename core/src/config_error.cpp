#include "outpost/core/config_error.hpp"

namespace outpost::core {

void ConfigIssues::add(std::string file, std::string path, std::string message) {
    issues_.push_back({std::move(file), path.empty() ? "/" : std::move(path), std::move(message)});
}

void ConfigIssues::append(const ConfigIssues& other) {
    issues_.insert(issues_.end(), other.issues_.begin(), other.issues_.end());
}

std::string ConfigIssues::to_string() const {
    std::string out;
    for (const auto& i : issues_) {
        out += i.file + ": " + i.path + ": " + i.message + "\n";
    }
    return out;
}

ConfigError::ConfigError(ConfigIssues issues)
    : std::runtime_error(std::to_string(issues.size()) + " configuration problem(s):\n" +
                         issues.to_string()),
      issues_(std::move(issues)) {}

}  // namespace outpost::core
