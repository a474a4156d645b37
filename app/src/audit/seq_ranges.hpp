#pragma once
// A set of sequence numbers kept as disjoint closed ranges [first, last]: a stream that arrives
// mostly in order costs one range, whatever its length, and every value up to UINT64_MAX works.
#include <cstdint>
#include <map>
#include <vector>

namespace outpost::audit {

struct SeqRange {
    std::uint64_t first = 0;
    std::uint64_t last = 0;                                           // inclusive
    std::uint64_t size() const noexcept { return last - first + 1; }  // 0 for the whole 64-bit range
    friend bool operator==(const SeqRange&, const SeqRange&) = default;
};

class SeqRanges {
public:
    // Adds one value; false if it was already in the set.
    bool insert(std::uint64_t value);
    // Adds a range (first <= last), merging with what it touches or overlaps.
    void insert(SeqRange range);
    bool contains(std::uint64_t value) const;
    bool empty() const noexcept { return ranges_.empty(); }
    std::uint64_t min() const { return ranges_.begin()->first; }  // not empty
    std::uint64_t max() const { return ranges_.rbegin()->second; }

    // The holes between min() and max(), in order.
    std::vector<SeqRange> holes() const;
    // The parts of `range` that this set does not cover, in order.
    std::vector<SeqRange> uncovered(SeqRange range) const;
    std::size_t range_count() const noexcept { return ranges_.size(); }
    // The ranges themselves, in order.
    std::vector<SeqRange> ranges() const;

private:
    std::map<std::uint64_t, std::uint64_t> ranges_;  // first -> last, disjoint and not adjacent
};

}  // namespace outpost::audit
