#include "outpost/uplink/inflight_window.hpp"

#include <algorithm>

namespace outpost::uplink {

namespace {

constexpr std::size_t max_slots = 65536;  // one for every 16-bit packet id

std::size_t table_size(std::size_t capacity) {
    std::size_t n = 16;
    while (n < 2 * capacity && n < max_slots) n *= 2;
    return n;
}

}  // namespace

InflightWindow::InflightWindow(std::size_t capacity)
    : capacity_(capacity == 0 ? 1 : capacity), mask_(table_size(capacity_) - 1), slots_(mask_ + 1) {}

void InflightWindow::add(int mid, std::uint64_t seq, std::uint8_t priority, std::uint32_t stored_bytes) {
    const auto id = static_cast<std::uint16_t>(mid);
    const Slot entry{seq, stored_bytes, id, priority};
    auto& slot = slots_[id & mask_];
    if (slot.seq == 0 || slot.mid == id) {
        if (slot.seq == 0) ++size_;
        slot = entry;
        return;
    }
    if (overflow_.insert_or_assign(id, entry).second) ++size_;
}

std::optional<InflightWindow::Entry> InflightWindow::release(int mid) {
    if (mid <= 0 || mid > 65535) return std::nullopt;
    const auto id = static_cast<std::uint16_t>(mid);
    auto& slot = slots_[id & mask_];
    if (slot.seq != 0 && slot.mid == id) {
        const Entry e{slot.seq, slot.priority, slot.stored_bytes};
        slot = {};
        --size_;
        return e;
    }
    if (overflow_.empty()) return std::nullopt;
    const auto it = overflow_.find(id);
    if (it == overflow_.end()) return std::nullopt;
    const Entry e{it->second.seq, it->second.priority, it->second.stored_bytes};
    overflow_.erase(it);
    --size_;
    return e;
}

void InflightWindow::clear() {
    if (size_ == 0) return;
    std::fill(slots_.begin(), slots_.end(), Slot{});
    overflow_.clear();
    size_ = 0;
}

}  // namespace outpost::uplink
