#include "outpost/ingest/can/frame_conversion.hpp"

#include <linux/can/raw.h>

#include <algorithm>
#include <cstring>

namespace outpost::ingest {

static_assert(kernel_filter_max == CAN_RAW_FILTER_MAX, "filter_plan.hpp must follow <linux/can.h>");
static_assert(core::CanFrame::max_data == CANFD_MAX_DLEN);

bool from_kernel(const canfd_frame& raw, std::size_t bytes, core::CanFrame& out) noexcept {
    if (bytes != CAN_MTU && bytes != CANFD_MTU) return false;
    const bool fd = bytes == CANFD_MTU;
    out.fd = fd;
    out.extended = (raw.can_id & CAN_EFF_FLAG) != 0;
    out.remote = !fd && (raw.can_id & CAN_RTR_FLAG) != 0;  // CAN FD has no remote frames
    out.error = (raw.can_id & CAN_ERR_FLAG) != 0;
    out.id = raw.can_id & (out.extended || out.error ? CAN_EFF_MASK : CAN_SFF_MASK);
    out.len = std::min<std::uint8_t>(raw.len, fd ? CANFD_MAX_DLEN : CAN_MAX_DLEN);
    out.fd_flags = fd ? raw.flags : 0;
    out.data.fill(0);
    std::memcpy(out.data.data(), raw.data, out.len);
    return true;
}

std::size_t to_kernel(const core::CanFrame& frame, canfd_frame& raw) noexcept {
    raw = canfd_frame{};
    raw.can_id = frame.id & (frame.extended || frame.error ? CAN_EFF_MASK : CAN_SFF_MASK);
    if (frame.extended) raw.can_id |= CAN_EFF_FLAG;
    if (frame.error) raw.can_id |= CAN_ERR_FLAG;
    if (frame.remote && !frame.fd) raw.can_id |= CAN_RTR_FLAG;
    raw.len = std::min<std::uint8_t>(frame.len, frame.fd ? CANFD_MAX_DLEN : CAN_MAX_DLEN);
    if (frame.fd) raw.flags = frame.fd_flags;
    std::memcpy(raw.data, frame.data.data(), raw.len);
    return frame.fd ? CANFD_MTU : CAN_MTU;
}

can_filter to_kernel(const CanIdFilter& filter) noexcept {
    can_filter k{};
    const canid_t bits = filter.extended ? CAN_EFF_MASK : CAN_SFF_MASK;
    k.can_mask = (filter.mask & bits) | CAN_EFF_FLAG | CAN_RTR_FLAG;
    k.can_id = (filter.id & filter.mask & bits) | (filter.extended ? CAN_EFF_FLAG : 0);
    return k;
}

std::vector<can_filter> to_kernel(const FilterPlan& plan) {
    std::vector<can_filter> out;
    out.reserve(plan.filters.size());
    for (const auto& f : plan.filters) out.push_back(to_kernel(f));
    return out;
}

}  // namespace outpost::ingest
