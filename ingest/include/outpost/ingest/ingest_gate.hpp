#pragma once
// Back-pressure from the outbox's writer to the sources that can outrun it (CAN readers and log
// replays). While the gate is shut, such a source reads nothing more and leaves a way to resume
// here; the io thread meanwhile serves everything else, the drain above all, instead of waiting
// for the disk. Opening the gate posts every resumption. What a held CAN socket cannot keep is
// the kernel's to drop, and counted as its drops.
#include <cstdint>
#include <functional>
#include <vector>

#include <boost/asio/io_context.hpp>

namespace outpost::ingest {

class IngestGate {
public:
    explicit IngestGate(boost::asio::io_context& io) : io_(io) {}
    IngestGate(const IngestGate&) = delete;
    IngestGate& operator=(const IngestGate&) = delete;

    bool is_open() const noexcept { return open_; }
    // Holds the sources back from their next read on.
    void shut() noexcept;
    // Lets them go on: each waiting source's resumption is posted, in the order they came.
    void open();
    // A source found the gate shut: `resume` is posted when it opens (at once if it is open).
    void wait(std::function<void()> resume);

    // Times the gate was shut (each a commit the sources outran).
    std::uint64_t shuts() const noexcept { return shuts_; }
    std::size_t waiting() const noexcept { return waiting_.size(); }

private:
    boost::asio::io_context& io_;
    std::vector<std::function<void()>> waiting_;
    bool open_ = true;
    std::uint64_t shuts_ = 0;
};

}  // namespace outpost::ingest
