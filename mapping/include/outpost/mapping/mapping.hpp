#pragma once
// The typed form of a site's mapping: which CAN messages carry which signals, and where each
// signal's readings go (topic, priority, QoS, retain).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "outpost/mapping/signal.hpp"

namespace outpost::mapping {

struct SignalRule {
    std::string name;
    SignalSpec spec;
    std::string unit;
    std::string topic;     // rendered from the rule's template at load time
    int decimals = -1;     // digits after the point in payloads; -1 = shortest exact form
    std::uint8_t priority = 5;
    std::uint8_t qos = 1;
    bool retain = false;
};

struct CanMessageRule {
    std::string name;
    std::uint32_t id = 0;
    bool extended = false;
    std::optional<std::uint16_t> bus;  // only frames from this bus; any bus if unset
    std::vector<SignalRule> signals;
};

struct Mapping {
    std::vector<CanMessageRule> can;
};

}  // namespace outpost::mapping
