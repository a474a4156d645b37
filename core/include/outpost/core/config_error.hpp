#pragma once
// Start-up configuration problems. Loaders collect every problem they find (with its JSON path)
// instead of stopping at the first, then throw one ConfigError listing them all.
#include <stdexcept>
#include <string>
#include <vector>

namespace outpost::core {

struct ConfigIssue {
    std::string file;     // the file the problem is in
    std::string path;     // JSON path, e.g. `/broker/port` or `/can/2/signals/0/length`
    std::string message;  // what is wrong, for a person
};

class ConfigIssues {
public:
    void add(std::string file, std::string path, std::string message);
    void append(const ConfigIssues& other);
    bool empty() const noexcept { return issues_.empty(); }
    std::size_t size() const noexcept { return issues_.size(); }
    const std::vector<ConfigIssue>& all() const noexcept { return issues_; }
    // One line per problem: `file: /json/path: message`.
    std::string to_string() const;

private:
    std::vector<ConfigIssue> issues_;
};

class ConfigError : public std::runtime_error {
public:
    explicit ConfigError(ConfigIssues issues);
    const ConfigIssues& issues() const noexcept { return issues_; }

private:
    ConfigIssues issues_;
};

}  // namespace outpost::core
