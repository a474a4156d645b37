#include "outpost/app/gateway.hpp"

#include <algorithm>
#include <ctime>
#include <array>
#include <filesystem>
#include <fstream>

#include <boost/asio/post.hpp>

#include "http_server.hpp"
#include "outpost/app/commands.hpp"
#include "loss_reporter.hpp"
#include "outpost/core/fnv1a.hpp"
#include "outpost/core/log.hpp"
#include "outpost/core/wall_clock.hpp"

namespace outpost::app {
namespace {

// Where a replay got to is remembered per bus, log path and log content (a fingerprint of its
// first 4 KiB, FNV-1a: stable across builds), so that a different log at the same path starts from
// its beginning.
std::string replay_key(const std::string& bus, const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::array<char, 4096> head{};
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    const auto hash = core::fnv1a64(std::string_view(head.data(), static_cast<std::size_t>(in.gcount())));
    std::error_code ec;
    auto canonical = std::filesystem::weakly_canonical(path, ec);
    if (ec) canonical = std::filesystem::absolute(path);
    return "replay:" + bus + ":" + canonical.string() + ":" + std::to_string(hash);
}

// The broker options with what the birth message says about this gateway.
uplink::UplinkOptions uplink_options(const SiteConfig& config, const outbox::Outbox& outbox) {
    auto o = config.broker;
    const nlohmann::json birth = {{"version", OUTPOST_VERSION}, {"config_digest", config.digest},
                                  {"started", core::utc_text(core::wall_clock_ns())}, {"epoch", outbox.stats().epoch}};
    const auto text = birth.dump();
    o.birth_members = text.substr(1, text.size() - 2);
    return o;
}

}  // namespace

Gateway::Gateway(boost::asio::io_context& io, SiteConfig config, ExitAfter exit_after, RunOptions run)
    : io_(io),
      config_(std::move(config)),
      exit_after_(exit_after),
      mapper_(config_.mapping),
      modbus_mapper_(config_.mapping.modbus),
      outbox_(config_.outbox),
      uplink_(io, uplink_options(config_, outbox_), outbox_),
      commit_timer_(io),
      stats_timer_(io),
      signals_(io),
      commit_backoff_(std::chrono::milliseconds(100), std::chrono::milliseconds(5000),
                      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())),
      run_(run),
      signal_policy_{.reload_on_sighup = run.reload_on_sighup, .test_stall_hook = run.test_stall_io.count() > 0},
      // A commit that does not come back within half the watchdog timeout is a hung disk or writer.
      progress_(notifier_.watchdog_timeout().value_or(std::chrono::seconds(60)) / 2),
      service_timer_(io) {
    for (const int signo : caught_signals()) signals_.add(signo);
    for (auto& bus : config_.buses) {
        if (bus.enabled) add_source(bus);
    }
    if (config_.report_losses) {
        // A record settles one loss window after the window it was written in has closed.
        loss_reporter_ = std::make_unique<LossReporter>(outbox_, uplink_.status_topic() + "/loss", 2 * config_.outbox.loss_window);
    }
    scratch_.reserve(64);
    open_http();
}

Gateway::~Gateway() = default;

void Gateway::add_source(BusConfig& bus, const std::map<std::string, std::uint64_t>& resume) {
    switch (bus.type) {
        case BusType::socketcan:
            can_readers_.push_back(std::make_unique<ingest::SocketCanReader>(io_, bus.socketcan, *this));
            break;
        case BusType::candump_replay: {
            // Resume where the last commit ended instead of ingesting the log again (a reload passes
            // where the replay it replaces got to, which may be past the last commit).
            replay_keys_.push_back(replay_key(bus.name, bus.replay.path));
            const auto resumed = resume.find(replay_keys_.back());
            bus.replay.start_offset = resumed != resume.end()
                                          ? resumed->second
                                          : static_cast<std::uint64_t>(std::max<std::int64_t>(
                                                outbox_.position(replay_keys_.back()).value_or(0), 0));
            replays_.push_back(std::make_unique<ingest::CandumpReplay>(io_, bus.replay, *this));
            break;
        }
        case BusType::modbus_rtu:
            if (bus.listen_only) {
                rtu_taps_.push_back(std::make_unique<ingest::RtuTap>(io_, bus.tap, *this));
            } else {
                rtu_masters_.push_back(std::make_unique<ingest::RtuMaster>(io_, bus.rtu, *this));
            }
            break;
        case BusType::modbus_tcp:
        case BusType::modbus_rtu_over_tcp:
            tcp_masters_.push_back(std::make_unique<ingest::ModbusTcpMaster>(io_, bus.tcp, *this));
            break;
    }
}

