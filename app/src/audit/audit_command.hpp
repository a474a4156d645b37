#pragma once
// `outpost audit` (audit_command.cpp): its own option parser, since --topic repeats. `args` starts
// with "audit". Returns the exit code: app::exit_ok when no gap is unexplained,
// app::exit_unexplained_gap when one is, exit_usage, or exit_startup when the broker or the capture
// cannot be read.
#include <string>
#include <vector>

namespace outpost::audit {

int audit_main(const std::vector<std::string>& args);

}  // namespace outpost::audit
