#include "peer_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace outpost::test {

ModbusTempDir::ModbusTempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "outpost-modbus-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
}

ModbusTempDir::~ModbusTempDir() {
    if (std::getenv("OUTPOST_KEEP_TEST_DIRS")) return;
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

PeerProcess::PeerProcess(const std::vector<std::string>& argv, const std::string& log) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    const int rc = posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        pid_ = -1;
        throw std::runtime_error("cannot start " + argv[0]);
    }
}

PeerProcess::~PeerProcess() { stop(); }

PeerProcess::PeerProcess(PeerProcess&& other) noexcept : pid_(other.pid_), status_(other.status_) { other.pid_ = -1; }

PeerProcess& PeerProcess::operator=(PeerProcess&& other) noexcept {
    if (this != &other) {
        stop();
        pid_ = other.pid_;
        status_ = other.status_;
        other.pid_ = -1;
    }
    return *this;
}

bool PeerProcess::running() {
    if (pid_ <= 0) return false;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
        status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        pid_ = -1;
        return false;
    }
    return true;
}

int PeerProcess::wait(std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (running()) {
        if (std::chrono::steady_clock::now() >= end) return -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return status_;
}

void PeerProcess::stop(std::chrono::milliseconds grace) {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    if (wait(grace) == -1 && pid_ > 0) {
        ::kill(pid_, SIGKILL);
        wait(std::chrono::milliseconds(5000));
    }
}

int modbus_free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        throw std::runtime_error("bind failed");
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

bool modbus_port_open(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

bool poll_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= end) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

SocatPtyPair::SocatPtyPair(const ModbusTempDir& dir, const std::string& name)
    : a(dir.file(name + "-a")), b(dir.file(name + "-b")) {
    socat = PeerProcess({"socat", "pty,raw,echo=0,link=" + a, "pty,raw,echo=0,link=" + b}, dir.file(name + "-socat.log"));
    if (!poll_until([&] { return std::filesystem::exists(a) && std::filesystem::exists(b); }, std::chrono::seconds(10))) {
        throw std::runtime_error("socat did not create the pty pair");
    }
}

PeerProcess start_pymodbus(const std::vector<std::string>& args, const std::string& log) {
    std::vector<std::string> argv{"/usr/bin/python3", std::string(OUTPOST_MODBUS_SUPPORT_DIR) + "/pymodbus_server.py"};
    argv.insert(argv.end(), args.begin(), args.end());
    return PeerProcess(argv, log);
}

PeerProcess start_libmodbus(const std::vector<std::string>& args, const std::string& log) {
    std::vector<std::string> argv{OUTPOST_LIBMODBUS_SERVER};
    argv.insert(argv.end(), args.begin(), args.end());
    return PeerProcess(argv, log);
}

}  // namespace outpost::test
