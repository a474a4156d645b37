#include "outpost/ingest/can/filter_plan.hpp"

#include <set>

#include <gtest/gtest.h>

using namespace outpost::ingest;

namespace {

// What a plan lets through, by brute force over every standard id.
bool passes(const FilterPlan& plan, std::uint32_t id, bool extended) {
    if (plan.mode == FilterMode::none) return true;
    for (const auto& f : plan.filters) {
        if (f.extended == extended && (id & f.mask) == (f.id & f.mask)) return true;
    }
    return false;
}

std::vector<CanIdFilter> standard_ids(std::uint32_t first, std::uint32_t step, std::size_t count) {
    std::vector<CanIdFilter> out;
    for (std::size_t i = 0; i < count; ++i) out.push_back({first + static_cast<std::uint32_t>(i) * step, 0x7FF, false});
    return out;
}

}  // namespace

TEST(FilterPlan, NoRulesMeansNoKernelFilter) {
    const auto plan = plan_filters({});
    EXPECT_EQ(plan.mode, FilterMode::none);
    EXPECT_TRUE(plan.filters.empty());
    EXPECT_EQ(describe(plan), "");
}

TEST(FilterPlan, UpToTheKernelLimitEveryRuleGetsItsOwnFilter) {
    auto wanted = standard_ids(0x100, 1, 512);
    wanted.push_back({0x100, 0x7FF, false});  // a duplicate does not count twice
    const auto plan = plan_filters(wanted);
    EXPECT_EQ(plan.mode, FilterMode::exact);
    EXPECT_EQ(plan.filters.size(), 512u);
    EXPECT_EQ(plan.wanted, 512u);
    EXPECT_EQ(describe(plan), "");
}

TEST(FilterPlan, FiltersAreNormalised) {
    const std::vector<CanIdFilter> wanted = {{0xFFFF, 0xFFFF, false},                // standard: 11 bits
                                             {0x18FEF1A3, 0x3FFFF00, true},          // J1939 PGN, any source
                                             {0xFFFFFFFF, 0xFFFFFFFF, true}};        // extended: 29 bits
    const auto plan = plan_filters(wanted);
    ASSERT_EQ(plan.filters.size(), 3u);
    EXPECT_EQ(plan.filters[0], (CanIdFilter{0x7FF, 0x7FF, false}));
    EXPECT_EQ(plan.filters[1], (CanIdFilter{0x00FEF100, 0x3FFFF00, true}));
    EXPECT_EQ(plan.filters[2], (CanIdFilter{0x1FFFFFFF, 0x1FFFFFFF, true}));
}

TEST(FilterPlan, AboveTheLimitFiltersAreMergedAndStillPassEveryMappedId) {
    // 600 rules on even ids: one low bit merges nothing (each pair holds one mapped id), two do.
    const auto wanted = standard_ids(0x100, 2, 600);
    const auto plan = plan_filters(wanted);
    EXPECT_EQ(plan.mode, FilterMode::merged);
    EXPECT_EQ(plan.merged_bits, 2u);
    EXPECT_EQ(plan.filters.size(), 300u);
    EXPECT_LE(plan.filters.size(), kernel_filter_max);
    EXPECT_EQ(plan.wanted, 600u);
    std::set<std::uint32_t> mapped;
    for (const auto& f : wanted) mapped.insert(f.id);
    std::size_t extra = 0;
    for (std::uint32_t id = 0; id <= 0x7FF; ++id) {
        if (mapped.count(id)) {
            EXPECT_TRUE(passes(plan, id, false)) << std::hex << id;
        } else if (passes(plan, id, false)) {
            ++extra;
        }
        EXPECT_FALSE(passes(plan, id, true)) << "no extended rule";
    }
    EXPECT_EQ(extra, 600u) << "each merged filter passes its two odd neighbours";
    EXPECT_FALSE(passes(plan, 0x7F0, false)) << "ids far from every rule stay out";
    const auto text = describe(plan);
    EXPECT_NE(text.find("600 CAN ids/masks exceed the kernel's 512 filters: merged into 300 kernel filters"),
              std::string::npos) << text;
}

TEST(FilterPlan, ExtendedIdsMergeOnTheirLowBits) {
    // A J1939 network: 100 PGNs, each from 8 source addresses = 800 exact filters.
    std::vector<CanIdFilter> wanted;
    for (std::uint32_t pgn = 0; pgn < 100; ++pgn) {
        for (std::uint32_t sa = 0; sa < 8; ++sa) wanted.push_back({0x18000000 | ((0xF000 + pgn) << 8) | (sa * 16), 0x1FFFFFFF, true});
    }
    const auto plan = plan_filters(wanted);
    EXPECT_EQ(plan.mode, FilterMode::merged);
    EXPECT_LE(plan.filters.size(), kernel_filter_max);
    for (const auto& f : wanted) EXPECT_TRUE(passes(plan, f.id, true)) << std::hex << f.id;
    EXPECT_FALSE(passes(plan, 0x18AAAA00, true));
}

TEST(FilterPlan, AnyNumberOfRulesEndsWithinTheLimit) {
    std::vector<CanIdFilter> wanted = standard_ids(0, 1, 2048);
    for (std::uint32_t i = 0; i < 100'000; ++i) wanted.push_back({i * 5347u, 0x1FFFFFFF, true});
    for (const std::size_t limit : {std::size_t{512}, std::size_t{16}, std::size_t{2}}) {
        const auto plan = plan_filters(wanted, limit);
        EXPECT_EQ(plan.mode, FilterMode::merged);
        EXPECT_LE(plan.filters.size(), limit);
        for (std::uint32_t i = 0; i < 100'000; i += 997) EXPECT_TRUE(passes(plan, i * 5347u, true));
        for (std::uint32_t id = 0; id <= 0x7FF; ++id) EXPECT_TRUE(passes(plan, id, false));
    }
    // One filter for both kinds of id cannot be had: no kernel filter at all.
    const auto plan = plan_filters(wanted, 1);
    EXPECT_EQ(plan.mode, FilterMode::none);
    EXPECT_TRUE(plan.filters.empty());
    EXPECT_NE(describe(plan).find("no kernel filter"), std::string::npos);
}
