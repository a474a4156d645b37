#pragma once
// The gateway's HTTP endpoint (metrics and health), from the site's optional "http" section.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace outpost::app {

struct HttpOptions {
    bool enabled = false;  // off unless the site has an "http" section (then on unless "enabled": false)
    std::string address = "127.0.0.1";
    std::uint16_t port = 9470;  // 0: any free port (the one taken is logged)
    std::size_t max_connections = 8;  // more are accepted and closed at once (counted)
    // Deadline for reading one request (headers included) and for writing its response; an idle
    // keep-alive connection is closed after it too.
    std::chrono::milliseconds request_timeout{5000};
};

}  // namespace outpost::app
