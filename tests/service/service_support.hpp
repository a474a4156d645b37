#pragma once
// What the service tests share: a datagram socket standing in for systemd's notify socket, the
// gateway's JSON log lines read back by event, and a site whose replay runs at a steady pace.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "process.hpp"

namespace outpost::test {

// Binds an AF_UNIX datagram socket at `path` and records every datagram with its arrival time;
// point NOTIFY_SOCKET at path() before starting the gateway.
class NotifySocket {
public:
    struct Datagram {
        std::chrono::steady_clock::time_point at;
        std::string text;
    };

    explicit NotifySocket(std::string path) : path_(std::move(path)) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (path_.size() >= sizeof addr.sun_path) throw std::runtime_error("socket path too long: " + path_);
        path_.copy(addr.sun_path, path_.size());
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            throw std::runtime_error("cannot bind " + path_);
        }
        timeval tv{0, 100'000};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        reader_ = std::thread([this] {
            char buf[4096];
            while (!stop_) {
                const auto n = ::recv(fd_, buf, sizeof buf, 0);
                if (n <= 0) continue;
                std::lock_guard lock(mutex_);
                got_.push_back({std::chrono::steady_clock::now(), std::string(buf, static_cast<std::size_t>(n))});
            }
        });
    }
    ~NotifySocket() {
        stop_ = true;
        reader_.join();
        ::close(fd_);
        ::unlink(path_.c_str());
    }
    NotifySocket(const NotifySocket&) = delete;
    NotifySocket& operator=(const NotifySocket&) = delete;

    const std::string& path() const noexcept { return path_; }
    std::vector<Datagram> all() const {
        std::lock_guard lock(mutex_);
        return got_;
    }
    // Datagrams holding the line `assignment` (e.g. "READY=1"), or starting with it ("STATUS=").
    std::vector<Datagram> with(const std::string& assignment) const {
        std::vector<Datagram> out;
        for (const auto& d : all()) {
            std::size_t start = 0;
            while (start <= d.text.size()) {
                auto end = d.text.find('\n', start);
                if (end == std::string::npos) end = d.text.size();
                if (d.text.compare(start, assignment.size(), assignment) == 0) {
                    out.push_back({d.at, d.text.substr(start, end - start)});
                    break;
                }
                start = end + 1;
            }
        }
        return out;
    }

private:
    std::string path_;
    int fd_ = -1;
    std::atomic<bool> stop_{false};
    std::thread reader_;
    mutable std::mutex mutex_;
    std::vector<Datagram> got_;
};

// The gateway's log lines (JSON) with this event, in order.
inline std::vector<nlohmann::json> log_events(const std::string& log_file, const std::string& event) {
    std::vector<nlohmann::json> out;
    std::ifstream in(log_file);
    std::string line;
    while (std::getline(in, line)) {
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_object() && j.value("event", "") == event) out.push_back(std::move(j));
    }
    return out;
}

// A site replaying `log` at `speed` with the mapping at `mapping` (a copy the test may rewrite).
inline std::string write_service_site(const TempDir& dir, const std::string& name, int port, const std::string& log,
                                      const std::string& mapping, const std::string& speed = "5",
                                      const std::string& gateway_id = "test-gw") {
    const std::string bus = log.empty()
                                ? R"({"name": "bms", "type": "candump_replay", "enabled": false, "file": "-"})"
                                : R"({"name": "bms", "type": "candump_replay", "file": ")" + log +
                                      R"(", "speed": )" + speed + "}";
    const std::string text = R"({
  "gateway_id": ")" + gateway_id + R"(",
  "broker": {"host": "127.0.0.1", "port": )" + std::to_string(port) +
                             R"(, "backoff": {"initial_ms": 50, "max_ms": 500}},
  "outbox": {"path": ")" + dir.file("outbox.db") + R"(", "commit_interval_ms": 50},
  "stats_interval_s": 1,
  "buses": [)" + bus + R"(],
  "mappings": [")" + mapping + R"("]
})";
    const auto path = dir.file(name);
    write_file(path, text);
    return path;
}

}  // namespace outpost::test
