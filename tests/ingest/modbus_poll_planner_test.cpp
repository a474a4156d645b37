#include "outpost/ingest/modbus/poll_planner.hpp"

#include <gtest/gtest.h>

namespace outpost::ingest {
namespace {

using core::ModbusTable;
using std::chrono::milliseconds;
constexpr auto hr = ModbusTable::holding_registers;
constexpr auto ir = ModbusTable::input_registers;
constexpr auto co = ModbusTable::coils;

PlannedRead pr(std::uint8_t unit, ModbusTable t, std::uint16_t a, std::uint16_t n, long period = 1000) {
    return {ModbusRead{unit, t, a, n}, milliseconds{period}};
}

TEST(PollPlanner, CoalescesContiguousAndOverlappingRanges) {
    DeviceLimits limits;
    limits.unit = 3;
    const std::vector<WantedRange> ranges{{hr, 10, 2}, {hr, 0, 10}, {hr, 11, 4}, {hr, 15, 1}};
    EXPECT_EQ(plan_reads(limits, ranges), (std::vector<PlannedRead>{pr(3, hr, 0, 16)}));
}

TEST(PollPlanner, ReadsAcrossSmallGapsOnlyWhenAllowed) {
    DeviceLimits limits;
    limits.max_gap_registers = 4;
    const std::vector<WantedRange> ranges{{hr, 0, 2}, {hr, 6, 2}, {hr, 20, 2}};
    EXPECT_EQ(plan_reads(limits, ranges), (std::vector<PlannedRead>{pr(1, hr, 0, 8), pr(1, hr, 20, 2)}));
    limits.allow_gaps = false;
    EXPECT_EQ(plan_reads(limits, ranges),
              (std::vector<PlannedRead>{pr(1, hr, 0, 2), pr(1, hr, 6, 2), pr(1, hr, 20, 2)}));
}

TEST(PollPlanner, RespectsProtocolAndDeviceLimits) {
    DeviceLimits limits;
    // 200 contiguous registers in 2-register values: 125 + 75 with the protocol limit.
    std::vector<WantedRange> ranges;
    for (std::uint16_t a = 0; a < 200; a += 2) ranges.push_back({ir, a, 2});
    auto plan = plan_reads(limits, ranges);
    ASSERT_EQ(plan.size(), 2u);
    EXPECT_EQ(plan[0].read.count, 124);  // a 2-register value is never cut: 124, not 125
    EXPECT_EQ(plan[1].read, (ModbusRead{1, ir, 124, 76}));
    // A device that answers at most 32 registers.
    limits.max_registers = 32;
    plan = plan_reads(limits, ranges);
    ASSERT_EQ(plan.size(), 7u);
    for (const auto& p : plan) EXPECT_LE(p.read.count, 32);
    // A single range longer than the limit is split in chunks of the limit.
    plan = plan_reads(limits, std::vector<WantedRange>{{ir, 1000, 70}});
    EXPECT_EQ(plan, (std::vector<PlannedRead>{pr(1, ir, 1000, 32), pr(1, ir, 1032, 32), pr(1, ir, 1064, 6)}));
}

TEST(PollPlanner, BitsHaveTheirOwnLimitAndGap) {
    DeviceLimits limits;
    limits.max_gap_bits = 100;
    const std::vector<WantedRange> ranges{{co, 0, 1}, {co, 90, 1}, {co, 1000, 1500}, {co, 2700, 100}};
    const auto plan = plan_reads(limits, ranges);
    EXPECT_EQ(plan, (std::vector<PlannedRead>{pr(1, co, 0, 91), pr(1, co, 1000, 1500), pr(1, co, 2700, 100)}));
    limits.max_bits = 2000;
    const auto big = plan_reads(limits, std::vector<WantedRange>{{co, 0, 2000}, {co, 2000, 1}});
    EXPECT_EQ(big, (std::vector<PlannedRead>{pr(1, co, 0, 2000), pr(1, co, 2000, 1)}));
}

TEST(PollPlanner, GroupsByPeriodAndTable) {
    DeviceLimits limits;
    const std::vector<WantedRange> ranges{{hr, 0, 2, milliseconds{5000}}, {hr, 2, 2, milliseconds{100}},
                                          {ir, 0, 2, milliseconds{100}}, {hr, 4, 2, milliseconds{100}}};
    EXPECT_EQ(plan_reads(limits, ranges),
              (std::vector<PlannedRead>{pr(1, hr, 2, 4, 100), pr(1, ir, 0, 2, 100), pr(1, hr, 0, 2, 5000)}));
}

TEST(PollPlanner, ChecksAndSkipsBadInput) {
    DeviceLimits limits;
    limits.unit = 0;
    limits.max_registers = 126;
    const std::vector<WantedRange> ranges{{hr, 0, 0}, {hr, 65535, 2}, {hr, 0, 1, milliseconds{0}},
                                          {static_cast<ModbusTable>(9), 0, 1}, {hr, 5, 1}};
    const auto problems = check_plan(limits, ranges);
    EXPECT_EQ(problems.size(), 6u);
    const auto plan = plan_reads(limits, ranges);
    ASSERT_EQ(plan.size(), 1u);
    EXPECT_EQ(plan[0].read.count, 1);
    EXPECT_TRUE(check_plan(DeviceLimits{}, std::vector<WantedRange>{{hr, 0, 1}}).empty());
}

}  // namespace
}  // namespace outpost::ingest
