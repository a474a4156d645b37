// `outpost reload --config SITE.json`: finds the gateway that runs this site's outbox through its
// pid file (pid_file.hpp) and sends it SIGHUP. The reload itself, and every problem a refused
// configuration has, is reported in the gateway's log (and its systemd STATUS=); this command
// checks the new configuration first so that mistakes are also shown here.
#include <csignal>
#include <cstring>
#include <iostream>

#include "command_options.hpp"
#include "outpost/app/commands.hpp"
#include "outpost/app/pid_file.hpp"
#include "outpost/app/site_config.hpp"

namespace outpost::app {

int reload_command(const Options& o) {
    // Throws ConfigError with every problem: the running gateway would refuse it just the same.
    const auto site = load_site_config(o.values.at("--config"));
    std::string why;
    const auto pid = running_gateway(pid_file_path(site.outbox.path), why);
    if (!pid) {
        std::cerr << "outpost: " << why << "\n";
        return exit_startup;
    }
    if (::kill(*pid, SIGHUP) != 0) {
        std::cerr << "outpost: cannot signal process " << *pid << ": " << std::strerror(errno) << "\n";
        return exit_startup;
    }
    std::cout << "outpost: asked gateway " << *pid << " to reload " << site.file
              << " (the result is in its log: reload.done or reload.refused)\n";
    return exit_ok;
}

}  // namespace outpost::app
