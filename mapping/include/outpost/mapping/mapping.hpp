#pragma once
// The typed form of a site's mapping: which CAN messages carry which signals (and which Modbus
// devices which registers), and where each reading goes (topic, priority, QoS, retain) and how
// often (rate control).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "outpost/mapping/modbus_rule.hpp"
#include "outpost/mapping/rate_control.hpp"
#include "outpost/mapping/signal.hpp"

namespace outpost::mapping {

enum class Multiplex { none, multiplexor, multiplexed };

struct SignalRule {
    std::string name;
    SignalSpec spec;
    std::string unit;
    std::string topic;     // rendered from the rule's template at load time
    int decimals = -1;     // digits after the point in payloads; -1 = shortest exact form
    std::uint8_t priority = 5;
    std::uint8_t qos = 1;
    bool retain = false;
    Multiplex multiplex = Multiplex::none;
    std::uint64_t mux_value = 0;  // for multiplexed signals: the multiplexor value that selects it
    std::optional<double> minimum;  // physical range; readings outside it are counted and dropped, or
    std::optional<double> maximum;  // published with "out_of_range":true if publish_out_of_range
    std::map<std::int64_t, std::string> value_names;  // value table (enum): adds "text" to the payload
    RateControl rate;
    bool publish = true;  // false: decoded (a multiplexor, say) but not published
    bool publish_out_of_range = false;  // mapping "out_of_range": "publish"
};

struct CanMessageRule {
    std::string name;
    std::uint32_t id = 0;
    bool extended = false;
    std::uint32_t mask = 0;  // 0: the whole id must match; else only these bits (J1939 PGN, any source)
    std::optional<std::uint16_t> bus;  // only frames from this bus; any bus if unset
    std::vector<SignalRule> signals;
    // The message's data length (a DBC's BO_ length, a mapping's "length"). A frame of another
    // length is rejected whole and counted (frame_length.hpp). Unset: the frame must carry every
    // signal, and may be longer.
    std::optional<std::uint8_t> length;
    bool accept_short_frames = false;  // a shorter frame decodes the signals wholly inside it

    std::uint32_t effective_mask() const noexcept { return mask ? mask : (extended ? 0x1FFFFFFFu : 0x7FFu); }
};

struct Mapping {
    std::vector<CanMessageRule> can;
    std::vector<ModbusDeviceRule> modbus;  // Modbus devices and their registers (modbus_rule.hpp)
};

}  // namespace outpost::mapping
