#include "outpost/ingest/ingest_gate.hpp"

#include <utility>

#include <boost/asio/post.hpp>

namespace outpost::ingest {

void IngestGate::shut() noexcept {
    if (!open_) return;
    open_ = false;
    ++shuts_;
}

void IngestGate::open() {
    open_ = true;
    auto waiting = std::exchange(waiting_, {});
    for (auto& resume : waiting) boost::asio::post(io_, std::move(resume));
}

void IngestGate::wait(std::function<void()> resume) {
    if (open_) {
        boost::asio::post(io_, std::move(resume));
        return;
    }
    waiting_.push_back(std::move(resume));
}

}  // namespace outpost::ingest