void Gateway::start_replay(ingest::CandumpReplay& replay) {
    ++sources_running_;
    replay.start([this] {
        if (--sources_running_ == 0) {
            ingest_done_ = std::chrono::steady_clock::now();
            commit();
            check_exit();
        }
    });
}

void Gateway::start() {
    started_ = std::chrono::steady_clock::now();
    core::log_info("gateway.start", "outpost is running",
                   {{"gateway_id", config_.gateway_id}, {"config", config_.file}, {"buses", config_.buses.size()},
                    {"can_rules", config_.mapping.can.size()}, {"modbus_devices", config_.mapping.modbus.size()},
                    {"epoch", outbox_.stats().epoch}, {"next_seq", outbox_.stats().next_seq}});
    arm_signals();
    // A commit finished on the outbox's writer thread: collect it here, start the next.
    outbox_.set_commit_listener([this] {
        boost::asio::post(io_, [this] {
            if (stopping_) return;
            if (const auto result = outbox_.collect_commit()) commit_done(*result, acks_only_in_flight_);
            // The next one at once only when a batch is waiting; otherwise at the commit tick.
            if (outbox_.staged() >= config_.commit_batch || outbox_.pending_acks() >= uplink::Uplink::ack_commit_batch) {
                commit();
            }
            check_exit();
        });
    });
    // Loss records written by an earlier run (or at start: a quarantine) go out first.
    if (loss_reporter_) loss_reporter_->report(core::wall_clock_ns());
    uplink_.set_health_source([this] { return health_message(); });
    uplink_.set_commit_request([this] {
        if (!stopping_) commit();
    });
    uplink_.start();
    if (http_) http_->start();
    for (auto& reader : can_readers_) reader->start();
    for (auto& m : rtu_masters_) m->start();
    for (auto& m : tcp_masters_) m->start();
    for (auto& t : rtu_taps_) t->start();
    for (auto& r : replays_) start_replay(*r);
    schedule_commit();
    schedule_stats();
    pid_file_.emplace(pid_file_path(config_.outbox.path));
    notifier_.ready(status_line());
    schedule_service();
    check_exit();
}

void Gateway::on_frame(const core::CanFrame& frame) {
    scratch_.clear();
    mapper_.map(frame, scratch_);
    stage(scratch_);
}

void Gateway::on_modbus(const core::ModbusBlock& block) {
    scratch_.clear();
    modbus_mapper_.map(block, scratch_);
    stage(scratch_);
}

void Gateway::stage(std::vector<core::Message>& messages) {
    for (auto& m : messages) outbox_.stage(std::move(m));
    if (outbox_.staged() < config_.commit_batch) return;
    // A few batches may wait while the writer thread commits; more means it is behind a source
    // faster than the disk (a replay at full speed, or a bus while the writer also deletes a
    // large drain's acknowledgements): wait for it here, which holds the source back, rather
    // than fill memory (a staged reading costs about 200 bytes of heap, and RSS is a budget) and
    // drop at the cap. Counted (commit_waits). Waiting stalls the drain on this thread too: at
    // two batches instead of four the drain under a saturated bus fell from 0.83x to 0.49x of its
    // rate alone (medians of 5 runs) for 1 MB less heap.
    const std::size_t high_water =
        std::min(config_.outbox.max_staged / 2, std::max<std::size_t>(config_.commit_batch * 4, 4096));
    if (outbox_.commit_in_flight() && outbox_.staged() >= high_water &&
        std::chrono::steady_clock::now() >= commit_retry_at_) {
        ++commit_waits_;
        const auto waited_from = std::chrono::steady_clock::now();
        outbox_.wait_for_commit();
        commit_wait_time_ += std::chrono::steady_clock::now() - waited_from;
    }
    commit();
}

