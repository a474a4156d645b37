#include "commit_worker.hpp"

#include <cstdlib>
#include <utility>

namespace outpost::outbox {

CommitWorker::CommitWorker() {
    // The thread allocates before the constructor returns: with malloc's arenas limited (app's
    // main()), the first helper thread to allocate gets an arena of its own, and this thread
    // allocates for every row it writes. Started first, it is that thread.
    bool claimed = false;
    thread_ = std::thread([this, &claimed] {
        {
            void* volatile first = std::malloc(64);  // volatile: the call is made, not folded away
            std::free(first);
            std::lock_guard lock(mutex_);
            claimed = true;
        }
        cv_.notify_all();
        loop();
    });
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&claimed] { return claimed; });
}

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

std::chrono::nanoseconds CommitWorker::busy() const {
    std::lock_guard lock(mutex_);
    return busy_;
}

void CommitWorker::loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
        cv_.wait(lock, [this] { return stop_ || (pending_ && work_); });
        if (stop_ && !pending_) return;
        auto work = std::move(work_);
        work_ = nullptr;
        lock.unlock();
        const auto start = std::chrono::steady_clock::now();
        work();
        const auto took = std::chrono::steady_clock::now() - start;
        lock.lock();
        busy_ += std::chrono::duration_cast<std::chrono::nanoseconds>(took);
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
