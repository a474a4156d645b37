#include "audit/seq_ranges.hpp"

#include <gtest/gtest.h>

#include <limits>

using outpost::audit::SeqRange;
using outpost::audit::SeqRanges;

namespace {
constexpr auto top = std::numeric_limits<std::uint64_t>::max();
}

TEST(SeqRanges, InOrderValuesMakeOneRangeAndRepeatsAreRefused) {
    SeqRanges s;
    for (std::uint64_t v = 1; v <= 1000; ++v) EXPECT_TRUE(s.insert(v));
    EXPECT_EQ(s.range_count(), 1u);
    EXPECT_FALSE(s.insert(500));
    EXPECT_EQ(s.min(), 1u);
    EXPECT_EQ(s.max(), 1000u);
    EXPECT_TRUE(s.holes().empty());
}

TEST(SeqRanges, HolesAreWhatLiesBetween) {
    SeqRanges s;
    for (const std::uint64_t v : {10u, 3u, 4u, 7u, 1u}) s.insert(v);
    EXPECT_EQ(s.holes(), (std::vector<SeqRange>{{2, 2}, {5, 6}, {8, 9}}));
    s.insert(2);
    s.insert(SeqRange{5, 9});
    EXPECT_EQ(s.range_count(), 1u);
    EXPECT_TRUE(s.contains(6));
    EXPECT_FALSE(s.contains(11));
}

TEST(SeqRanges, OverlappingRangesMerge) {
    SeqRanges s;
    s.insert(SeqRange{10, 20});
    s.insert(SeqRange{30, 40});
    s.insert(SeqRange{15, 35});
    EXPECT_EQ(s.ranges(), (std::vector<SeqRange>{{10, 40}}));
    s.insert(SeqRange{41, 41});  // adjacent
    s.insert(SeqRange{9, 9});
    EXPECT_EQ(s.ranges(), (std::vector<SeqRange>{{9, 41}}));
}

TEST(SeqRanges, UncoveredPartsOfARange) {
    SeqRanges cover;
    cover.insert(SeqRange{5, 10});
    cover.insert(SeqRange{20, 30});
    EXPECT_TRUE(cover.uncovered({6, 9}).empty());
    EXPECT_EQ(cover.uncovered({1, 40}), (std::vector<SeqRange>{{1, 4}, {11, 19}, {31, 40}}));
    EXPECT_EQ(cover.uncovered({8, 22}), (std::vector<SeqRange>{{11, 19}}));
    EXPECT_EQ(SeqRanges{}.uncovered({3, 4}), (std::vector<SeqRange>{{3, 4}}));
}

TEST(SeqRanges, TheEndsOfTheSixtyFourBitRange) {
    SeqRanges s;
    EXPECT_TRUE(s.insert(top));
    EXPECT_TRUE(s.insert(0));
    EXPECT_TRUE(s.insert(top - 1));
    EXPECT_FALSE(s.insert(top));
    EXPECT_EQ(s.holes(), (std::vector<SeqRange>{{1, top - 2}}));
    EXPECT_EQ(s.holes().front().size(), top - 2);
    s.insert(SeqRange{0, top});
    EXPECT_EQ(s.ranges(), (std::vector<SeqRange>{{0, top}}));
    SeqRanges cover;
    cover.insert(SeqRange{top - 5, top});
    EXPECT_EQ(cover.uncovered({top - 10, top}), (std::vector<SeqRange>{{top - 10, top - 6}}));
}
