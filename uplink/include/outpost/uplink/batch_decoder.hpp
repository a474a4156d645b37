#pragma once
// Decodes the batch payloads of uplink/payload_formats.md, the contract with the consumers:
// batched JSON and the compact CBOR form, either of them possibly compressed (zstd or zlib).
// For whoever reads what Outpost publishes (`outpost audit`, tests, tools). Sans-I/O: bytes in,
// readings out. Never throws and never trusts the payload: lengths are checked before they are
// believed, inflating stops at 16 MiB, a batch holds at most max_batch_readings readings.
// Thread-safe (no shared state).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace outpost::uplink {

inline constexpr std::size_t max_batch_readings = 100'000;
// What a compressed payload may inflate to.
inline constexpr std::size_t max_inflated_payload = 16u << 20;
// The compact form's keys: decimals 0..max_batch_decimals.
inline constexpr unsigned max_batch_decimals = 20;
// A bound on the text the readings of one batch add up to (gw, topic, value, unit and text of each):
// a short payload whose keys repeat a long suffix must not fan out into gigabytes.
inline constexpr std::size_t max_decoded_text = 64u << 20;

struct DecodedReading {
    std::string gw;
    std::uint32_t ep = 0;
    std::uint64_t seq = 0;   // 1 and up
    std::string topic;       // group + "/" + suffix (group: the batch topic minus its last level)
    std::int64_t ts_us = 0;  // microseconds since the Unix epoch
    // A number as canonical decimal text: no exponent, no superfluous zero, no sign on zero ("3.31",
    // "-0.5", "12", "0.05"; a float's shortest round-trip digits, "0.1" not "0.1000000000000000055").
    // A text value as itself.
    std::string value;
    bool value_is_text = false;
    std::string unit, text;  // empty when absent (or null)
    // The element's other members (batched JSON only: out_of_range, can_id, ...) as JSON members
    // text in key order, numbers as the payload wrote them: `"can_id":291,"out_of_range":true`.
    std::string extra;

    bool operator==(const DecodedReading&) const = default;
};

enum class PayloadFormat { single_json, batch_json, batch_cbor, unknown };

// "single_json", "batch_json", "batch_cbor", "unknown".
const char* to_string(PayloadFormat f) noexcept;

// What a payload is, from its first bytes (after inflating it, when it is compressed) and, for a
// JSON object, whether it has a `batch` member. Says nothing about the rest being well-formed:
// unknown for anything else, a payload that does not inflate, or JSON that does not parse.
PayloadFormat detect_format(std::string_view payload) noexcept;

// Decodes a batch (batched JSON or compact CBOR, either possibly zstd/zlib-compressed) published on
// `topic`, replacing `out` with its readings in payload order. False, with `out` empty and
// `problem` saying what is wrong in words, for anything that is not a well-formed batch: a damaged
// or oversized stream, a one-message payload, a wrong marker, type or array size, a key index out
// of range, a seq below 1 or past 2^64-1, a timestamp past 64 bits, no readings or more than
// max_batch_readings, trailing bytes after the CBOR item, duplicate JSON members, ...
// `gw`, when given, receives the batch's gateway id whenever it can be read, also when the batch
// is refused (so that the refusal can be counted against its gateway); empty otherwise.
bool decode_batch(std::string_view topic, std::string_view payload, std::vector<DecodedReading>& out,
                  std::string& problem, std::string* gw = nullptr) noexcept;

}  // namespace outpost::uplink
