#pragma once
// A set of sequence numbers in one flat array (open addressing, linear probing): the outbox's
// acknowledged-but-not-yet-deleted numbers, up to a hundred thousand under a fast drain. Each slot
// holds one block of 64 consecutive numbers as a bitmask, so a drain's dense numbers cost a
// quarter of a byte each and scattered ones 32 bytes (slots at most half full), against about 40
// a number in a node-based set (RSS is a budget). It shrinks again as it empties.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace outpost::outbox {

class SeqSet {
public:
    // False if `seq` was there already.
    bool insert(std::uint64_t seq) {
        if ((used_ + 1) * 2 > slots_.size()) rehash(slots_.empty() ? min_slots : slots_.size() * 2);
        const std::uint64_t key = key_of(seq);
        const std::uint64_t bit = bit_of(seq);
        for (std::size_t i = home(key);; i = (i + 1) & mask_) {
            Slot& s = slots_[i];
            if (s.key == key) {
                if (s.bits & bit) return false;
                s.bits |= bit;
                ++size_;
                return true;
            }
            if (s.key == 0) {
                s = {key, bit};
                ++used_;
                ++size_;
                return true;
            }
        }
    }

    // 1 if `seq` was there.
    std::size_t erase(std::uint64_t seq) {
        if (size_ == 0) return 0;
        const std::uint64_t key = key_of(seq);
        const std::uint64_t bit = bit_of(seq);
        std::size_t i = home(key);
        while (slots_[i].key != key) {
            if (slots_[i].key == 0) return 0;
            i = (i + 1) & mask_;
        }
        if (!(slots_[i].bits & bit)) return 0;
        --size_;
        if ((slots_[i].bits &= ~bit) != 0) return 1;
        // The block emptied. Backward shift: later slots of the same probe run move up, so no
        // tombstones are needed.
        for (std::size_t j = (i + 1) & mask_; slots_[j].key != 0; j = (j + 1) & mask_) {
            const std::size_t k = home(slots_[j].key);
            const bool movable = i <= j ? (k <= i || k > j) : (k <= i && k > j);
            if (movable) {
                slots_[i] = slots_[j];
                i = j;
            }
        }
        slots_[i] = {};
        --used_;
        if (slots_.size() > min_slots && used_ * 8 < slots_.size()) rehash(slots_.size() / 2);
        return 1;
    }

    std::size_t count(std::uint64_t seq) const noexcept {
        if (size_ == 0) return 0;
        const std::uint64_t key = key_of(seq);
        for (std::size_t i = home(key);; i = (i + 1) & mask_) {
            if (slots_[i].key == key) return (slots_[i].bits & bit_of(seq)) != 0 ? 1 : 0;
            if (slots_[i].key == 0) return 0;
        }
    }

    bool empty() const noexcept { return size_ == 0; }
    std::size_t size() const noexcept { return size_; }
    // Slots (blocks of 64 numbers) the table has room for.
    std::size_t capacity() const noexcept { return slots_.size(); }

private:
    struct Slot {
        std::uint64_t key = 0;   // block number + 1; 0: empty
        std::uint64_t bits = 0;  // which of the block's 64 numbers are in the set
    };
    static constexpr std::size_t min_slots = 16;

    static std::uint64_t key_of(std::uint64_t seq) noexcept { return (seq >> 6) + 1; }
    static std::uint64_t bit_of(std::uint64_t seq) noexcept { return std::uint64_t{1} << (seq & 63); }

    std::size_t home(std::uint64_t key) const noexcept {
        return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);  // Fibonacci hashing
    }

    void rehash(std::size_t slots) {
        std::vector<Slot> old(slots);
        old.swap(slots_);
        mask_ = slots - 1;
        shift_ = 64 - std::countr_zero(slots);
        for (const auto& s : old) {
            if (s.key == 0) continue;
            std::size_t i = home(s.key);
            while (slots_[i].key != 0) i = (i + 1) & mask_;
            slots_[i] = s;
        }
    }

    std::vector<Slot> slots_;
    std::size_t used_ = 0;  // slots holding a block
    std::size_t size_ = 0;  // numbers
    std::size_t mask_ = 0;
    int shift_ = 64;
};

}  // namespace outpost::outbox
