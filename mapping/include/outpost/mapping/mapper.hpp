#pragma once
// The mapping engine (Sans-I/O): frames in, messages out. Unknown ids, error frames, frames too
// short for a signal and out-of-range values are counted, never thrown. Rate control decides per
// signal, from frame timestamps, whether a reading is published.
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "outpost/core/can_frame.hpp"
#include "outpost/core/message.hpp"
#include "outpost/mapping/json_body.hpp"
#include "outpost/mapping/mapping.hpp"
#include "outpost/mapping/rate_control.hpp"

namespace outpost::mapping {

struct MapperStats {
    std::uint64_t frames = 0;           // frames offered
    std::uint64_t unmapped_frames = 0;  // no rule for the id (or the bus)
    std::uint64_t error_frames = 0;     // CAN error frames (bus state, not data)
    std::uint64_t remote_frames = 0;    // RTR frames carry no data
    std::uint64_t decode_errors = 0;    // a signal the frame was too short for, or a NaN/inf value
    std::uint64_t out_of_range = 0;     // outside the signal's minimum/maximum
    std::uint64_t rate_limited = 0;     // decoded but held back by rate control
    std::uint64_t readings = 0;         // messages produced
};

// One decoded signal, for dry runs (`outpost decode`) as much as for publishing.
struct Reading {
    const CanMessageRule* message = nullptr;
    const SignalRule* signal = nullptr;
    double value = 0;
    bool published = false;  // false: held back by rate control
};

class Mapper {
public:
    explicit Mapper(Mapping mapping);

    // Appends the messages `frame` produces to `out` and returns how many it appended.
    std::size_t map(const core::CanFrame& frame, std::vector<core::Message>& out);
    // Like map(), and also lists every decoded signal (published or held back) in `readings`.
    std::size_t map(const core::CanFrame& frame, std::vector<core::Message>& out, std::vector<Reading>* readings);

    const MapperStats& stats() const noexcept { return stats_; }
    const Mapping& mapping() const noexcept { return mapping_; }
    // Ids that arrived without any rule (id | 1<<31 for extended) with their counts; at most
    // max_unmapped_ids distinct ids are remembered so hostile traffic cannot grow it without bound.
    static constexpr std::size_t max_unmapped_ids = 4096;
    const std::unordered_map<std::uint32_t, std::uint64_t>& unmapped_ids() const noexcept { return unmapped_; }

private:
    static std::uint64_t key(std::uint32_t id, bool extended) noexcept {
        return (std::uint64_t{extended} << 32) | id;
    }
    std::size_t map_rule(std::size_t index, const core::CanFrame& frame, std::vector<core::Message>& out,
                         std::vector<Reading>* readings);

    Mapping mapping_;
    std::unordered_map<std::uint64_t, std::vector<std::size_t>> by_id_;  // rules matching a whole id
    std::vector<std::size_t> masked_;                                    // rules with an id mask
    std::vector<std::vector<RateState>> state_;                          // [rule][signal]
    std::unordered_map<std::uint32_t, std::uint64_t> unmapped_;
    MapperStats stats_;
};

}  // namespace outpost::mapping
