#include "outpost/ingest/candump_replay.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <system_error>

#include <boost/asio/post.hpp>

#include "outpost/ingest/candump_parser.hpp"

namespace outpost::ingest {

namespace {
constexpr std::size_t read_buffer_size = 1 << 16;

std::int64_t wall_clock_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}
}  // namespace

CandumpReplay::CandumpReplay(boost::asio::io_context& io, ReplayOptions options, FrameSink& sink)
    : io_(io), options_(std::move(options)), sink_(sink), buffer_(new char[read_buffer_size]), timer_(io) {
    in_.rdbuf()->pubsetbuf(buffer_.get(), read_buffer_size);
    in_.open(options_.path, std::ios::binary);
    if (!in_) {
        throw std::system_error(errno, std::generic_category(), "cannot open candump log " + options_.path);
    }
    if (options_.start_offset > 0) {
        in_.seekg(0, std::ios::end);
        const auto size = static_cast<std::uint64_t>(std::max<std::streamoff>(in_.tellg(), 0));
        if (options_.start_offset <= size) {
            offset_ = options_.start_offset;
        } else {
            core::log_warn("replay.restart", "the log is shorter than where the last run ended; replaying it from the start",
                           {{"bus", options_.bus_name}, {"path", options_.path}, {"size", size},
                            {"resume_offset", options_.start_offset}});
        }
        in_.seekg(static_cast<std::streamoff>(offset_));
    }
}

CandumpReplay::~CandumpReplay() = default;

void CandumpReplay::start(std::function<void()> on_done) {
    on_done_ = std::move(on_done);
    start_ = std::chrono::steady_clock::now();
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
        if (!std::getline(in_, line_)) break;
        offset_ += line_.size() + (in_.eof() ? 0 : 1);
        ++stats_.lines;
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
    for (std::size_t i = 0; i < options_.lines_per_slice; ++i) {
        if (!have_pending_) {
            if (!read_next()) {
                finish();
                return;
            }
            have_pending_ = true;
        }
        if (paced) {
            if (!have_origin_) {
                have_origin_ = true;
                first_ts_ns_ = pending_.timestamp_ns;
            }
            const auto offset = std::chrono::nanoseconds(
                static_cast<std::int64_t>(static_cast<double>(pending_.timestamp_ns - first_ts_ns_) / options_.speed));
            const auto due = start_ + offset;
            if (due > std::chrono::steady_clock::now()) {
                timer_.expires_at(due);
                timer_.async_wait([this](boost::system::error_code ec) {
                    if (!ec) run_slice();
                });
                return;
            }
        }
        if (options_.restamp) pending_.timestamp_ns = wall_clock_ns();
        have_pending_ = false;
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
                    {"malformed", stats_.malformed}, {"other_interface", stats_.other_interface}});
    if (on_done_) {
        auto done = std::move(on_done_);
        done();
    }
}

}  // namespace outpost::ingest
