#pragma once
// The `outpost` subcommands. Each returns the process exit code.
#include <string>
#include <vector>

namespace outpost::app {

// Exit codes, distinct so scripts and systemd can tell them apart.
enum ExitCode : int {
    exit_ok = 0,
    exit_runtime = 1,  // stopped with readings it could not commit (recorded as lost)
    exit_usage = 2,
    exit_config = 3,   // the configuration has problems (all are listed)
    exit_outbox = 4,   // the outbox cannot be opened or created
    exit_startup = 5,  // another start-up failure (a log file missing, ...)
    exit_failure = 6,  // an unexpected error while running; stopped through the normal shutdown
    exit_unexplained_gap = 7,  // `outpost audit`: a gateway's sequence has a gap no loss record explains
};

int command_main(const std::vector<std::string>& args);

}  // namespace outpost::app
