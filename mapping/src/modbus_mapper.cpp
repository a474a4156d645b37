#include "outpost/mapping/modbus_mapper.hpp"

#include <algorithm>
#include <cmath>

#include "outpost/mapping/json_body.hpp"
#include "outpost/mapping/register_value.hpp"

namespace outpost::mapping {

ModbusMapper::ModbusMapper(std::vector<ModbusDeviceRule> devices) : devices_(std::move(devices)) {
    state_.resize(devices_.size());
    for (std::size_t d = 0; d < devices_.size(); ++d) {
        const auto& device = devices_[d];
        state_[d].resize(device.registers.size());
        // The loader rejects two devices with one (bus, unit); should a hand-built mapping have
        // them, the first one wins, as it would for the poll plan.
        units_.emplace(unit_key(device.bus, device.unit), static_cast<std::uint32_t>(d));
        if (units_.at(unit_key(device.bus, device.unit)) != d) continue;
        for (std::size_t r = 0; r < device.registers.size(); ++r) {
            const auto& spec = device.registers[r].spec;
            index_[key(device.bus, device.unit, spec.table)].push_back(
                {spec.address, std::uint32_t{spec.address} + register_count(spec), static_cast<std::uint32_t>(d),
                 static_cast<std::uint32_t>(r)});
        }
    }
    for (auto& [k, entries] : index_) {
        std::stable_sort(entries.begin(), entries.end(),
                         [](const Entry& a, const Entry& b) { return a.address < b.address; });
    }
}

std::size_t ModbusMapper::map(const core::ModbusBlock& block, std::vector<core::Message>& out) {
    return map(block, out, nullptr);
}

std::size_t ModbusMapper::map(const core::ModbusBlock& block, std::vector<core::Message>& out,
                              std::vector<ModbusReading>* readings) {
    ++stats_.blocks;
    if (units_.find(unit_key(block.bus, block.unit)) == units_.end()) {
        ++stats_.unmapped_blocks;
        const auto k = unit_key(block.bus, block.unit);
        if (auto u = unmapped_.find(k); u != unmapped_.end()) {
            ++u->second;
        } else if (unmapped_.size() < max_unmapped_units) {
            unmapped_.emplace(k, 1);
        }
        return 0;
    }
    const auto it = index_.find(key(block.bus, block.unit, block.table));
    if (it == index_.end()) return 0;
    const auto& entries = it->second;
    const std::uint32_t begin = block.address;
    const std::uint32_t finish = begin + block.count;
    std::size_t produced = 0;
    auto e = std::lower_bound(entries.begin(), entries.end(), begin,
                              [](const Entry& x, std::uint32_t address) { return x.address < address; });
    for (; e != entries.end() && e->address < finish; ++e) {
        if (e->end > finish) continue;
        if (map_register(*e, block, out, readings)) ++produced;
    }
    stats_.readings += produced;
    return produced;
}

bool ModbusMapper::map_register(const Entry& entry, const core::ModbusBlock& block, std::vector<core::Message>& out,
                                std::vector<ModbusReading>* readings) {
    const auto& device = devices_[entry.device];
    const auto& reg = device.registers[entry.reg];
    auto& state = state_[entry.device][entry.reg];
    // A data_len beyond the array is a producer's bug; never read past the array for it.
    const std::span<const std::uint8_t> data(block.data.data(),
                                             std::min<std::size_t>(block.data_len, core::ModbusBlock::max_data));
    const std::size_t first = entry.address - block.address;
    const std::int64_t now = block.timestamp_ns;

    if (reg.spec.type == RegisterType::string) {
        RegisterText buffer;
        const auto text = decode_register_text(reg.spec, data, first, buffer);
        if (!text) {
            ++stats_.decode_errors;
            return false;
        }
        const bool changed = !state.rate.seen || *text != state.last_text;
        const bool pass = !reg.rate.active() || rate_allows_change(reg.rate, state.rate, changed, now);
        // Only rate control looks back at the last text: keep it only for it, and only on a change.
        if (pass && changed && reg.rate.active()) state.last_text.assign(*text);
        if (readings) readings->push_back({&device, &reg, 0, std::string(*text), pass});
        if (!pass) {
            ++stats_.rate_limited;
            return false;
        }
        core::Message m;
        m.body.reserve(48 + text->size());
        append_text_reading_body(m.body, now, *text, reg.unit);
        m.topic = reg.topic;
        m.created_ns = now;
        m.priority = reg.priority;
        m.qos = reg.qos;
        m.retain = reg.retain;
        out.push_back(std::move(m));
        return true;
    }

    const auto value = decode_register(reg.spec, data, first);
    if (!value || !std::isfinite(*value)) {
        ++stats_.decode_errors;
        return false;
    }
    // Ranges are often written rounded (as in DBC files); allow for that before rejecting a value.
    const double slack = 1e-9 * std::max(1.0, std::fabs(*value));
    if ((reg.minimum && *value < *reg.minimum - slack) || (reg.maximum && *value > *reg.maximum + slack)) {
        ++stats_.out_of_range;
        return false;
    }
    const bool pass = !reg.rate.active() || rate_allows(reg.rate, state.rate, *value, now);
    if (readings) readings->push_back({&device, &reg, *value, {}, pass});
    if (!pass) {
        ++stats_.rate_limited;
        return false;
    }
    core::Message m;
    m.body.reserve(80);
    if (!append_reading_body(m.body, now, *value, reg.decimals, reg.unit, reg.value_names)) {
        ++stats_.decode_errors;
        return false;
    }
    m.topic = reg.topic;
    m.created_ns = now;
    m.priority = reg.priority;
    m.qos = reg.qos;
    m.retain = reg.retain;
    out.push_back(std::move(m));
    return true;
}

}  // namespace outpost::mapping
