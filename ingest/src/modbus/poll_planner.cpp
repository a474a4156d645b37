#include "outpost/ingest/modbus/poll_planner.hpp"

#include <algorithm>
#include <tuple>

namespace outpost::ingest {

namespace {
std::uint16_t limit_for(const DeviceLimits& limits, core::ModbusTable table) {
    const std::uint16_t device = core::is_bit_table(table) ? limits.max_bits : limits.max_registers;
    return std::clamp<std::uint16_t>(device, 1, modbus_read_limit(table));
}
bool valid_table(core::ModbusTable t) {
    const auto v = static_cast<unsigned>(t);
    return v >= 1 && v <= 4;
}
bool range_ok(const WantedRange& r) {
    return valid_table(r.table) && r.count > 0 && static_cast<std::uint32_t>(r.address) + r.count <= 0x10000u &&
           r.period.count() > 0;
}
}  // namespace

std::vector<std::string> check_plan(const DeviceLimits& limits, std::span<const WantedRange> ranges) {
    std::vector<std::string> problems;
    if (limits.unit < 1 || limits.unit > 247) problems.push_back("unit id must be 1..247");
    if (limits.max_registers < 1 || limits.max_registers > modbus_max_read_registers) {
        problems.push_back("max_registers must be 1..125");
    }
    if (limits.max_bits < 1 || limits.max_bits > modbus_max_read_bits) problems.push_back("max_bits must be 1..2000");
    for (std::size_t i = 0; i < ranges.size(); ++i) {
        const auto& r = ranges[i];
        const std::string where = "range " + std::to_string(i) + ": ";
        if (!valid_table(r.table)) problems.push_back(where + "unknown table");
        if (r.count == 0) problems.push_back(where + "count must be at least 1");
        if (static_cast<std::uint32_t>(r.address) + r.count > 0x10000u) problems.push_back(where + "runs past address 65535");
        if (r.period.count() <= 0) problems.push_back(where + "period must be positive");
    }
    return problems;
}

std::vector<PlannedRead> plan_reads(const DeviceLimits& limits, std::span<const WantedRange> ranges) {
    std::vector<WantedRange> sorted;
    for (const auto& r : ranges) {
        if (range_ok(r)) sorted.push_back(r);
    }
    std::sort(sorted.begin(), sorted.end(), [](const WantedRange& a, const WantedRange& b) {
        return std::tuple(a.period, a.table, a.address, a.count) < std::tuple(b.period, b.table, b.address, b.count);
    });
    std::vector<PlannedRead> out;
    auto emit = [&](core::ModbusTable table, std::chrono::milliseconds period, std::uint32_t begin, std::uint32_t end) {
        const std::uint32_t limit = limit_for(limits, table);
        while (begin < end) {
            const std::uint32_t n = std::min(limit, end - begin);
            out.push_back({ModbusRead{limits.unit, table, static_cast<std::uint16_t>(begin), static_cast<std::uint16_t>(n)}, period});
            begin += n;
        }
    };
    std::size_t i = 0;
    while (i < sorted.size()) {
        const auto table = sorted[i].table;
        const auto period = sorted[i].period;
        const std::uint32_t limit = limit_for(limits, table);
        const std::uint32_t max_gap =
            limits.allow_gaps ? (core::is_bit_table(table) ? limits.max_gap_bits : limits.max_gap_registers) : 0;
        std::uint32_t begin = sorted[i].address;
        std::uint32_t end = begin + sorted[i].count;
        for (++i; i < sorted.size() && sorted[i].table == table && sorted[i].period == period; ++i) {
            const std::uint32_t b = sorted[i].address;
            const std::uint32_t e = b + sorted[i].count;
            const std::uint32_t joined_end = std::max(end, e);
            // Join when the range touches, overlaps or lies within an allowed gap, and the joined
            // block still fits one request. A wanted range is never cut in two (a 32-bit value
            // must come in one block) unless it alone is longer than the limit.
            const bool reachable = b <= end || b - end <= max_gap;
            if (reachable && joined_end - begin <= limit) {
                end = joined_end;
                continue;
            }
            if (e <= end) continue;  // already inside the current (oversized, split) block
            emit(table, period, begin, end);
            begin = b;
            end = e;
        }
        emit(table, period, begin, end);
    }
    return out;
}

}  // namespace outpost::ingest
