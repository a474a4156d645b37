#pragma once
// Strict reading of one JSON object from a configuration file. Every accessor records the key as
// known; finish() reports the keys nobody asked for (typos), with a "did you mean" where one is
// close. Problems go into a shared ConfigIssues with their JSON path; nothing throws, so a loader
// can report every problem in one go.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "outpost/core/config_error.hpp"

namespace outpost::core {

class JsonReader {
public:
    // `value` must outlive the reader. If it is not an object, that is reported once and every
    // accessor returns its fallback.
    JsonReader(const nlohmann::json& value, std::string file, std::string path, ConfigIssues& issues);

    const std::string& path() const noexcept { return path_; }
    const std::string& file() const noexcept { return file_; }
    ConfigIssues& issues() const noexcept { return issues_; }
    std::string path_of(std::string_view key) const;
    bool valid() const noexcept { return object_ != nullptr; }
    bool has(std::string_view key);

    std::optional<std::string> require_string(std::string_view key);
    std::string string(std::string_view key, std::string fallback);
    // One of `choices`; reports the allowed ones otherwise.
    std::string choice(std::string_view key, std::string fallback, const std::vector<std::string>& choices);

    std::optional<std::int64_t> require_integer(std::string_view key, std::int64_t min, std::int64_t max);
    std::int64_t integer(std::string_view key, std::int64_t fallback, std::int64_t min, std::int64_t max);
    // An integer given as a JSON number or a string in decimal or 0x-hex ("0x18FF50E5").
    std::optional<std::int64_t> require_id(std::string_view key, std::int64_t min, std::int64_t max);

    std::optional<double> require_number(std::string_view key);
    double number(std::string_view key, double fallback);
    bool boolean(std::string_view key, bool fallback);

    // The raw member (marked known), or nullptr if absent.
    const nlohmann::json* member(std::string_view key);
    // The member if it is an array (absent: nullptr; wrong type: reported, nullptr).
    const nlohmann::json* array(std::string_view key, bool required);

    // A reader for the member `key` when it is present (marked known); nullopt when absent.
    std::optional<JsonReader> child(std::string_view key);

    void issue(std::string_view key, std::string message);
    // Report every key that no accessor asked for.
    void finish();

private:
    const nlohmann::json* find(std::string_view key);

    const nlohmann::json* object_;
    std::string file_;
    std::string path_;
    ConfigIssues& issues_;
    std::vector<std::string> known_;
};

// Parses a JSON file that must hold one object. Every problem is reported in `issues` and yields
// null: a file that cannot be read, is not a regular file or is larger than limits::json_file
// (16 MiB); a syntax error (with line and column); a number beyond a double such as 1e400 (with
// its JSON path); a duplicate key (each one, with its path); nesting deeper than 64 levels; a root
// that is not an object (`null`, an array, ...).
nlohmann::json read_json_file(const std::string& file, ConfigIssues& issues);
// The same for text already in memory; `file` names it in the issues.
nlohmann::json parse_json_text(std::string_view text, const std::string& file, ConfigIssues& issues);

}  // namespace outpost::core
