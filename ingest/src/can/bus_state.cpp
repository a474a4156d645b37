#include "outpost/ingest/can/bus_state.hpp"

#include <linux/can/error.h>

#include <algorithm>

namespace outpost::ingest {
namespace {

// The level at which a controller leaves error-active (ISO 11898-1 error warning limit).
constexpr unsigned warning_limit = 96;

}  // namespace

const char* to_string(BusState state) noexcept {
    switch (state) {
        case BusState::down: return "down";
        case BusState::error_active: return "error_active";
        case BusState::error_warning: return "error_warning";
        case BusState::error_passive: return "error_passive";
        case BusState::bus_off: return "bus_off";
    }
    return "unknown";
}

std::optional<BusStateChange> BusStateMachine::move_to(BusState next, const char* reason) noexcept {
    if (next == state_) return std::nullopt;
    const BusStateChange change{state_, next, reason};
    state_ = next;
    return change;
}

std::optional<BusStateChange> BusStateMachine::on_open() noexcept { return move_to(BusState::error_active, "socket open"); }

std::optional<BusStateChange> BusStateMachine::on_down() noexcept { return move_to(BusState::down, "socket closed"); }

std::optional<BusStateChange> BusStateMachine::on_error_frame(const core::CanFrame& frame) noexcept {
    ++counters_.error_frames;
    const std::uint32_t cls = frame.id;
    const auto byte = [&](std::size_t i) -> std::uint8_t { return i < frame.len ? frame.data[i] : 0; };
    if (cls & CAN_ERR_BUSOFF) {
        ++counters_.bus_off;
        return move_to(BusState::bus_off, "bus-off error frame");
    }
    if (cls & CAN_ERR_RESTARTED) {
        ++counters_.restarted;
        return move_to(BusState::error_active, "controller restarted");
    }
    if (cls & CAN_ERR_CRTL) {
        const std::uint8_t status = byte(1);
        if (status & (CAN_ERR_CRTL_RX_PASSIVE | CAN_ERR_CRTL_TX_PASSIVE)) {
            ++counters_.error_passive;
            return move_to(BusState::error_passive, "error-passive");
        }
        if (status & (CAN_ERR_CRTL_RX_WARNING | CAN_ERR_CRTL_TX_WARNING)) {
            ++counters_.error_warning;
            return move_to(BusState::error_warning, "error warning level");
        }
        if (status & CAN_ERR_CRTL_ACTIVE) return move_to(BusState::error_active, "back to error-active");
    }
    if ((cls & CAN_ERR_CNT) && (state_ == BusState::error_warning || state_ == BusState::error_passive)) {
        if (std::max(byte(6), byte(7)) < warning_limit) {
            return move_to(BusState::error_active, "error counters below the warning level");
        }
    }
    return std::nullopt;
}

std::optional<BusStateChange> BusStateMachine::on_data_frame() noexcept {
    if (state_ == BusState::bus_off) return move_to(BusState::error_active, "frames flowing again");
    return std::nullopt;
}

}  // namespace outpost::ingest
