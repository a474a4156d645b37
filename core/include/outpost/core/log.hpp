#pragma once
// Logs are for people: one line per event on stderr, either JSON lines (for journald and log
// shippers) or plain text (for a terminal). Each line has an event name, a sentence, and fields.
// Not thread-safe by design: everything logs from the one io_context thread (or before it starts).
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace outpost::core {

enum class LogLevel { debug, info, warn, error };
enum class LogFormat { json, text };

void set_log_level(LogLevel level) noexcept;
void set_log_format(LogFormat format) noexcept;
bool log_enabled(LogLevel level) noexcept;

void log(LogLevel level, std::string_view event, std::string_view message,
         const nlohmann::json& fields = nlohmann::json::object());

inline void log_info(std::string_view event, std::string_view message,
                     const nlohmann::json& fields = nlohmann::json::object()) {
    log(LogLevel::info, event, message, fields);
}
inline void log_warn(std::string_view event, std::string_view message,
                     const nlohmann::json& fields = nlohmann::json::object()) {
    log(LogLevel::warn, event, message, fields);
}
inline void log_error(std::string_view event, std::string_view message,
                      const nlohmann::json& fields = nlohmann::json::object()) {
    log(LogLevel::error, event, message, fields);
}

// For bad data: lets `burst` lines through per `window`, then counts what it holds back and
// reports that count with the next line it lets through.
class LogLimiter {
public:
    explicit LogLimiter(unsigned burst = 10, std::chrono::seconds window = std::chrono::seconds{10})
        : burst_(burst), window_(window) {}

    // True if this occurrence should be logged; `suppressed` receives how many were held back
    // since the last line that was let through.
    bool allow(std::chrono::steady_clock::time_point now, std::uint64_t& suppressed);

private:
    unsigned burst_;
    std::chrono::seconds window_;
    std::chrono::steady_clock::time_point window_start_{};
    unsigned in_window_ = 0;
    std::uint64_t suppressed_ = 0;
};

}  // namespace outpost::core
