#include "outpost/core/wall_clock.hpp"

#include <cstdio>
#include <ctime>

namespace outpost::core {

std::string utc_text(std::int64_t ns, bool with_microseconds) {
    const auto secs = static_cast<std::time_t>(ns / 1'000'000'000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char text[48];
    const auto n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (with_microseconds) {
        std::snprintf(text + n, sizeof text - n, ".%06lldZ", static_cast<long long>((ns % 1'000'000'000) / 1000));
    } else {
        std::snprintf(text + n, sizeof text - n, "Z");
    }
    return text;
}

}  // namespace outpost::core
