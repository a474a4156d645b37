#pragma once
// The CAN controller's state from the error frames the kernel delivers (Sans-I/O, no kernel
// headers): events in as values, the transition out. The SocketCAN reader feeds it and logs
// what it returns.
//
//   opened                          -> error_active
//   CAN_ERR_BUSOFF                  -> bus_off
//   CAN_ERR_RESTARTED               -> error_active (the controller was restarted)
//   CAN_ERR_CRTL, RX/TX passive     -> error_passive
//   CAN_ERR_CRTL, RX/TX warning     -> error_warning
//   CAN_ERR_CRTL_ACTIVE             -> error_active (the kernel reports the way back)
//   CAN_ERR_CNT, both counters < 96 -> error_active from warning or passive (drivers that report
//                                      their error counters but not the way back)
//   a data frame while bus-off      -> error_active (a bus-off controller receives nothing)
//   closed / interface down         -> down
// A data frame while warning or passive changes nothing: such a controller still receives.
#include <cstdint>
#include <optional>

#include "outpost/core/can_frame.hpp"

namespace outpost::ingest {

enum class BusState { down, error_active, error_warning, error_passive, bus_off };
const char* to_string(BusState state) noexcept;

struct BusStateCounters {
    std::uint64_t error_frames = 0;
    std::uint64_t bus_off = 0;
    std::uint64_t error_passive = 0;
    std::uint64_t error_warning = 0;
    std::uint64_t restarted = 0;
};

struct BusStateChange {
    BusState from;
    BusState to;
    const char* reason;  // a string literal
};

class BusStateMachine {
public:
    std::optional<BusStateChange> on_open() noexcept;
    std::optional<BusStateChange> on_down() noexcept;
    // `frame.error` must be set; its id carries the CAN_ERR_* class bits, its data the details.
    std::optional<BusStateChange> on_error_frame(const core::CanFrame& frame) noexcept;
    std::optional<BusStateChange> on_data_frame() noexcept;

    BusState state() const noexcept { return state_; }
    const BusStateCounters& counters() const noexcept { return counters_; }

private:
    std::optional<BusStateChange> move_to(BusState next, const char* reason) noexcept;

    BusState state_ = BusState::down;
    BusStateCounters counters_;
};

}  // namespace outpost::ingest
