#include "commit_worker.hpp"

#include <utility>

namespace outpost::outbox {

CommitWorker::CommitWorker() : thread_([this] { loop(); }) {}

CommitWorker::~CommitWorker() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

void CommitWorker::set_listener(std::function<void()> listener) {
    std::lock_guard lock(mutex_);
    listener_ = std::move(listener);
}

void CommitWorker::submit(std::function<void()> work) {
    {
        std::lock_guard lock(mutex_);
        work_ = std::move(work);
        pending_ = true;
    }
    cv_.notify_all();
}

bool CommitWorker::finished() const {
    std::lock_guard lock(mutex_);
    return !pending_;
}

void CommitWorker::wait() const {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return !pending_; });
}

void CommitWorker::loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
        cv_.wait(lock, [this] { return stop_ || (pending_ && work_); });
        if (stop_ && !pending_) return;
        auto work = std::move(work_);
        work_ = nullptr;
        lock.unlock();
        work();
        lock.lock();
        pending_ = false;
        auto listener = listener_;
        cv_.notify_all();
        if (listener) {
            lock.unlock();
            listener();
            lock.lock();
        }
        if (stop_) return;
    }
}

}  // namespace outpost::outbox
