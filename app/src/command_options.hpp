#pragma once
// What the subcommands share: the parsed command line and the usage error.
#include <map>
#include <string>

namespace outpost::app {

struct Options {
    std::string command;
    std::string subcommand;
    std::map<std::string, std::string> values;
};

// Prints the error and the usage text; returns exit_usage.
int usage(const std::string& error);

// `outpost decode`: what the mapping makes of a capture (decode_command.cpp).
int decode(const Options& o);

// `outpost reload`: SIGHUP to the gateway running this site's outbox (reload_command.cpp).
int reload_command(const Options& o);

// `outpost outbox peek|export|purge` (outbox_command.cpp).
int outbox_tool(const Options& o);

}  // namespace outpost::app