void Gateway::record_positions() {
    for (std::size_t i = 0; i < replays_.size(); ++i) {
        outbox_.set_position(replay_keys_[i], static_cast<std::int64_t>(replays_[i]->resume_offset()));
    }
}

void Gateway::commit(bool force) {
    if (outbox_.stats().memory_only) {
        // Nothing can be committed (the outbox said so, and retries on its own): what is staged is
        // delivered from memory, and commit() forgets what has been acknowledged.
        outbox_.commit();
        uplink_.notify();
        return;
    }
    if (force) {
        // Shutdown: wait for the disk.
        record_positions();
        commit_done(outbox_.commit(), false);
        return;
    }
    // Commits run on the outbox's writer thread; this thread never waits for them. The outbox's
    // listener brings us back here when one has finished.
    if (const auto result = outbox_.collect_commit()) commit_done(*result, acks_only_in_flight_);
    if (outbox_.commit_in_flight()) return;
    if (std::chrono::steady_clock::now() < commit_retry_at_) {
        // Inserts wait for their backoff; acknowledged deletes do not, so the outbox keeps
        // draining (and freeing space) while the disk is full.
        if (outbox_.pending_acks() > 0) acks_only_in_flight_ = outbox_.begin_commit(true);
        return;
    }
    record_positions();
    acks_only_in_flight_ = false;
    outbox_.begin_commit();
}

void Gateway::commit_done(std::error_code ec, bool acks_only) {
    ++commits_finished_;
    // Deletes may have gone through even when inserts failed: the uplink looks again either way.
    uplink_.notify();
    if (acks_only) return;
    const auto now = std::chrono::steady_clock::now();
    if (ec) {
        commit_retry_at_ = now + commit_backoff_.next();
        std::uint64_t suppressed = 0;
        if (commit_log_.allow(now, suppressed)) {
            core::log_error("outbox.commit_failed", "could not commit to the outbox; will retry",
                            {{"error", ec.message()}, {"staged", outbox_.staged()},
                             {"dropped_unwritable", outbox_.stats().dropped_unwritable},
                             {"suppressed_since_last", suppressed}});
        }
        return;
    }
    if (commit_backoff_.attempts() > 0) {
        core::log_info("outbox.commit_recovered", "commits succeed again",
                       {{"dropped_unwritable", outbox_.stats().dropped_unwritable}});
    }
    commit_backoff_.reset();
    commit_retry_at_ = {};
}

void Gateway::schedule_commit() {
    commit_timer_.expires_after(config_.commit_interval);
    commit_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || stopping_) return;
        const auto now = std::chrono::steady_clock::now();
        if (loss_reporter_ && now >= next_loss_report_) {
            next_loss_report_ = now + std::chrono::seconds(1);
            loss_reporter_->report(core::wall_clock_ns());
        }
        commit();
        outbox_.maintain(now);
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
    if (stopping_ || reloading_ || exit_after_ == ExitAfter::never || sources_running_ > 0) return;
    if (exit_after_ == ExitAfter::ingest && outbox_.staged() == 0) {
        shutdown("ingest finished");
    } else if (exit_after_ == ExitAfter::drain && uplink_.drained() && outbox_.pending_acks() == 0) {
        shutdown("outbox drained");
    }
}

