#pragma once
// A set of sequence numbers in one flat array (open addressing, linear probing): the outbox's
// acknowledged-but-not-yet-deleted numbers, tens of thousands under a fast drain. 8 bytes a slot
// at most half full, against about 40 a number in a node-based set (RSS is a budget). It shrinks
// again when it empties.
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace outpost::outbox {

class SeqSet {
public:
    // False if `seq` was there already.
    bool insert(std::uint64_t seq) {
        if (seq == 0) return !std::exchange(has_zero_, true);
        if ((size_ + 1) * 2 > slots_.size()) rehash(slots_.empty() ? min_slots : slots_.size() * 2);
        for (std::size_t i = home(seq);; i = (i + 1) & mask_) {
            if (slots_[i] == seq) return false;
            if (slots_[i] == 0) {
                slots_[i] = seq;
                ++size_;
                return true;
            }
        }
    }

    // 1 if `seq` was there.
    std::size_t erase(std::uint64_t seq) {
        if (seq == 0) return std::exchange(has_zero_, false) ? 1 : 0;
        if (size_ == 0) return 0;
        std::size_t i = home(seq);
        while (slots_[i] != seq) {
            if (slots_[i] == 0) return 0;
            i = (i + 1) & mask_;
        }
        // Backward shift: later entries of the same probe run move up, so no tombstones are needed.
        for (std::size_t j = (i + 1) & mask_; slots_[j] != 0; j = (j + 1) & mask_) {
            const std::size_t k = home(slots_[j]);
            const bool movable = i <= j ? (k <= i || k > j) : (k <= i && k > j);
            if (movable) {
                slots_[i] = slots_[j];
                i = j;
            }
        }
        slots_[i] = 0;
        --size_;
        if (slots_.size() > min_slots && size_ * 8 < slots_.size()) rehash(slots_.size() / 2);
        return 1;
    }

    std::size_t count(std::uint64_t seq) const noexcept {
        if (seq == 0) return has_zero_ ? 1 : 0;
        if (size_ == 0) return 0;
        for (std::size_t i = home(seq);; i = (i + 1) & mask_) {
            if (slots_[i] == seq) return 1;
            if (slots_[i] == 0) return 0;
        }
    }

    bool empty() const noexcept { return size_ == 0 && !has_zero_; }
    std::size_t size() const noexcept { return size_ + (has_zero_ ? 1 : 0); }
    std::size_t capacity() const noexcept { return slots_.size(); }

private:
    static constexpr std::size_t min_slots = 64;

    std::size_t home(std::uint64_t seq) const noexcept {
        return static_cast<std::size_t>((seq * 0x9E3779B97F4A7C15ull) >> shift_);  // Fibonacci hashing
    }

    void rehash(std::size_t slots) {
        std::vector<std::uint64_t> old(slots, 0);
        old.swap(slots_);
        mask_ = slots - 1;
        shift_ = 64;
        for (std::size_t n = slots; n > 1; n >>= 1) --shift_;
        size_ = 0;
        for (const auto s : old) {
            if (s == 0) continue;
            std::size_t i = home(s);
            while (slots_[i] != 0) i = (i + 1) & mask_;
            slots_[i] = s;
            ++size_;
        }
    }

    std::vector<std::uint64_t> slots_;  // 0: empty (seq 0 is kept apart)
    std::size_t size_ = 0;
    std::size_t mask_ = 0;
    int shift_ = 64;
    bool has_zero_ = false;
};

}  // namespace outpost::outbox
