#include "outpost/ingest/candump_replay.hpp"

#include <algorithm>
#include <chrono>
#include <system_error>

#include <boost/asio/post.hpp>

#include "outpost/ingest/candump_parser.hpp"
#include "outpost/core/wall_clock.hpp"

namespace outpost::ingest {

namespace {

using core::wall_clock_ns;
}  // namespace

CandumpReplay::CandumpReplay(boost::asio::io_context& io, ReplayOptions options, FrameSink& sink)
    : io_(io),
      options_(std::move(options)),
      sink_(sink),
      reader_(core::limits::log_line_bytes),
      timer_(io),
      pacer_(options_.pace_interval) {
    std::string error;
    if (const auto ec = reader_.open(options_.path, error)) {
        throw std::system_error(ec, "candump log " + error);
    }
    if (options_.start_offset > 0) {
        const auto size = reader_.file_size();
        if (options_.start_offset <= size) {
            offset_ = options_.start_offset;
        } else {
            core::log_warn("replay.restart", "the log is shorter than where the last run ended; replaying it from the start",
                           {{"bus", options_.bus_name}, {"path", options_.path}, {"size", size},
                            {"resume_offset", options_.start_offset}});
        }
        if (const auto ec = reader_.seek(offset_)) {
            throw std::system_error(ec, "candump log " + options_.path + ": cannot seek to the resume offset");
        }
    }
}

CandumpReplay::~CandumpReplay() = default;

void CandumpReplay::start(std::function<void()> on_done) {
    on_done_ = std::move(on_done);
    start_ = std::chrono::steady_clock::now();
    wall_start_ns_ = wall_clock_ns();
    core::log_info("replay.start", "replaying candump log", {{"bus", options_.bus_name}, {"path", options_.path},
                   {"from_offset", offset_},
                   {"speed", options_.speed == 0 ? nlohmann::json("max") : nlohmann::json(options_.speed)}});
    boost::asio::post(io_, [this] { run_slice(); });
}

void CandumpReplay::stop() {
    if (finished_) return;
    timer_.cancel();
    finish();
}

bool CandumpReplay::read_next() {
    for (;;) {
        const auto line_start = offset_;
        const auto status = reader_.next(line_);
        if (status == core::BoundedLineReader::Status::end) break;
        if (status == core::BoundedLineReader::Status::error) {
            core::log_error("replay.read_error", "cannot read the candump log; the replay ends here",
                            {{"bus", options_.bus_name}, {"path", options_.path}, {"offset", offset_},
                             {"error", reader_.error().message()}});
            break;
        }
        offset_ = reader_.offset();
        ++stats_.lines;
        if (status == core::BoundedLineReader::Status::too_long) {
            ++stats_.malformed;
            ++stats_.too_long;
            std::uint64_t suppressed = 0;
            if (malformed_log_.allow(std::chrono::steady_clock::now(), suppressed)) {
                core::log_warn("replay.line_too_long", "skipped a line longer than any candump line",
                               {{"bus", options_.bus_name}, {"path", options_.path}, {"line", stats_.lines},
                                {"length", reader_.last_length()}, {"limit", reader_.max_line_bytes()},
                                {"suppressed_since_last", suppressed}});
            }
            continue;
        }
        core::CanFrame frame;
        const auto parsed = parse_candump_line(line_, frame);
        if (parsed.kind == CandumpLineKind::blank) continue;
        if (parsed.kind == CandumpLineKind::malformed) {
            ++stats_.malformed;
            std::uint64_t suppressed = 0;
            if (malformed_log_.allow(std::chrono::steady_clock::now(), suppressed)) {
                core::log_warn("replay.malformed_line", std::string("skipped a malformed line: ") + parsed.error,
                               {{"bus", options_.bus_name}, {"path", options_.path}, {"line", stats_.lines},
                                {"suppressed_since_last", suppressed}});
            }
            continue;
        }
        if (!options_.interface.empty() && parsed.interface != options_.interface) {
            ++stats_.other_interface;
            continue;
        }
        frame.bus = options_.bus;
        pending_ = frame;
        pending_offset_ = line_start;
        return true;
    }
    return false;
}

void CandumpReplay::run_slice() {
    if (finished_) return;
    const bool paced = options_.speed > 0;
    std::size_t handed = 0;
    for (std::size_t i = 0; i < options_.lines_per_slice; ++i) {
        if (!have_pending_) {
            if (!read_next()) {
                finish();
                return;
            }
            have_pending_ = true;
        }
        std::chrono::nanoseconds offset{0};  // paced: from the replay's start to this frame
        if (paced) {
            if (!have_origin_) {
                have_origin_ = true;
                first_ts_ns_ = pending_.timestamp_ns;
            }
            offset = std::chrono::nanoseconds(
                static_cast<std::int64_t>(static_cast<double>(pending_.timestamp_ns - first_ts_ns_) / options_.speed));
            const auto due = start_ + offset;
            const auto now = std::chrono::steady_clock::now();
            if (due > now) {
                // While frames keep coming, the next look is a pacing interval away; it takes
                // everything due by then.
                timer_.expires_at(std::max(due, pacer_.on_look(now, handed)));
                timer_.async_wait([this](boost::system::error_code ec) {
                    if (!ec) run_slice();
                });
                return;
            }
        }
        if (options_.restamp) {
            // Paced, a frame's time is where the log puts it (it may be handed in up to one pacing
            // interval later); as fast as possible, it is now.
            pending_.timestamp_ns = paced ? wall_start_ns_ + offset.count() : wall_clock_ns();
        }
        have_pending_ = false;
        ++handed;
        ++stats_.frames;
        sink_.on_frame(pending_);
        if (finished_) return;  // the sink may have stopped us
    }
    boost::asio::post(io_, [this] { run_slice(); });
}

void CandumpReplay::finish() {
    if (finished_) return;
    finished_ = true;
    core::log_info("replay.done", "end of candump log",
                   {{"bus", options_.bus_name}, {"lines", stats_.lines}, {"frames", stats_.frames},
                    {"malformed", stats_.malformed}, {"too_long", stats_.too_long},
                    {"other_interface", stats_.other_interface}});
    if (on_done_) {
        auto done = std::move(on_done_);
        done();
    }
}

}  // namespace outpost::ingest
