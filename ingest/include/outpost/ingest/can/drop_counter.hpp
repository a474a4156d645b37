#pragma once
// The kernel's drop counter (SO_RXQ_OVFL) as a running total (Sans-I/O).
#include <cstdint>

namespace outpost::ingest {

// The kernel's drop counter is cumulative per socket and 32 bits wide: turns its readings into a
// 64-bit total, across wrap-around and across reopened sockets (reset() at each open).
class DropCounter {
public:
    // Returns the drops since the previous reading.
    std::uint32_t update(std::uint32_t counter) noexcept {
        const std::uint32_t fresh = counter - last_;  // unsigned wrap is right here
        last_ = counter;
        total_ += fresh;
        return fresh;
    }
    void reset() noexcept { last_ = 0; }
    std::uint64_t total() const noexcept { return total_; }

private:
    std::uint32_t last_ = 0;
    std::uint64_t total_ = 0;
};

}  // namespace outpost::ingest
