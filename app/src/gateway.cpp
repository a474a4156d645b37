#include "outpost/app/gateway.hpp"

#include "outpost/core/log.hpp"

namespace outpost::app {

Gateway::Gateway(boost::asio::io_context& io, SiteConfig config, ExitAfter exit_after)
    : io_(io),
      config_(std::move(config)),
      exit_after_(exit_after),
      mapper_(config_.mapping),
      outbox_(config_.outbox),
      uplink_(io, config_.broker, outbox_),
      commit_timer_(io),
      stats_timer_(io),
      signals_(io, SIGINT, SIGTERM) {
    for (const auto& bus : config_.buses) {
        if (!bus.enabled) continue;
        if (bus.type == BusType::socketcan) {
            can_readers_.push_back(std::make_unique<ingest::SocketCanReader>(io_, bus.socketcan, *this));
        } else {
            replays_.push_back(std::make_unique<ingest::CandumpReplay>(io_, bus.replay, *this));
        }
    }
    scratch_.reserve(64);
}

Gateway::~Gateway() = default;

void Gateway::start() {
    started_ = std::chrono::steady_clock::now();
    core::log_info("gateway.start", "outpost is running",
                   {{"gateway_id", config_.gateway_id}, {"config", config_.file}, {"buses", config_.buses.size()},
                    {"can_rules", config_.mapping.can.size()}});
    signals_.async_wait([this](boost::system::error_code ec, int signo) {
        if (!ec) shutdown(signo == SIGINT ? "SIGINT" : "SIGTERM");
    });
    uplink_.start();
    for (auto& reader : can_readers_) reader->start();
    sources_running_ = replays_.size();
    for (auto& r : replays_) {
        r->start([this] {
            if (--sources_running_ == 0) {
                ingest_done_ = std::chrono::steady_clock::now();
                commit();
                check_exit();
            }
        });
    }
    schedule_commit();
    schedule_stats();
    check_exit();
}

void Gateway::on_frame(const core::CanFrame& frame) {
    scratch_.clear();
    mapper_.map(frame, scratch_);
    for (auto& m : scratch_) outbox_.stage(std::move(m));
    if (outbox_.staged() >= config_.commit_batch) commit();
}

void Gateway::commit() {
    const auto ec = outbox_.commit();
    if (ec) {
        std::uint64_t suppressed = 0;
        if (commit_log_.allow(std::chrono::steady_clock::now(), suppressed)) {
            core::log_error("outbox.commit_failed", "could not commit to the outbox; will retry",
                            {{"error", ec.message()}, {"staged", outbox_.staged()}, {"suppressed_since_last", suppressed}});
        }
        return;
    }
    uplink_.notify();
}

void Gateway::schedule_commit() {
    commit_timer_.expires_after(config_.commit_interval);
    commit_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || stopping_) return;
        commit();
        check_exit();
        schedule_commit();
    });
}

void Gateway::schedule_stats() {
    stats_timer_.expires_after(config_.stats_interval);
    stats_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || stopping_) return;
        core::log_info("gateway.stats", "counters", counters());
        schedule_stats();
    });
}

void Gateway::check_exit() {
    if (stopping_ || exit_after_ == ExitAfter::never || sources_running_ > 0) return;
    if (exit_after_ == ExitAfter::ingest && outbox_.staged() == 0) {
        shutdown("ingest finished");
    } else if (exit_after_ == ExitAfter::drain && uplink_.drained() && outbox_.pending_acks() == 0) {
        shutdown("outbox drained");
    }
}

nlohmann::json Gateway::counters() const {
    const auto& m = mapper_.stats();
    const auto& o = outbox_.stats();
    const auto& u = uplink_.stats();
    std::uint64_t lines = 0, malformed = 0;
    for (const auto& r : replays_) {
        lines += r->stats().lines;
        malformed += r->stats().malformed;
    }
    nlohmann::json can = nlohmann::json::object();
    for (const auto& r : can_readers_) {
        const auto& s = r->stats();
        can[r->bus_name()] = {{"state", ingest::to_string(s.state)}, {"frames", s.frames},
            {"error_frames", s.error_frames}, {"bus_off", s.bus_off}, {"error_passive", s.error_passive},
            {"restarted", s.restarted}, {"kernel_drops", s.kernel_drops}, {"opens", s.opens},
            {"read_errors", s.read_errors}};
    }
    std::uint64_t evicted = 0;
    for (auto e : o.evicted) evicted += e;
    return {{"frames", m.frames},
            {"malformed_lines", malformed},
            {"unmapped_frames", m.unmapped_frames},
            {"error_frames", m.error_frames},
            {"decode_errors", m.decode_errors},
            {"out_of_range", m.out_of_range},
            {"rate_limited", m.rate_limited},
            {"readings", m.readings},
            {"committed", o.committed},
            {"outbox_rows", o.rows},
            {"outbox_bytes", o.bytes},
            {"staged", o.staged},
            {"commit_failures", o.commit_failures},
            {"evicted", evicted},
            {"dropped_unwritable", o.dropped_unwritable},
            {"published", u.published},
            {"acknowledged", u.acknowledged},
            {"rejected", u.rejected},
            {"inflight", u.inflight},
            {"connected", u.connected},
            {"connects", u.connects},
            {"connect_failures", u.connect_failures},
            {"disconnects", u.disconnects},
            {"payload_bytes", u.payload_bytes},
            {"socketcan", can}};
}

void Gateway::shutdown(const char* why) {
    if (stopping_) return;
    stopping_ = true;
    for (auto& r : replays_) r->stop();
    for (auto& r : can_readers_) r->stop();
    commit();
    uplink_.stop();
    // Acknowledgements that arrived during stop() are written now.
    commit();
    commit_timer_.cancel();
    stats_timer_.cancel();
    boost::system::error_code ignored;
    signals_.cancel(ignored);
    auto summary = counters();
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - started_).count();
    summary["reason"] = why;
    summary["elapsed_s"] = elapsed;
    if (ingest_done_ != std::chrono::steady_clock::time_point{}) {
        summary["ingest_s"] = std::chrono::duration<double>(ingest_done_ - started_).count();
    }
    core::log_info("gateway.stop", "outpost stopped", summary);
    if (outbox_.staged() > 0) exit_code_ = 1;
    io_.stop();
}

}  // namespace outpost::app
