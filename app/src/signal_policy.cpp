#include "outpost/app/signal_policy.hpp"

#include <csignal>

#include <array>

namespace outpost::app {
namespace {

// Every signal whose default action ends the process (terminate or core dump) except SIGKILL and
// SIGSTOP (cannot be caught), SIGPIPE and SIGXFSZ (ignored in main), the program-error signals
// (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS: a core dump is the right answer to a
// bug) and SIGSTKFLT and the real-time signals (unused).
constexpr std::array<int, 12> caught = {SIGHUP,  SIGINT,  SIGQUIT,   SIGTERM, SIGUSR1, SIGUSR2,
                                        SIGALRM, SIGXCPU, SIGVTALRM, SIGPROF, SIGIO,   SIGPWR};

}  // namespace

std::span<const int> caught_signals() noexcept { return caught; }

SignalAction action_for(int signo, const SignalPolicy& policy) noexcept {
    switch (signo) {
        case SIGHUP:
            return policy.reload_on_sighup ? SignalAction::reload : SignalAction::shutdown;
        case SIGINT:
        case SIGTERM:
        case SIGQUIT:  // a core dump would lose the staged readings; a clean stop keeps them
        case SIGXCPU:  // the soft CPU limit: the hard one (SIGKILL) follows, stop cleanly before it
        case SIGPWR:   // power failing (a UPS daemon's warning): commit while there is time
            return SignalAction::shutdown;
        case SIGUSR1:
            return SignalAction::log_stats;
        case SIGUSR2:
            return policy.test_stall_hook ? SignalAction::test_stall : SignalAction::ignore;
        default:  // SIGALRM, SIGVTALRM, SIGPROF, SIGIO: nothing here sets timers or async I/O signals
            return SignalAction::ignore;
    }
}

const char* signal_name(int signo) noexcept {
    switch (signo) {
        case SIGHUP: return "SIGHUP";
        case SIGINT: return "SIGINT";
        case SIGQUIT: return "SIGQUIT";
        case SIGTERM: return "SIGTERM";
        case SIGUSR1: return "SIGUSR1";
        case SIGUSR2: return "SIGUSR2";
        case SIGALRM: return "SIGALRM";
        case SIGXCPU: return "SIGXCPU";
        case SIGVTALRM: return "SIGVTALRM";
        case SIGPROF: return "SIGPROF";
        case SIGIO: return "SIGIO";
        case SIGPWR: return "SIGPWR";
        default: return "signal";
    }
}

}  // namespace outpost::app
