#pragma once
// A message on its way to the broker. Mapping produces it, the outbox stores it and gives
// it a sequence number, the uplink wraps the body in the envelope and publishes it.
#include <cstdint>
#include <string>

namespace outpost::core {

struct Message {
    std::string topic;
    // JSON object members without the braces, e.g. `"ts":1700000000.1,"value":52.1,"unit":"V"`.
    // The uplink adds the gateway id and sequence number around it.
    std::string body;
    std::int64_t created_ns = 0;  // when the reading was taken
    std::uint8_t priority = 5;    // 0 (lowest) .. 9 (highest)
    std::uint8_t qos = 1;         // MQTT QoS 0..2
    bool retain = false;
};

// A message as it comes back out of the outbox: with its durable sequence number and the epoch of
// the store that numbered it. (gateway, epoch, seq) names one reading, whatever happens to the file.
struct StoredMessage {
    std::uint64_t seq = 0;
    std::uint32_t epoch = 0;
    Message message;
};

}  // namespace outpost::core
