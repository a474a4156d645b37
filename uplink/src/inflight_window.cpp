#include "outpost/uplink/inflight_window.hpp"

namespace outpost::uplink {

InflightWindow::InflightWindow(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity), slots_(65536) {}

void InflightWindow::add(int mid, std::uint64_t seq, std::uint8_t priority, std::uint32_t stored_bytes) {
    auto& slot = slots_[static_cast<std::uint16_t>(mid)];
    if (slot.seq == 0) ++size_;
    slot = {seq, priority, stored_bytes};
}

std::optional<InflightWindow::Entry> InflightWindow::release(int mid) {
    if (mid <= 0 || mid > 65535) return std::nullopt;
    auto& slot = slots_[static_cast<std::size_t>(mid)];
    if (slot.seq == 0) return std::nullopt;
    Entry e{slot.seq, slot.priority, slot.stored_bytes};
    slot = {};
    --size_;
    return e;
}

void InflightWindow::clear() {
    if (size_ == 0) return;
    for (auto& s : slots_) s = {};
    size_ = 0;
}

}  // namespace outpost::uplink
