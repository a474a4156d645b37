#pragma once
// Replays a `candump -l` log into a FrameSink: paced as recorded (or faster or slower by a
// factor), or as fast as possible in slices that leave the io_context free for the uplink.
// Malformed lines are counted and logged (rate-limited) with their line numbers; the replay goes on.
// The log must be a regular file (a device or FIFO could be endless); a line longer than
// core::limits::log_line_bytes (4 KiB, far above any candump line) is skipped without being held in
// memory, and counted as malformed and as too long.
// Thread: everything runs on the io_context's thread.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "outpost/core/bounded_read.hpp"
#include "outpost/core/log.hpp"
#include "outpost/ingest/frame_sink.hpp"
#include "outpost/ingest/wake_pacer.hpp"

namespace outpost::ingest {

struct ReplayOptions {
    std::string path;
    std::string bus_name;       // for logs
    std::uint16_t bus = 0;      // stamped on every frame
    double speed = 1.0;         // 1.0 = as recorded, 2.0 = twice as fast; 0 = as fast as possible
    std::string interface;      // only lines of this interface ("" = all)
    bool restamp = true;        // replace the log's timestamps with the time of replay
    // Paced: a replay that keeps finding due frames looks again only this long after (WakePacer).
    std::chrono::steady_clock::duration pace_interval = WakePacer::default_interval;
    std::size_t lines_per_slice = 512;  // as-fast-as-possible mode: lines per io_context turn
    // Byte offset to resume from (where an earlier run's last commit ended). Past the end of the
    // file (a new, shorter log), the replay starts from the beginning and says so.
    std::uint64_t start_offset = 0;
};

struct ReplayStats {
    std::uint64_t lines = 0;
    std::uint64_t frames = 0;
    std::uint64_t malformed = 0;  // too_long included
    std::uint64_t too_long = 0;   // lines over core::limits::log_line_bytes, skipped
    std::uint64_t other_interface = 0;
};

class CandumpReplay {
public:
    // Throws std::system_error if the log cannot be opened or is not a regular file (a start-up
    // problem); the message names the file.
    CandumpReplay(boost::asio::io_context& io, ReplayOptions options, FrameSink& sink);
    ~CandumpReplay();
    CandumpReplay(const CandumpReplay&) = delete;
    CandumpReplay& operator=(const CandumpReplay&) = delete;

    // Starts the replay; `on_done` runs once, when the end of the log is reached or stop() is called.
    void start(std::function<void()> on_done);
    void stop();

    const ReplayStats& stats() const noexcept { return stats_; }
    const std::string& bus_name() const noexcept { return options_.bus_name; }
    // The byte offset after the last line whose frame was handed to the sink: a restart that
    // resumes here neither skips nor repeats a frame.
    std::uint64_t resume_offset() const noexcept { return have_pending_ ? pending_offset_ : offset_; }
    bool finished() const noexcept { return finished_; }

private:
    void run_slice();
    // Reads the next frame into pending_; false at end of file.
    bool read_next();
    void finish();

    boost::asio::io_context& io_;
    ReplayOptions options_;
    FrameSink& sink_;
    core::BoundedLineReader reader_;
    std::string line_;
    boost::asio::steady_timer timer_;
    std::function<void()> on_done_;
    ReplayStats stats_;
    core::CanFrame pending_{};
    bool have_pending_ = false;
    std::uint64_t offset_ = 0;          // bytes consumed so far (reader_.offset())
    std::uint64_t pending_offset_ = 0;  // where the line of pending_ starts
    bool have_origin_ = false;
    std::int64_t first_ts_ns_ = 0;
    std::chrono::steady_clock::time_point start_{};
    std::int64_t wall_start_ns_ = 0;  // the wall clock at start_: paced frames are stamped start + offset
    WakePacer pacer_;
    bool finished_ = false;
    core::LogLimiter malformed_log_;
};

}  // namespace outpost::ingest
