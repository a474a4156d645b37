#pragma once
#include "outpost/core/can_frame.hpp"

namespace outpost::ingest {

// Where a driver hands its frames. Called on the io_context thread.
class FrameSink {
public:
    virtual ~FrameSink() = default;
    // Takes a frame. Never blocks and never refuses one.
    virtual void on_frame(const core::CanFrame& frame) = 0;
    // Flow control without blocking: true while the sink asks its sources to read nothing more
    // for now (its disk is behind them). A source that sees it after handing on a frame stops
    // reading, and goes on when it is told to resume (each source's resume()). A live bus waits
    // in the kernel's receive buffer meanwhile, whose overflow the source counts.
    virtual bool held() const noexcept { return false; }
};

}  // namespace outpost::ingest
