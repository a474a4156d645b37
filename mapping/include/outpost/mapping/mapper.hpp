#pragma once
// The mapping engine (Sans-I/O): frames in, messages out. Unknown ids, error frames, frames whose
// length does not fit their message and out-of-range values are counted, never thrown. Rate
// control decides per signal, from frame timestamps, whether a reading is published.
#include <cstdint>
#include <span>
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
    std::uint64_t length_mismatches = 0;  // frames rejected whole: their length does not fit the message
    std::uint64_t short_frames = 0;     // shorter frames accepted ("accept_short_frames"), partly decoded
    std::uint64_t decode_errors = 0;    // a NaN/inf value, or a payload that cannot be written
    std::uint64_t out_of_range = 0;     // outside the signal's minimum/maximum (dropped unless the
                                        // signal publishes them with "out_of_range":true)
    std::uint64_t rate_limited = 0;     // decoded but held back by rate control
    std::uint64_t readings = 0;         // messages produced
};

// One decoded signal, for dry runs (`outpost decode`) as much as for publishing.
struct Reading {
    const CanMessageRule* message = nullptr;
    const SignalRule* signal = nullptr;
    double value = 0;
    bool published = false;     // false: held back by rate control, or dropped as out of range
    bool out_of_range = false;  // outside [minimum|maximum]; published only if the signal says so
};

// A frame rejected whole because its length does not fit a message that matched its id.
struct LengthMismatch {
    const CanMessageRule* message = nullptr;
    std::size_t length = 0;    // the frame's
    std::size_t expected = 0;  // the message's declared length, or the bytes its signals need
    bool declared = false;     // `expected` is the message's declared length
};

// Everything one frame did, for dry runs (`outpost decode`).
struct MapTrace {
    std::vector<Reading> readings;              // every decoded signal, published or not
    std::vector<LengthMismatch> mismatches;     // messages that rejected the frame
    std::vector<const CanMessageRule*> short_accepted;  // messages that took it although short
    void clear() {
        readings.clear();
        mismatches.clear();
        short_accepted.clear();
    }
};

class Mapper {
public:
    explicit Mapper(Mapping mapping);

    // Appends the messages `frame` produces to `out` and returns how many it appended.
    std::size_t map(const core::CanFrame& frame, std::vector<core::Message>& out);
    // Like map(), and also lists every decoded signal (published or held back) in `readings`.
    std::size_t map(const core::CanFrame& frame, std::vector<core::Message>& out, std::vector<Reading>* readings);
    // Like map(), and also says what each matching message did with the frame in `trace`
    // (cleared first).
    std::size_t map(const core::CanFrame& frame, std::vector<core::Message>& out, MapTrace& trace);

    const MapperStats& stats() const noexcept { return stats_; }
    const Mapping& mapping() const noexcept { return mapping_; }
    // Length mismatches per rule, in the order of mapping().can.
    std::span<const std::uint64_t> length_mismatches_by_rule() const noexcept { return rule_mismatches_; }
    // Ids that arrived without any rule (id | 1<<31 for extended) with their counts; at most
    // max_unmapped_ids distinct ids are remembered so hostile traffic cannot grow it without bound.
    static constexpr std::size_t max_unmapped_ids = 4096;
    const std::unordered_map<std::uint32_t, std::uint64_t>& unmapped_ids() const noexcept { return unmapped_; }

private:
    static std::uint64_t key(std::uint32_t id, bool extended) noexcept {
        return (std::uint64_t{extended} << 32) | id;
    }
    std::size_t map_frame(const core::CanFrame& frame, std::vector<core::Message>& out, std::vector<Reading>* readings,
                          MapTrace* trace);
    std::size_t map_rule(std::size_t index, const core::CanFrame& frame, std::vector<core::Message>& out,
                         std::vector<Reading>* readings, MapTrace* trace);

    Mapping mapping_;
    std::unordered_map<std::uint64_t, std::vector<std::size_t>> by_id_;  // rules matching a whole id
    std::vector<std::size_t> masked_;                                    // rules with an id mask
    std::vector<std::vector<RateState>> state_;                          // [rule][signal]
    std::vector<std::size_t> needed_;                                    // [rule] bytes its signals need
    std::vector<std::uint64_t> rule_mismatches_;                         // [rule]
    std::unordered_map<std::uint32_t, std::uint64_t> unmapped_;
    MapperStats stats_;
};

}  // namespace outpost::mapping
