#pragma once
#include "outpost/core/can_frame.hpp"

namespace outpost::ingest {

// Where a driver hands its frames. Called on the io_context thread; must not block.
class FrameSink {
public:
    virtual ~FrameSink() = default;
    virtual void on_frame(const core::CanFrame& frame) = 0;
};

}  // namespace outpost::ingest
