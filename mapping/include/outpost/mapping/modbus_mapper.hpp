#pragma once
// The Modbus half of the mapping engine (Sans-I/O): read responses (core::ModbusBlock) in,
// messages out, with the same body layout, rate control and counters as CAN readings. Bad data
// (a block from a unit no device names, a value the block is too short for, NaN/inf floats,
// out-of-range values) is counted, never thrown. Not thread-safe: one instance per io thread.
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "outpost/core/message.hpp"
#include "outpost/core/modbus_block.hpp"
#include "outpost/mapping/modbus_rule.hpp"
#include "outpost/mapping/rate_control.hpp"

namespace outpost::mapping {

struct ModbusMapperStats {
    std::uint64_t blocks = 0;           // blocks offered
    std::uint64_t unmapped_blocks = 0;  // no device for the block's bus and unit id
    std::uint64_t decode_errors = 0;    // a register the block's data was too short for, a NaN/inf value
    std::uint64_t out_of_range = 0;     // outside the register's minimum/maximum
    std::uint64_t rate_limited = 0;     // decoded but held back by rate control
    std::uint64_t readings = 0;         // messages produced
};

// One decoded register, for dry runs (`outpost decode`) as much as for publishing.
struct ModbusReading {
    const ModbusDeviceRule* device = nullptr;
    const RegisterRule* reg = nullptr;  // reg->spec.type == RegisterType::string: see `text`
    double value = 0;
    std::string text;        // the value of a string register (empty otherwise)
    bool published = false;  // false: held back by rate control
};

class ModbusMapper {
public:
    // Takes the devices as loaded (Mapping::modbus); they live as long as the mapper, so the
    // pointers in ModbusReading stay valid.
    explicit ModbusMapper(std::vector<ModbusDeviceRule> devices);

    // Appends the messages `block` produces to `out` and returns how many it appended. Every
    // register of the device (bus, unit) in the block's table that lies entirely inside
    // [block.address, block.address + block.count) is decoded; registers cut by the block's
    // edges are left for a block that holds them whole.
    std::size_t map(const core::ModbusBlock& block, std::vector<core::Message>& out);
    // Like map(), and also lists every decoded register (published or held back) in `readings`.
    std::size_t map(const core::ModbusBlock& block, std::vector<core::Message>& out,
                    std::vector<ModbusReading>* readings);

    const ModbusMapperStats& stats() const noexcept { return stats_; }
    const std::vector<ModbusDeviceRule>& devices() const noexcept { return devices_; }
    // Blocks from a (bus, unit) no device names, keyed bus << 8 | unit, with their counts; at
    // most max_unmapped_units entries are remembered so hostile traffic cannot grow it.
    static constexpr std::size_t max_unmapped_units = 1024;
    const std::unordered_map<std::uint32_t, std::uint64_t>& unmapped_units() const noexcept { return unmapped_; }

private:
    struct Entry {
        std::uint16_t address = 0;
        std::uint32_t end = 0;  // one past the last register (or bit): up to 65536
        std::uint32_t device = 0;
        std::uint32_t reg = 0;
    };
    struct State {
        RateState rate;
        std::string last_text;  // string registers only
    };
    static std::uint32_t key(std::uint16_t bus, std::uint8_t unit, core::ModbusTable table) noexcept {
        return std::uint32_t{bus} << 16 | std::uint32_t{unit} << 8 | static_cast<std::uint32_t>(table);
    }
    static std::uint32_t unit_key(std::uint16_t bus, std::uint8_t unit) noexcept {
        return std::uint32_t{bus} << 8 | unit;
    }
    bool map_register(const Entry& entry, const core::ModbusBlock& block, std::vector<core::Message>& out,
                      std::vector<ModbusReading>* readings);

    std::vector<ModbusDeviceRule> devices_;
    // (bus, unit, table) -> its registers sorted by address, for a binary search per block.
    std::unordered_map<std::uint32_t, std::vector<Entry>> index_;
    std::unordered_map<std::uint32_t, std::uint32_t> units_;  // (bus, unit) -> device
    std::vector<std::vector<State>> state_;                   // [device][register]
    std::unordered_map<std::uint32_t, std::uint64_t> unmapped_;
    ModbusMapperStats stats_;
};

}  // namespace outpost::mapping
