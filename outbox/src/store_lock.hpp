#pragma once
// The claim of one process on an outbox: an exclusive flock() on `.<name>.lock` beside the file,
// held for as long as the process has the store open. The gateway is the store's single writer,
// and `outpost outbox purge` changes the store behind nobody's back: each takes this lock, so a
// purge refuses while a gateway runs and a second gateway refuses to start on the same store.
// The kernel releases the lock when the process ends, however it ends (no stale lock files).
#include <string>

namespace outpost::outbox {

class StoreLock {
public:
    StoreLock() = default;
    // Takes the lock without waiting. Throws OutboxError (SQLITE_BUSY) if another process holds it,
    // naming that process. Where no lock file can be created or opened (a read-only directory,
    // which no writer can use either) it holds nothing and says so through held().
    explicit StoreLock(const std::string& outbox_path);
    ~StoreLock();
    StoreLock(StoreLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    StoreLock& operator=(StoreLock&& other) noexcept;
    StoreLock(const StoreLock&) = delete;
    StoreLock& operator=(const StoreLock&) = delete;

    bool held() const noexcept { return fd_ >= 0; }
    static std::string path_for(const std::string& outbox_path);

private:
    int fd_ = -1;
};

}  // namespace outpost::outbox
