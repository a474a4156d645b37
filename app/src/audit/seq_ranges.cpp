#include "seq_ranges.hpp"

#include <iterator>
#include <limits>

namespace outpost::audit {

namespace {
constexpr auto seq_max = std::numeric_limits<std::uint64_t>::max();
}

bool SeqRanges::insert(std::uint64_t value) {
    if (contains(value)) return false;
    insert(SeqRange{value, value});
    return true;
}

void SeqRanges::insert(SeqRange range) {
    auto first = range.first;
    auto last = range.last;
    // The first range that could touch [first, last]: the one starting at or before first.
    auto it = ranges_.upper_bound(first);
    if (it != ranges_.begin()) {
        const auto prev = std::prev(it);
        if (prev->second == seq_max || prev->second + 1 >= first) it = prev;
    }
    // Swallow every range that overlaps or is adjacent to [first, last].
    while (it != ranges_.end() && (last == seq_max || it->first <= last + 1)) {
        if (it->first < first) first = it->first;
        if (it->second > last) last = it->second;
        it = ranges_.erase(it);
    }
    ranges_.emplace(first, last);
}

bool SeqRanges::contains(std::uint64_t value) const {
    auto it = ranges_.upper_bound(value);
    if (it == ranges_.begin()) return false;
    --it;
    return value <= it->second;
}

std::vector<SeqRange> SeqRanges::ranges() const {
    std::vector<SeqRange> out;
    out.reserve(ranges_.size());
    for (const auto& [first, last] : ranges_) out.push_back({first, last});
    return out;
}

std::vector<SeqRange> SeqRanges::holes() const {
    std::vector<SeqRange> out;
    for (auto it = ranges_.begin(); it != ranges_.end(); ++it) {
        const auto next = std::next(it);
        if (next == ranges_.end()) break;
        out.push_back({it->second + 1, next->first - 1});
    }
    return out;
}

std::vector<SeqRange> SeqRanges::uncovered(SeqRange range) const {
    std::vector<SeqRange> out;
    auto cursor = range.first;  // the first value not yet accounted for
    auto it = ranges_.upper_bound(range.first);
    if (it != ranges_.begin()) --it;
    for (; it != ranges_.end() && it->first <= range.last; ++it) {
        if (it->second < cursor) continue;
        if (it->first > cursor) out.push_back({cursor, it->first - 1});
        if (it->second >= range.last) return out;
        cursor = it->second + 1;
    }
    out.push_back({cursor, range.last});
    return out;
}

}  // namespace outpost::audit
