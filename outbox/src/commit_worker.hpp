#pragma once
// The outbox's writer thread: runs one commit at a time off the owner's thread, so the owner (the
// io_context thread) never waits on SQLite's inserts and fsync while a commit is on its way.
//
// One piece of work at a time: submit() when idle, then finished() (or wait()) before the next.
// The listener, if set, is called on the writer thread after each piece of work; it must only
// hand a notification over to the owner (post to its event loop), never touch the outbox.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace outpost::outbox {

class CommitWorker {
public:
    CommitWorker();
    ~CommitWorker();
    CommitWorker(const CommitWorker&) = delete;
    CommitWorker& operator=(const CommitWorker&) = delete;

    void set_listener(std::function<void()> listener);
    // Precondition: no work in flight (finished() is true).
    void submit(std::function<void()> work);
    // True when the last submitted work has completed (or none was submitted); what it wrote is
    // then visible to the caller.
    bool finished() const;
    void wait() const;
    // Time spent in submitted work since construction: how close the disk writer is to full.
    std::chrono::nanoseconds busy() const;

private:
    void loop();

    mutable std::mutex mutex_;
    mutable std::condition_variable cv_;
    std::function<void()> work_;
    std::function<void()> listener_;
    bool pending_ = false;
    bool stop_ = false;
    std::chrono::nanoseconds busy_{0};
    std::thread thread_;
};

}  // namespace outpost::outbox
