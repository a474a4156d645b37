#pragma once
// The service manager's side channel (sd_notify(3) through libsystemd): readiness, status lines,
// reload and stop notices, and watchdog pings. Without NOTIFY_SOCKET (run by hand, in a
// container, in tests) every call does nothing.
// Thread: not thread-safe; called from the io thread (and main before it runs). Never throws;
// a failed send is logged once and otherwise ignored (the manager may have gone away).
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace outpost::app {

class SystemdNotifier {
public:
    // Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from the environment.
    SystemdNotifier();

    bool enabled() const noexcept { return enabled_; }
    // The manager's watchdog timeout for this process (WatchdogSec=), if it asked for pings.
    std::optional<std::chrono::microseconds> watchdog_timeout() const noexcept { return watchdog_; }

    void ready(std::string_view status);
    void status(std::string_view status);
    void reloading(std::string_view status);
    // After a reload: READY=1 again (systemd waits for it after RELOADING=1).
    void reloaded(std::string_view status);
    void stopping(std::string_view status);
    void watchdog_ping();

private:
    void send(const std::string& state);

    bool enabled_ = false;
    std::optional<std::chrono::microseconds> watchdog_;
    bool send_failed_logged_ = false;
    std::string last_status_;
};

}  // namespace outpost::app
