#pragma once
// What one MQTT payload says, for the audit. The one place that knows the gateway's payload formats
// (uplink/payload_formats.md): a reading or a loss record (both carry gw/ep/seq and count in the
// sequence), a batch of readings (batched JSON or compact CBOR, compressed or not: one item per
// reading, decoded by uplink::decode_batch), a status or health message (gw, no seq), or something
// malformed. Sans-I/O: a topic and bytes in, values out; never throws.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace outpost::audit {

// A loss record's `loss` member: seqs [first_seq, last_seq] of the gateway were not delivered.
// `count` may be an upper bound and the range may cover seqs that did arrive.
struct LossInfo {
    std::string reason;
    std::int64_t priority = -1;  // -1 when absent
    std::uint64_t count = 0;
    std::uint64_t first_seq = 0;
    std::uint64_t last_seq = 0;
    bool has_range = false;  // false when first_seq..last_seq cannot be read: it explains nothing
};

// A message that holds a place in the gateway's sequence: a reading, or a loss record.
struct SequencedItem {
    std::string gw;
    std::uint64_t ep = 0;
    std::uint64_t seq = 0;
    std::optional<double> ts;      // seconds since the Unix epoch, when present and finite
    std::optional<LossInfo> loss;  // set for a loss record
};

enum class PayloadKind {
    sequenced,  // items holds one entry, or one per reading of a batch
    status,     // {"gw":..,"state":"online"|"offline",...}
    health,     // any other object with a gw and no seq (health counters)
    malformed,  // not JSON, not an object, no gw, a seq or ep that is not an unsigned 64-bit integer, ...
};

struct DecodedPayload {
    PayloadKind kind = PayloadKind::malformed;
    std::string gw;     // status/health, and malformed when the gw could still be read
    std::string state;  // status
    std::vector<SequencedItem> items;
    bool batch = false;  // the items came in one batch (its MQTT 5 properties name no single seq)
    // Why, in words: for malformed, and for a sequenced message with an unreadable part (a loss
    // record without a range still holds its place in the sequence).
    std::string problem;
};

// `topic` is the one the payload was published on: a batch's readings take their topics from it.
DecodedPayload decode_payload(std::string_view topic, std::string_view payload);

}  // namespace outpost::audit