nlohmann::json Gateway::counters() const {
    const auto m = mapper_stats();
    const auto& o = outbox_.stats();
    const auto& u = uplink_.stats();
    std::uint64_t lines = retired_replay_lines_, malformed = retired_replay_malformed_;
    for (const auto& r : replays_) {
        lines += r->stats().lines;
        malformed += r->stats().malformed;
    }
    nlohmann::json can = nlohmann::json::object();
    for (const auto& r : can_readers_) {
        const auto& s = r->stats();
        can[r->bus_name()] = {{"state", ingest::to_string(s.state)}, {"frames", s.frames},
            {"error_frames", s.error_frames}, {"bus_off", s.bus_off}, {"error_warning", s.error_warning},
            {"error_passive", s.error_passive}, {"kernel_filters", s.kernel_filters}, {"receive_buffer", s.receive_buffer},
            {"restarted", s.restarted}, {"kernel_drops", s.kernel_drops}, {"opens", s.opens},
            {"read_errors", s.read_errors}};
    }
    std::uint64_t evicted = 0;
    for (auto e : o.evicted) evicted += e;
    std::uint64_t expired = 0;
    for (auto e : o.expired) expired += e;
    return {{"frames", m.frames},
            {"malformed_lines", malformed},
            {"unmapped_frames", m.unmapped_frames},
            {"error_frames", m.error_frames},
            {"decode_errors", m.decode_errors},
            {"length_mismatches", m.length_mismatches},
            {"short_frames", m.short_frames},
            {"out_of_range", m.out_of_range},
            {"rate_limited", m.rate_limited},
            {"readings", m.readings},
            {"committed", o.committed},
            {"outbox_rows", o.rows},
            {"outbox_bytes", o.bytes},
            {"staged", o.staged},
            {"commit_failures", o.commit_failures},
            {"commit_waits", commit_waits_},
            {"commit_wait_ms", std::chrono::duration_cast<std::chrono::milliseconds>(commit_wait_time_).count()},
            {"writer_busy_ms", o.writer_busy_ns / 1'000'000},
            {"evicted", evicted},
            {"expired", expired},
            {"dropped_unwritable", o.dropped_unwritable},
            {"dropped_at_shutdown", o.dropped_at_shutdown},
            {"corrupt_rows", o.corrupt_rows},
            {"memory_only", o.memory_only},
            {"delivered_from_memory", o.delivered_from_memory},
            {"quarantines", o.quarantines},
            {"salvaged", o.salvaged},
            {"epoch", o.epoch},
            {"published", u.published},
            {"acknowledged", u.acknowledged},
            {"rejected", u.rejected},
            {"inflight", u.inflight},
            {"window", u.window},
            {"connected", u.connected},
            {"connects", u.connects},
            {"connect_failures", u.connect_failures},
            {"disconnects", u.disconnects},
            {"payload_bytes", u.payload_bytes},
            {"batches", u.batches},
            {"paced_waits", u.paced_waits},
            {"held_below_priority", u.held_below},
            {"link", link_counters()},
            {"reloads", reloads_},
            {"reloads_refused", reloads_refused_},
            {"socketcan", can},
            {"modbus", modbus_counters()}};
}

nlohmann::json Gateway::link_counters() const {
    const auto& l = uplink_.link_usage();
    return {{"bytes_sent", l.total.bytes_sent},         {"bytes_received", l.total.bytes_received},
            {"segments_sent", l.total.segments_sent},   {"segments_received", l.total.segments_received},
            {"wire_bytes", l.total.wire_bytes()},       {"day_bytes", l.day_bytes},
            {"month_bytes", l.month_bytes}};
}

