#include "outpost/ingest/can/filter_plan.hpp"

#include <algorithm>
#include <tuple>

namespace outpost::ingest {
namespace {

constexpr std::uint32_t standard_bits = 0x7FFu;
constexpr std::uint32_t extended_bits = 0x1FFFFFFFu;

CanIdFilter normalised(CanIdFilter f, std::uint32_t ignored_low_bits) {
    f.mask &= f.extended ? extended_bits : standard_bits;
    f.mask &= ~ignored_low_bits;
    f.id &= f.mask;
    return f;
}

std::vector<CanIdFilter> distinct(std::span<const CanIdFilter> wanted, unsigned low_bits) {
    const std::uint32_t ignored = low_bits >= 32 ? ~0u : (1u << low_bits) - 1u;
    std::vector<CanIdFilter> out;
    out.reserve(wanted.size());
    for (const auto& f : wanted) out.push_back(normalised(f, ignored));
    const auto order = [](const CanIdFilter& a, const CanIdFilter& b) {
        return std::tie(a.extended, a.mask, a.id) < std::tie(b.extended, b.mask, b.id);
    };
    std::sort(out.begin(), out.end(), order);
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

}  // namespace

const char* to_string(FilterMode mode) noexcept {
    switch (mode) {
        case FilterMode::exact: return "exact";
        case FilterMode::merged: return "merged";
        case FilterMode::none: return "none";
    }
    return "unknown";
}

FilterPlan plan_filters(std::span<const CanIdFilter> wanted, std::size_t limit) {
    FilterPlan plan;
    if (wanted.empty() || limit == 0) return plan;
    plan.filters = distinct(wanted, 0);
    plan.wanted = plan.filters.size();
    if (plan.filters.size() <= limit) {
        plan.mode = FilterMode::exact;
        return plan;
    }
    // At 29 ignored bits at most two filters are left (every standard id, every extended id), so
    // this ends for any limit >= 2; a limit of 1 with both kinds of id ends with no kernel filter.
    for (unsigned bits = 1; bits <= 29; ++bits) {
        auto merged = distinct(wanted, bits);
        if (merged.size() <= limit) {
            plan.mode = FilterMode::merged;
            plan.filters = std::move(merged);
            plan.merged_bits = bits;
            return plan;
        }
    }
    plan.filters.clear();
    return plan;
}

std::string describe(const FilterPlan& plan) {
    switch (plan.mode) {
        case FilterMode::exact: return {};
        case FilterMode::merged:
            return std::to_string(plan.wanted) + " CAN ids/masks exceed the kernel's " +
                   std::to_string(kernel_filter_max) + " filters: merged into " + std::to_string(plan.filters.size()) +
                   " kernel filters ignoring the lowest " + std::to_string(plan.merged_bits) +
                   " id bit(s); frames no rule maps are discarded by the mapper";
        case FilterMode::none:
            // No rule for the bus is not worth a word; rules no filter can carry are.
            return plan.wanted == 0 ? std::string()
                                    : std::string("no kernel filter: every frame is read, the mapper discards "
                                                  "frames no rule maps");
    }
    return {};
}

}  // namespace outpost::ingest
