// Gateway::reload and the per-bus source bookkeeping it needs (see gateway.hpp).
#include <algorithm>
#include <map>

#include "outpost/app/gateway.hpp"
#include "outpost/app/reload_plan.hpp"
#include "outpost/core/log.hpp"

namespace outpost::app {
namespace {

void add_stats(mapping::MapperStats& into, const mapping::MapperStats& s) {
    into.frames += s.frames;
    into.unmapped_frames += s.unmapped_frames;
    into.error_frames += s.error_frames;
    into.remote_frames += s.remote_frames;
    into.length_mismatches += s.length_mismatches;
    into.short_frames += s.short_frames;
    into.decode_errors += s.decode_errors;
    into.out_of_range += s.out_of_range;
    into.rate_limited += s.rate_limited;
    into.readings += s.readings;
}

void add_stats(mapping::ModbusMapperStats& into, const mapping::ModbusMapperStats& s) {
    into.blocks += s.blocks;
    into.unmapped_blocks += s.unmapped_blocks;
    into.decode_errors += s.decode_errors;
    into.out_of_range += s.out_of_range;
    into.rate_limited += s.rate_limited;
    into.readings += s.readings;
}

// Moves the sources of `bus_name` out of `sources` into `retired` (stopped first).
template <typename Source, typename NameOf>
std::size_t retire_from(std::vector<std::unique_ptr<Source>>& sources, const std::string& bus_name, NameOf name_of,
                        std::vector<std::shared_ptr<void>>& retired) {
    std::size_t n = 0;
    for (auto it = sources.begin(); it != sources.end();) {
        if (name_of(**it) == bus_name) {
            (*it)->stop();
            retired.emplace_back(std::shared_ptr<Source>(std::move(*it)));
            it = sources.erase(it);
            ++n;
        } else {
            ++it;
        }
    }
    return n;
}

}  // namespace

void Gateway::start_source(const BusConfig& bus) {
    // add_source() has just appended the bus's source to its list.
    switch (bus.type) {
        case BusType::socketcan: can_readers_.back()->start(); break;
        case BusType::candump_replay: start_replay(*replays_.back()); break;
        case BusType::modbus_rtu:
            if (bus.listen_only) {
                rtu_taps_.back()->start();
            } else {
                rtu_masters_.back()->start();
            }
            break;
        case BusType::modbus_tcp:
        case BusType::modbus_rtu_over_tcp: tcp_masters_.back()->start(); break;
    }
}

mapping::MapperStats Gateway::mapper_stats() const {
    auto s = retired_mapper_stats_;
    add_stats(s, mapper_.stats());
    return s;
}

mapping::ModbusMapperStats Gateway::modbus_mapper_stats() const {
    auto s = retired_modbus_stats_;
    add_stats(s, modbus_mapper_.stats());
    return s;
}

void Gateway::retire_source(const std::string& bus_name) {
    for (std::size_t i = 0; i < replays_.size();) {
        if (replays_[i]->bus_name() != bus_name) {
            ++i;
            continue;
        }
        // Its last frame's position is committed with the readings it staged, as if it ran on.
        outbox_.set_position(replay_keys_[i], static_cast<std::int64_t>(replays_[i]->resume_offset()));
        retired_replay_lines_ += replays_[i]->stats().lines;
        retired_replay_malformed_ += replays_[i]->stats().malformed;
        replays_[i]->stop();
        retired_sources_.emplace_back(std::shared_ptr<ingest::CandumpReplay>(std::move(replays_[i])));
        replays_.erase(replays_.begin() + static_cast<std::ptrdiff_t>(i));
        replay_keys_.erase(replay_keys_.begin() + static_cast<std::ptrdiff_t>(i));
    }
    retire_from(can_readers_, bus_name, [](const auto& r) { return r.bus_name(); }, retired_sources_);
    retire_from(rtu_masters_, bus_name, [](const auto& m) { return m.options().name; }, retired_sources_);
    retire_from(tcp_masters_, bus_name, [](const auto& m) { return m.options().name; }, retired_sources_);
    retire_from(rtu_taps_, bus_name, [](const auto& t) { return t.options().name; }, retired_sources_);
}

bool Gateway::reload() {
    if (stopping_) return false;
    core::log_info("reload.start", "re-reading the site configuration", {{"config", config_.file}});
    notifier_.reloading("reloading " + config_.file);
    // Read on the io thread: the files are bounded (core/bounded_read.hpp) and a site's mappings
    // load in milliseconds (a 100k-signal DBC in 0.15 s), well inside any watchdog timeout.
    SiteConfig next;
    auto refuse = [&](const std::string& why, std::size_t problems) {
        ++reloads_refused_;
        core::log_error("reload.refused", "the new configuration is refused; the running one stays",
                        {{"config", config_.file}, {"reason", why}, {"problems", problems}});
        notifier_.reloaded("reload refused (" + why + "); still running the previous configuration. " +
                           status_line());
        return false;
    };
    try {
        next = load_site_config(config_.file);
    } catch (const core::ConfigError& e) {
        for (const auto& issue : e.issues().all()) {
            core::log_error("reload.problem", issue.message, {{"file", issue.file}, {"path", issue.path}});
        }
        return refuse(std::to_string(e.issues().size()) + " problem(s) in the configuration", e.issues().size());
    } catch (const std::exception& e) {
        return refuse(e.what(), 1);
    }
    const auto plan = plan_reload(config_, next);
    if (plan.refused) return refuse(plan.refusal, 1);

    // What cannot change live is kept as it runs.
    next.broker = config_.broker;
    next.outbox = config_.outbox;
    next.report_losses = config_.report_losses;
    next.file = config_.file;

    reloading_ = true;  // a replay stopped below must not look like the end of ingest
    retired_sources_.clear();  // the previous reload's: their handlers ran long ago
    std::map<std::string, std::uint64_t> replay_offsets;  // replay key -> where the running one got to
    for (std::size_t i = 0; i < replays_.size(); ++i) replay_offsets[replay_keys_[i]] = replays_[i]->resume_offset();
    for (const auto& name : plan.stop_buses) retire_source(name);

    // A new mapping engine (rate control starts afresh: each signal's next reading is published).
    // Nothing is half-mapped: frames are mapped on this thread, one at a time.
    add_stats(retired_mapper_stats_, mapper_.stats());
    add_stats(retired_modbus_stats_, modbus_mapper_.stats());
    mapper_ = mapping::Mapper(next.mapping);
    modbus_mapper_ = mapping::ModbusMapper(next.mapping.modbus);
    config_ = std::move(next);

    std::vector<std::string> failed;
    for (const auto& name : plan.start_buses) {
        auto bus = std::find_if(config_.buses.begin(), config_.buses.end(), [&](const auto& b) { return b.name == name; });
        if (bus == config_.buses.end()) continue;
        try {
            add_source(*bus, replay_offsets);
            start_source(*bus);
        } catch (const std::exception& e) {
            // The source cannot be created or started (a replay log that vanished, no SocketCAN):
            // the rest of the reload stands; the bus is reported and stays stopped.
            core::log_error("reload.bus_failed", "a bus could not be started", {{"bus", name}, {"error", e.what()}});
            retire_source(name);
            failed.push_back(name);
        }
    }
    reloading_ = false;

    ++reloads_;
    if (!plan.needs_restart.empty()) {
        core::log_warn("reload.needs_restart", "changed settings that only a restart applies are kept as they run",
                       {{"settings", plan.needs_restart}, {"config", config_.file}});
    }
    core::log_info("reload.done", "the new configuration is running",
                   {{"config", config_.file}, {"first_seq", outbox_.stats().next_seq},
                    {"can_rules", config_.mapping.can.size()},
                    {"modbus_devices", config_.mapping.modbus.size()}, {"live_changes", plan.live_changes},
                    {"buses_stopped", plan.stop_buses}, {"buses_started", plan.start_buses},
                    {"buses_failed", failed}, {"needs_restart", plan.needs_restart}});
    std::string note = "reloaded";
    if (!plan.needs_restart.empty()) note += " (restart needed for: " + nlohmann::json(plan.needs_restart).dump() + ")";
    notifier_.reloaded(note + ". " + status_line());
    check_exit();
    return true;
}

}  // namespace outpost::app
