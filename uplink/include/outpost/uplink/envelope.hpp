#pragma once
// The payload every message carries: the gateway id and the sequence number around the body,
// so a consumer can prove completeness and drop duplicates:
//   {"gw":"bess-01","seq":1234,"ts":1700000000.100000,"value":52.3,"unit":"V"}
#include <cstdint>
#include <string>
#include <string_view>

namespace outpost::uplink {

// `gateway` must be JSON-safe (the site loader guarantees it); `body` is JSON members without braces.
void render_payload(std::string& out, std::string_view gateway, std::uint64_t seq, std::string_view body);

}  // namespace outpost::uplink
