#include "outpost/app/pid_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <system_error>

namespace outpost::app {
namespace {

std::optional<pid_t> read_pid(const std::string& path) {
    std::ifstream in(path);
    long long pid = 0;
    if (!(in >> pid) || pid <= 0) return std::nullopt;
    return static_cast<pid_t>(pid);
}

// The process exists and runs a program named outpost (a recycled pid would run something else).
bool is_outpost(pid_t pid) {
    std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    return static_cast<bool>(std::getline(comm, name)) && name == "outpost";
}

}  // namespace

std::string pid_file_path(const std::string& outbox_path) { return outbox_path + ".pid"; }

PidFile::PidFile(std::string path) : path_(std::move(path)) {
    // Written beside and renamed over, so a reader never sees a half-written number.
    const auto tmp = path_ + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << ::getpid() << "\n";
        out.flush();
        if (!out) throw std::system_error(errno, std::generic_category(), "cannot write " + tmp);
    }
    if (std::rename(tmp.c_str(), path_.c_str()) != 0) {
        const int err = errno;
        std::remove(tmp.c_str());
        throw std::system_error(err, std::generic_category(), "cannot create " + path_);
    }
}

PidFile::~PidFile() {
    if (read_pid(path_) == ::getpid()) std::remove(path_.c_str());
}

std::optional<pid_t> running_gateway(const std::string& path, std::string& why) {
    std::ifstream probe(path);
    if (!probe) {
        why = "no gateway is running for this outbox (" + path + " does not exist)";
        return std::nullopt;
    }
    const auto pid = read_pid(path);
    if (!pid) {
        why = path + " does not hold a process id";
        return std::nullopt;
    }
    if (!is_outpost(*pid)) {
        why = path + " is stale: process " + std::to_string(*pid) + " is not a running outpost";
        return std::nullopt;
    }
    return pid;
}

}  // namespace outpost::app
