#pragma once
// How `outpost reload` finds the running gateway: `<outbox path>.pid` (the outbox directory is
// the one place a site already gives the gateway to write, /var/lib/outpost under systemd's
// StateDirectory=), holding the process id in decimal and a newline. Written once the outbox is
// open (the outbox allows one gateway per file), removed at a clean stop. A file left by a
// killed gateway is recognised as stale: its process is gone or is not an `outpost`.
#include <sys/types.h>

#include <optional>
#include <string>

namespace outpost::app {

std::string pid_file_path(const std::string& outbox_path);

class PidFile {
public:
    // Writes this process's id to `path` (replacing a stale file). Throws std::system_error.
    explicit PidFile(std::string path);
    // Removes the file if it still names this process.
    ~PidFile();
    PidFile(const PidFile&) = delete;
    PidFile& operator=(const PidFile&) = delete;

    const std::string& path() const noexcept { return path_; }

private:
    std::string path_;
};

// The id of the running gateway named by `path`, or nullopt with `why` saying what was found
// (no file, unreadable, stale).
std::optional<pid_t> running_gateway(const std::string& path, std::string& why);

}  // namespace outpost::app
