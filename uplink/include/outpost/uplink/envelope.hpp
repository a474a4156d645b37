#pragma once
// The payload every message carries: the gateway id, the outbox epoch and the sequence number
// around the body, so a consumer can prove completeness and drop duplicates: (gw, ep, seq) names
// one reading; a new `ep` declares that continuity with the previous numbering could not be proven.
//   {"gw":"bess-01","ep":7345,"seq":1234,"ts":1700000000.100000,"value":52.3,"unit":"V"}
#include <cstdint>
#include <string>
#include <string_view>

namespace outpost::uplink {

// `gateway` must be JSON-safe (the site loader guarantees it); `body` is JSON members without braces.
void render_payload(std::string& out, std::string_view gateway, std::uint32_t epoch, std::uint64_t seq,
                    std::string_view body);

}  // namespace outpost::uplink
