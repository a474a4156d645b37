#include "outpost/app/signal_policy.hpp"

#include <csignal>

#include <algorithm>

#include <gtest/gtest.h>

using namespace outpost::app;

TEST(SignalPolicy, EverySignalThatWouldEndTheProcessIsCaughtOrIgnoredInMain) {
    // Default action terminate or core dump (signal(7)), minus SIGKILL/SIGSTOP (uncatchable), the
    // program-error signals (a bug should dump core), SIGPIPE and SIGXFSZ (SIG_IGN in main.cpp)
    // and SIGSTKFLT (unused).
    const auto caught = caught_signals();
    for (int s : {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGXCPU, SIGVTALRM, SIGPROF, SIGIO,
                  SIGPWR}) {
        EXPECT_NE(std::find(caught.begin(), caught.end(), s), caught.end()) << signal_name(s);
    }
}

TEST(SignalPolicy, ShutdownReloadStatsIgnore) {
    const SignalPolicy reload{.reload_on_sighup = true};
    const SignalPolicy no_reload{.reload_on_sighup = false};
    for (int s : {SIGINT, SIGTERM, SIGQUIT, SIGXCPU, SIGPWR}) {
        EXPECT_EQ(action_for(s, reload), SignalAction::shutdown) << signal_name(s);
        EXPECT_EQ(action_for(s, no_reload), SignalAction::shutdown) << signal_name(s);
    }
    EXPECT_EQ(action_for(SIGHUP, reload), SignalAction::reload);
    EXPECT_EQ(action_for(SIGHUP, no_reload), SignalAction::shutdown);
    EXPECT_EQ(action_for(SIGUSR1, reload), SignalAction::log_stats);
    for (int s : {SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGIO}) {
        EXPECT_EQ(action_for(s, reload), SignalAction::ignore) << signal_name(s);
    }
}

TEST(SignalPolicy, TheStallHookExistsOnlyWhenAsked) {
    EXPECT_EQ(action_for(SIGUSR2, SignalPolicy{}), SignalAction::ignore);
    EXPECT_EQ(action_for(SIGUSR2, SignalPolicy{.test_stall_hook = true}), SignalAction::test_stall);
}
