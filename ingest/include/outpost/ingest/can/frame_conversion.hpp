#pragma once
// Between the kernel's SocketCAN structures and core::CanFrame (Sans-I/O). This header includes
// <linux/can.h>; only the SocketCAN reader and its tests include it, so core::CanFrame and the
// mapping stay free of kernel headers.
#include <linux/can.h>

#include <cstddef>
#include <vector>

#include "outpost/core/can_frame.hpp"
#include "outpost/ingest/can/filter_plan.hpp"

namespace outpost::ingest {

// `raw` as read from a raw CAN socket, `bytes` the size the read returned. Returns false (and
// leaves `out` alone) unless `bytes` is a classic (CAN_MTU) or FD (CANFD_MTU) frame. Sets id, the
// extended/remote/error/fd flags, fd_flags, len (clamped to 8 or 64) and data; not bus or timestamp.
// An error frame's id keeps its CAN_ERR_* class bits (29 bits).
bool from_kernel(const canfd_frame& raw, std::size_t bytes, core::CanFrame& out) noexcept;

// The kernel's form of `frame`; returns the bytes to write (CAN_MTU or CANFD_MTU).
std::size_t to_kernel(const core::CanFrame& frame, canfd_frame& raw) noexcept;

// A kernel filter for `filter`: RTR frames never match (they carry no data to decode).
can_filter to_kernel(const CanIdFilter& filter) noexcept;
std::vector<can_filter> to_kernel(const FilterPlan& plan);

}  // namespace outpost::ingest
