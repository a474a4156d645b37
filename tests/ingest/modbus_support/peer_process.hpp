#pragma once
// Child processes, temporary directories and free ports for the Modbus integration tests
// (socat, pymodbus, the libmodbus server, mbpoll). Every process is stopped by its destructor.
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace outpost::test {

class ModbusTempDir {
public:
    ModbusTempDir();
    ~ModbusTempDir();
    ModbusTempDir(const ModbusTempDir&) = delete;
    ModbusTempDir& operator=(const ModbusTempDir&) = delete;
    std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

class PeerProcess {
public:
    PeerProcess() = default;
    // Starts argv[0] (searched in PATH) with stdout and stderr appended to `log`. Throws on failure.
    PeerProcess(const std::vector<std::string>& argv, const std::string& log);
    ~PeerProcess();
    PeerProcess(PeerProcess&& other) noexcept;
    PeerProcess& operator=(PeerProcess&& other) noexcept;
    bool running();
    // SIGTERM, then SIGKILL after `grace`; waits for the exit.
    void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(2000));
    // Waits for the exit; returns the exit status (128 + signal), or -1 on timeout.
    int wait(std::chrono::milliseconds timeout);

private:
    pid_t pid_ = -1;
    int status_ = -1;
};

// A loopback TCP port nothing listens on right now.
int modbus_free_port();
// True once 127.0.0.1:port accepts connections.
bool modbus_port_open(int port);
bool poll_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);
std::string slurp(const std::string& path);

// A pty pair made by socat (pty,raw,echo=0,link=A pty,raw,echo=0,link=B), both links in `dir`.
struct SocatPtyPair {
    SocatPtyPair(const ModbusTempDir& dir, const std::string& name);
    std::string a;
    std::string b;
    PeerProcess socat;
};

// /usr/bin/python3 with Debian's pymodbus (not whatever python3 comes first in PATH).
PeerProcess start_pymodbus(const std::vector<std::string>& args, const std::string& log);
// The libmodbus server built beside the tests (libmodbus_server.cpp).
PeerProcess start_libmodbus(const std::vector<std::string>& args, const std::string& log);

}  // namespace outpost::test
