#pragma once
// Checks an outbox file in the background (`PRAGMA quick_check` on its own read-only connection),
// so that damage in a store that was shut down cleanly is found without stalling the io thread.
//
// Thread: start(), poll() and the destructor are called by the outbox's owner; the check runs on
// a thread of its own, which the destructor interrupts and joins.
#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace outpost::outbox {

class IntegrityChecker {
public:
    IntegrityChecker() = default;
    ~IntegrityChecker();
    IntegrityChecker(const IntegrityChecker&) = delete;
    IntegrityChecker& operator=(const IntegrityChecker&) = delete;

    // Starts a check of `path` unless one is running.
    void start(const std::string& path);
    // Interrupts a running check and waits for its thread.
    void stop() noexcept;
    bool running() const noexcept { return running_.load(); }
    // After a check finished: nullopt if the file is sound, else what was wrong. Each result is
    // returned once; nothing while a check runs or when none finished since the last poll.
    std::optional<std::optional<std::string>> poll();

private:
    std::thread thread_;
    std::atomic<bool> running_{false};
    std::atomic<bool> finished_{false};
    std::atomic<bool> cancel_{false};
    std::mutex db_mutex_;  // guards db_: stop() interrupts the connection while it is open
    void* db_ = nullptr;
    std::optional<std::string> problem_;  // written by the thread before finished_ is set
};

}  // namespace outpost::outbox
