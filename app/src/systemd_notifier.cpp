#include "outpost/app/systemd_notifier.hpp"

#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <cstring>

#include "outpost/core/log.hpp"

namespace outpost::app {
namespace {

// STATUS= is one line: a newline would end the assignment early.
std::string one_line(std::string_view text) {
    std::string s(text);
    for (auto& c : s) {
        if (c == '\n' || c == '\r') c = ' ';
    }
    return s;
}

}  // namespace

SystemdNotifier::SystemdNotifier() {
    const char* socket = std::getenv("NOTIFY_SOCKET");
    enabled_ = socket != nullptr && *socket != '\0';
    std::uint64_t usec = 0;
    // > 0: WATCHDOG_USEC is set and WATCHDOG_PID (if set) names this process.
    if (enabled_ && sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        watchdog_ = std::chrono::microseconds(static_cast<std::int64_t>(usec));
    }
}

void SystemdNotifier::ready(std::string_view status) {
    last_status_ = one_line(status);
    send("READY=1\nSTATUS=" + last_status_);
}

void SystemdNotifier::status(std::string_view status) {
    auto line = one_line(status);
    if (line == last_status_) return;
    last_status_ = std::move(line);
    send("STATUS=" + last_status_);
}

void SystemdNotifier::reloading(std::string_view status) {
    last_status_ = one_line(status);
    send("RELOADING=1\nSTATUS=" + last_status_);
}

void SystemdNotifier::reloaded(std::string_view status) {
    last_status_ = one_line(status);
    send("READY=1\nSTATUS=" + last_status_);
}

void SystemdNotifier::stopping(std::string_view status) {
    last_status_ = one_line(status);
    send("STOPPING=1\nSTATUS=" + last_status_);
}

void SystemdNotifier::watchdog_ping() {
    if (watchdog_) send("WATCHDOG=1");
}

void SystemdNotifier::send(const std::string& state) {
    if (!enabled_) return;
    const int rc = sd_notify(0, state.c_str());
    if (rc < 0 && !send_failed_logged_) {
        send_failed_logged_ = true;
        core::log_warn("systemd.notify_failed", "could not notify the service manager; further failures are not logged",
                       {{"error", std::strerror(-rc)}});
    }
}

}  // namespace outpost::app
