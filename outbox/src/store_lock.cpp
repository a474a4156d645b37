#include "store_lock.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "outpost/outbox/outbox_error.hpp"

namespace outpost::outbox {

std::string StoreLock::path_for(const std::string& outbox_path) {
    const std::filesystem::path p(outbox_path);
    return (p.parent_path() / ("." + p.filename().string() + ".lock")).string();
}

StoreLock::StoreLock(const std::string& outbox_path) {
    const auto path = path_for(outbox_path);
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    // flock() works on a descriptor opened read-only too: an existing lock file in a directory
    // that has become read-only still serves.
    if (fd < 0) fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        std::string holder;
        char buf[32] = {};
        if (::pread(fd, buf, sizeof buf - 1, 0) > 0) holder = std::string(buf).substr(0, std::string(buf).find('\n'));
        ::close(fd);
        if (err == EWOULDBLOCK) {
            throw OutboxError("the outbox " + outbox_path + " is in use by another process" +
                                  (holder.empty() ? std::string() : " (pid " + holder + ")") +
                                  " that holds " + path,
                              SQLITE_BUSY);
        }
        throw OutboxError("cannot lock " + path + ": " + std::strerror(err), SQLITE_CANTOPEN);
    }
    // Who holds it, for the message above; best effort (the lock is the flock, not this text).
    const auto pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) == 0) {
        [[maybe_unused]] const auto written = ::pwrite(fd, pid.data(), pid.size(), 0);
    }
    fd_ = fd;
}

StoreLock::~StoreLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

StoreLock& StoreLock::operator=(StoreLock&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = other.fd_;
        other.fd_ = -1;
    }
    return *this;
}

}  // namespace outpost::outbox
