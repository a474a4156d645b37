#pragma once
// Live CAN from SocketCAN (a raw socket driven by Asio), after can-utils' candump:
// kernel filters from the ids the mapping uses, error frames (bus-off, error-passive, restarted)
// counted and reported as bus state, kernel receive timestamps, the kernel's drop counter
// (SO_RXQ_OVFL), CAN FD when the interface's MTU allows it, and survival of the interface going
// down or disappearing: the socket is reopened with backoff, the gateway keeps running.
// The parts that need no socket (filter planning, frame conversion, the bus-state machine, the
// control buffer, the receive-buffer read-back) live in can/ and are unit-tested on any host.
// Thread: everything runs on the io_context's thread. No kernel header leaks out of this file.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "outpost/core/backoff.hpp"
#include "outpost/core/log.hpp"
#include "outpost/ingest/can/bus_state.hpp"
#include "outpost/ingest/can/filter_plan.hpp"
#include "outpost/ingest/can/drop_counter.hpp"
#include "outpost/ingest/frame_sink.hpp"
#include "outpost/ingest/wake_pacer.hpp"

namespace outpost::ingest {

struct SocketCanOptions {
    std::string interface = "can0";
    std::string bus_name;
    std::uint16_t bus = 0;
    std::vector<CanIdFilter> filters;  // empty: receive everything; above 512, merged (filter_plan.hpp)
    bool fd = true;                    // accept CAN FD frames if the interface supports them
    int receive_buffer = 1 << 20;      // bytes; SO_RCVBUFFORCE, falling back to SO_RCVBUF
    std::chrono::milliseconds reopen_initial{200};
    std::chrono::milliseconds reopen_max{5000};
    // A busy bus is read every this long, not on every frame (WakePacer); frames keep the kernel's
    // receive time. Zero reads on every frame.
    std::chrono::steady_clock::duration pace_interval = WakePacer::default_interval;
};

struct SocketCanStats {
    std::uint64_t frames = 0;        // data frames handed on
    std::uint64_t error_frames = 0;  // error frames received
    std::uint64_t bus_off = 0;
    std::uint64_t error_passive = 0;
    std::uint64_t error_warning = 0;
    std::uint64_t restarted = 0;
    std::uint64_t kernel_drops = 0;  // frames the kernel dropped because we were not reading fast enough
    std::uint64_t opens = 0;
    std::uint64_t read_errors = 0;   // interface down, vanished, ...
    BusState state = BusState::down;
    std::size_t kernel_filters = 0;  // filters the kernel holds (0: none, every frame is read)
    int receive_buffer = 0;          // bytes the kernel granted (read back), 0 before the first open
};

class SocketCanReader {
public:
    SocketCanReader(boost::asio::io_context& io, SocketCanOptions options, FrameSink& sink);
    ~SocketCanReader();
    SocketCanReader(const SocketCanReader&) = delete;
    SocketCanReader& operator=(const SocketCanReader&) = delete;

    // Opens the socket (retrying with backoff while the interface is missing or down). Throws
    // std::system_error only if this kernel has no CAN support at all (a start-up problem).
    void start();
    void stop();
    const SocketCanStats& stats() const noexcept { return stats_; }
    const std::string& bus_name() const noexcept { return options_.bus_name; }

private:
    bool open();
    void close();
    void schedule_reopen(const std::string& why);
    void wait_readable();
    void read_ready();
    void apply(const std::optional<BusStateChange>& change, const char* why = nullptr);
    void apply_socket_options(int fd);
    void on_drop_counter(std::uint32_t counter);
    // Logs a warning the first time `what` goes wrong in this reader's life, not at every reopen.
    void warn_once(unsigned what, const char* event, const std::string& message, const std::error_code& ec);

    boost::asio::io_context& io_;
    SocketCanOptions options_;
    FrameSink& sink_;
    boost::asio::posix::stream_descriptor socket_;
    boost::asio::steady_timer reopen_timer_;
    boost::asio::steady_timer pace_timer_;
    WakePacer pacer_;
    core::Backoff backoff_;
    SocketCanStats stats_;
    FilterPlan filter_plan_;
    BusStateMachine bus_state_;
    DropCounter drops_;
    unsigned warned_ = 0;  // bits of what warn_once() has already logged
    bool fd_enabled_ = false;
    bool stopped_ = false;
    core::LogLimiter open_log_;  // separate limiters: a flood of drops must not hide an open failure
    core::LogLimiter drop_log_;
};

}  // namespace outpost::ingest
