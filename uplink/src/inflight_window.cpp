#include "outpost/uplink/inflight_window.hpp"

#include <algorithm>

namespace outpost::uplink {

namespace {

constexpr std::size_t max_slots = 65536;  // every 16-bit packet id: the table can never fill

std::size_t table_size(std::size_t capacity) {
    std::size_t n = 16;
    while (n < 2 * capacity && n < max_slots) n *= 2;
    return n;
}

}  // namespace

InflightWindow::InflightWindow(std::size_t capacity)
    : capacity_(capacity == 0 ? 1 : capacity), mask_(table_size(capacity_) - 1), slots_(mask_ + 1) {}

std::size_t InflightWindow::find(std::uint16_t mid) const noexcept {
    std::size_t i = mid & mask_;
    while (slots_[i].seq != 0 && slots_[i].mid != mid) i = (i + 1) & mask_;
    return i;
}

void InflightWindow::grow() {
    // More in flight than the window (the caller's to prevent): keep the load at most a half.
    std::vector<Slot> old(std::min(slots_.size() * 2, max_slots));
    old.swap(slots_);
    mask_ = slots_.size() - 1;
    for (const auto& s : old) {
        if (s.seq != 0) slots_[find(s.mid)] = s;
    }
}

void InflightWindow::add(int mid, std::uint64_t seq, std::uint8_t priority, std::uint32_t stored_bytes) {
    const auto id = static_cast<std::uint16_t>(mid);
    if (2 * (size_ + 1) > slots_.size() && slots_.size() < max_slots) grow();
    auto& slot = slots_[find(id)];
    if (slot.seq == 0) ++size_;
    slot = {seq, stored_bytes, id, priority};
}

std::optional<InflightWindow::Entry> InflightWindow::release(int mid) {
    if (mid <= 0 || mid > 65535) return std::nullopt;
    std::size_t hole = find(static_cast<std::uint16_t>(mid));
    if (slots_[hole].seq == 0) return std::nullopt;
    const Entry e{slots_[hole].seq, slots_[hole].priority, slots_[hole].stored_bytes};
    slots_[hole] = {};
    --size_;
    // Shift back the entries of the same probe run that the hole would otherwise cut off from
    // their home slot.
    for (std::size_t j = (hole + 1) & mask_; slots_[j].seq != 0; j = (j + 1) & mask_) {
        const std::size_t home = slots_[j].mid & mask_;
        // Stays where it is when its home lies cyclically in (hole, j].
        const bool stays = hole < j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (stays) continue;
        slots_[hole] = slots_[j];
        slots_[j] = {};
        hole = j;
    }
    return e;
}

void InflightWindow::clear() {
    if (size_ == 0) return;
    std::fill(slots_.begin(), slots_.end(), Slot{});
    size_ = 0;
}

}  // namespace outpost::uplink