std::string Gateway::health_message() const {
    auto j = counters();
    j["gw"] = config_.gateway_id;
    j["ts"] = static_cast<double>(core::wall_clock_ns()) / 1e9;
    j["uptime_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    j["last_error"] = uplink_.stats().last_error == 0
                          ? "" : to_string(static_cast<uplink::UplinkError>(uplink_.stats().last_error));
    return j.dump();
}

nlohmann::json Gateway::modbus_counters() const {
    const auto mm = modbus_mapper_stats();
    nlohmann::json out = {{"blocks", mm.blocks}, {"unmapped_blocks", mm.unmapped_blocks},
                          {"decode_errors", mm.decode_errors}, {"out_of_range", mm.out_of_range},
                          {"rate_limited", mm.rate_limited}, {"readings", mm.readings}};
    auto counters_json = [](const ingest::ModbusCounters& c) {
        return nlohmann::json{{"requests", c.requests}, {"responses", c.responses}, {"timeouts", c.timeouts},
                              {"crc_errors", c.crc_errors}, {"exceptions", c.exceptions}, {"wrong_unit", c.wrong_unit},
                              {"malformed", c.malformed}, {"truncated", c.truncated}, {"io_errors", c.io_errors},
                              {"retries", c.retries}};
    };
    auto devices_json = [&](const auto& master) {
        nlohmann::json devices = nlohmann::json::object();
        for (std::size_t i = 0; i < master.device_count(); ++i) {
            const auto d = master.device_stats(i);
            auto j = counters_json(d.counters);
            j["unit"] = d.unit;
            j["breaker"] = ingest::to_string(d.breaker);
            j["breaker_opens"] = d.breaker_opens;
            j["period_ms"] = std::chrono::duration<double, std::milli>(d.configured_period).count();
            j["achieved_period_ms"] = std::chrono::duration<double, std::milli>(d.achieved_period).count();
            devices[d.name] = std::move(j);
        }
        return devices;
    };
    nlohmann::json lines = nlohmann::json::object();
    for (const auto& m : rtu_masters_) {
        const auto s = m->stats();
        auto j = counters_json(s.counters);
        j["bytes_out"] = s.bytes_out;
        j["bytes_in"] = s.bytes_in;
        j["opens"] = s.opens;
        j["connected"] = s.connected;
        j["devices"] = devices_json(*m);
        lines[m->options().name] = std::move(j);
    }
    for (const auto& m : tcp_masters_) {
        const auto s = m->stats();
        auto j = counters_json(s.counters);
        j["bytes_out"] = s.bytes_out;
        j["bytes_in"] = s.bytes_in;
        j["stale"] = s.stale;
        j["opens"] = s.opens;
        j["connected"] = s.connected;
        j["devices"] = devices_json(*m);
        lines[m->options().name] = std::move(j);
    }
    for (const auto& t : rtu_taps_) {
        const auto s = t->stats();
        lines[t->options().name] = {{"listen_only", true}, {"requests", s.sniffer.requests},
                                    {"responses", s.sniffer.responses}, {"blocks", s.sniffer.blocks},
                                    {"exceptions", s.sniffer.exceptions}, {"unanswered", s.sniffer.unanswered},
                                    {"noise_bytes", s.sniffer.noise_bytes}, {"bytes_in", s.bytes_in},
                                    {"connected", s.connected}};
    }
    out["lines"] = std::move(lines);
    return out;
}

void Gateway::shutdown(const char* why) {
    if (stopping_) return;
    stopping_ = true;
    notifier_.stopping(std::string("stopping (") + why + "): committing " + std::to_string(outbox_.staged()) +
                       " staged readings, then disconnecting");
    service_timer_.cancel();
    for (auto& r : replays_) r->stop();
    for (auto& r : can_readers_) r->stop();
    for (auto& m : rtu_masters_) m->stop();
    for (auto& m : tcp_masters_) m->stop();
    for (auto& t : rtu_taps_) t->stop();
    commit(true);
    uplink_.stop();
    // Acknowledgements that arrived during stop() are written now.
    commit(true);
    // What still cannot be committed is recorded as lost now, so the summary below counts it.
    outbox_.close();
    commit_timer_.cancel();
    stats_timer_.cancel();
    if (http_) http_->stop();
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
    pid_file_.reset();
    if (exit_code_ == exit_ok && outbox_.stats().dropped_at_shutdown > 0) exit_code_ = exit_runtime;
    io_.stop();
}

void Gateway::fail(const std::string& what) {
    core::log_error("gateway.failed", "an unexpected error while running; stopping through the normal shutdown",
                    {{"error", what}});
    exit_code_ = exit_failure;
    stopping_ = false;  // a failure during shutdown still gets the rest of it
    shutdown("runtime failure");
}

}  // namespace outpost::app
