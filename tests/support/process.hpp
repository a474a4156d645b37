#pragma once
// Test helpers that run real programs: a child process with its output in a file, a free
// loopback port, a temporary directory. Used by the tests that start mosquitto, mosquitto_sub
// and the outpost binary.
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace outpost::test {

class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const noexcept { return path_; }
    std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

// A port nothing listens on right now (bound then released by the kernel's choice).
int free_port();
// True once something accepts TCP connections on 127.0.0.1:port.
bool wait_for_port(int port, std::chrono::milliseconds timeout);

class Process {
public:
    Process() = default;
    // Starts `argv` with stdout and stderr appended to `log_file`. Throws on failure to spawn.
    Process(const std::vector<std::string>& argv, const std::string& log_file);
    ~Process();
    Process(Process&& other) noexcept;
    Process& operator=(Process&& other) noexcept;

    pid_t pid() const noexcept { return pid_; }
    bool running();
    void signal(int signo);
    // Waits for the exit and returns the exit status (128+signal if killed); -1 on timeout.
    int wait(std::chrono::milliseconds timeout);
    // SIGTERM, then SIGKILL after `grace`.
    void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));

private:
    pid_t pid_ = -1;
    int status_ = -1;
};

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& text);
// Polls `done` every 20 ms until it returns true or the timeout passes.
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);
// Runs a command to completion, returns its exit status; output appended to `log_file`.
int run(const std::vector<std::string>& argv, const std::string& log_file,
        std::chrono::milliseconds timeout = std::chrono::milliseconds(60000));

// Paths baked in by CMake.
std::string outpost_binary();
std::string source_dir();

}  // namespace outpost::test
