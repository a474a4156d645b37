#include "outpost/core/log.hpp"

#include <cstdio>
#include <ctime>

namespace outpost::core {
namespace {

LogLevel g_level = LogLevel::info;
LogFormat g_format = LogFormat::json;

const char* level_name(LogLevel level) {
    switch (level) {
        case LogLevel::debug: return "debug";
        case LogLevel::info: return "info";
        case LogLevel::warn: return "warn";
        case LogLevel::error: return "error";
    }
    return "info";
}

std::string utc_now() {
    const auto now = std::chrono::system_clock::now();
    const auto secs = std::chrono::system_clock::to_time_t(now);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    return buf;
}

}  // namespace

void set_log_level(LogLevel level) noexcept { g_level = level; }
void set_log_format(LogFormat format) noexcept { g_format = format; }
bool log_enabled(LogLevel level) noexcept { return level >= g_level; }

void log(LogLevel level, std::string_view event, std::string_view message, const nlohmann::json& fields) {
    if (!log_enabled(level)) return;
    std::string line;
    if (g_format == LogFormat::json) {
        nlohmann::json j = {{"ts", utc_now()}, {"level", level_name(level)}, {"event", event}, {"msg", message}};
        if (fields.is_object()) {
            for (const auto& [k, v] : fields.items()) j[k] = v;
        }
        line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
        line = utc_now() + " " + level_name(level) + " " + std::string(event) + ": " + std::string(message);
        if (fields.is_object()) {
            for (const auto& [k, v] : fields.items()) {
                line += " " + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
            }
        }
    }
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

bool LogLimiter::allow(std::chrono::steady_clock::time_point now, std::uint64_t& suppressed) {
    if (now - window_start_ >= window_) {
        window_start_ = now;
        in_window_ = 0;
    }
    if (in_window_ >= burst_) {
        ++suppressed_;
        return false;
    }
    ++in_window_;
    suppressed = suppressed_;
    suppressed_ = 0;
    return true;
}

}  // namespace outpost::core
