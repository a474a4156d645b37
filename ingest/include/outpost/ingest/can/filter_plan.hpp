#pragma once
// Kernel CAN filters from the ids a mapping uses (Sans-I/O, no kernel headers).
//
// Linux takes at most 512 filters per raw socket (CAN_RAW_FILTER_MAX) and refuses more with EINVAL,
// so a mapping with more rules than that (an imported vehicle or J1939 DBC with "messages": "*")
// cannot be given one filter per rule. plan_filters() then merges filters: it ignores the lowest
// id bits of every filter, one more bit at a time, until the distinct filters left fit. A merged
// filter lets through a few ids no rule maps; the mapper discards those and counts them as
// unmapped, so merging costs a little CPU and never a reading.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace outpost::ingest {

struct CanIdFilter {
    std::uint32_t id = 0;
    std::uint32_t mask = 0x7FF;  // bits of `id` that must match
    bool extended = false;

    friend bool operator==(const CanIdFilter&, const CanIdFilter&) = default;
};

// CAN_RAW_FILTER_MAX in <linux/can/raw.h> (checked against it where the kernel header is included).
inline constexpr std::size_t kernel_filter_max = 512;

enum class FilterMode {
    exact,   // one kernel filter per distinct rule id/mask
    merged,  // more rules than the kernel takes: filters merged by ignoring low id bits
    none,    // no kernel filtering: the mapping has no rules for this bus (receive everything)
};
const char* to_string(FilterMode mode) noexcept;

struct FilterPlan {
    FilterMode mode = FilterMode::none;
    std::vector<CanIdFilter> filters;  // what the kernel gets; empty for FilterMode::none
    std::size_t wanted = 0;            // distinct filters the rules asked for
    unsigned merged_bits = 0;          // low id bits ignored by every filter (FilterMode::merged)
};

// Distinct, normalised (id & mask, mask limited to 11 or 29 bits) filters, at most `limit` of them.
// Deterministic: the same rules give the same plan. Linear-logarithmic in the number of rules.
FilterPlan plan_filters(std::span<const CanIdFilter> wanted, std::size_t limit = kernel_filter_max);

// One sentence for logs and `outpost check` when the rules could not be given to the kernel one by
// one ("" when they could, or when there are none).
std::string describe(const FilterPlan& plan);

}  // namespace outpost::ingest
