#pragma once
// What `outpost run` does with each signal that would end (or core-dump) the process by default.
// Sans-I/O: a table, so the choice is tested without sending signals; the gateway catches every
// signal in caught_signals() with one boost::asio::signal_set on its io thread and acts on
// action_for(). SIGPIPE and SIGXFSZ are not caught but ignored outright (main.cpp): a write to a
// closed socket or past the file-size limit then fails with an error code the caller handles.
// Real-time signals and SIGSTKFLT are left at their defaults: nothing here uses or expects them.
#include <span>

namespace outpost::app {

enum class SignalAction {
    shutdown,   // the one clean shutdown path: stop sources, commit, disconnect, exit
    reload,     // re-read the site file and its mappings (reload.cpp)
    log_stats,  // write the counters line now
    ignore,     // logged and otherwise ignored
    test_stall, // test hook only (OUTPOST_TEST_STALL_IO_MS): block the io thread
};

struct SignalPolicy {
    bool reload_on_sighup = true;  // off: SIGHUP stops the gateway like SIGTERM
    bool test_stall_hook = false;  // SIGUSR2 blocks the io thread (tests of the watchdog)
};

// The signals the gateway catches (all of them get an action, none keeps its default).
std::span<const int> caught_signals() noexcept;
SignalAction action_for(int signo, const SignalPolicy& policy) noexcept;
// "SIGTERM" and so on; "signal N" for others.
const char* signal_name(int signo) noexcept;

}  // namespace outpost::app
