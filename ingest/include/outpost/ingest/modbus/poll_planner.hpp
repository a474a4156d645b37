#pragma once
// Poll planning (Sans-I/O, pure): turns what the mapping wants from one device (ranges of
// registers or bits, each with a poll period) into as few read requests as the protocol and the
// device allow. Ranges of the same table and period are sorted and coalesced when they touch or
// overlap, and across an unused gap of at most max_gap registers (or bits) when the device allows
// reading addresses nobody asked for; no request exceeds the device's limit (itself at most 125
// registers or 2000 bits). A wanted range is never split across two requests (a 32-bit value
// must arrive in one block) unless it alone is longer than the limit; then it is cut into chunks
// of the limit. Ranges that cannot be joined within the limit may overlap the previous request.
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "outpost/core/modbus_block.hpp"
#include "outpost/ingest/modbus/pdu.hpp"

namespace outpost::ingest {

struct WantedRange {
    core::ModbusTable table = core::ModbusTable::holding_registers;
    std::uint16_t address = 0;  // 0-based protocol address
    std::uint16_t count = 1;    // registers or bits
    std::chrono::milliseconds period{1000};
};

struct DeviceLimits {
    std::uint8_t unit = 1;                                   // 1..247
    std::uint16_t max_registers = modbus_max_read_registers;  // per request, 1..125
    std::uint16_t max_bits = modbus_max_read_bits;            // per request, 1..2000
    bool allow_gaps = true;             // may read addresses nobody asked for (some devices refuse them)
    std::uint16_t max_gap_registers = 8;  // read across at most this many unused registers
    std::uint16_t max_gap_bits = 64;      // ... or unused bits
};

struct PlannedRead {
    ModbusRead read;
    std::chrono::milliseconds period{1000};
    bool operator==(const PlannedRead&) const = default;
};

// Problems with a device's limits or ranges, one sentence each (empty when all is well). For
// start-up validation; plan_reads() skips what this reports.
std::vector<std::string> check_plan(const DeviceLimits& limits, std::span<const WantedRange> ranges);

// The reads for one device, grouped by period (shortest first), then table, then address.
std::vector<PlannedRead> plan_reads(const DeviceLimits& limits, std::span<const WantedRange> ranges);

}  // namespace outpost::ingest
