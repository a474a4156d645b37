#include "outpost/app/reload_plan.hpp"

#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

namespace outpost::app {
namespace {

using nlohmann::json;

json devices_json(const std::vector<ingest::ModbusDeviceOptions>& devices) {
    json out = json::array();
    for (const auto& d : devices) {
        json ranges = json::array();
        for (const auto& r : d.ranges) {
            ranges.push_back({static_cast<int>(r.table), r.address, r.count, r.period.count()});
        }
        out.push_back({{"name", d.name}, {"unit", d.limits.unit}, {"max_registers", d.limits.max_registers},
                       {"max_bits", d.limits.max_bits}, {"allow_gaps", d.limits.allow_gaps},
                       {"max_gap_registers", d.limits.max_gap_registers}, {"max_gap_bits", d.limits.max_gap_bits},
                       {"ranges", std::move(ranges)}, {"response_timeout", d.response_timeout.count()},
                       {"retries", d.retries}});
    }
    return out;
}

json serial_json(const ingest::SerialFormat& f) {
    return {f.baud, static_cast<int>(f.parity), f.data_bits, f.stop_bits};
}

json tls_json(const uplink::TlsOptions& t) { return {t.enabled, t.ca_file, t.cert_file, t.key_file, t.verify_hostname}; }

// Not birth_members: it carries the configuration's digest, which any reload changes.
std::string broker_fingerprint(const uplink::UplinkOptions& b) {
    json alternates = json::array();
    for (const auto& a : b.alternates) alternates.push_back({a.host, a.port, a.tls ? tls_json(*a.tls) : json()});
    return json{b.host, b.port, std::move(alternates), b.client_id, static_cast<int>(b.protocol), b.keepalive_s,
                b.username, b.password, tls_json(b.tls), b.backoff_initial.count(), b.backoff_max.count(),
                b.connect_timeout.count(), b.stable_after.count(), b.progress_timeout.count(),
                b.failback_after.count(), b.inflight_window, b.status_topic, b.health_interval.count()}
        .dump();
}

// The link section: batching, live first, pacing, in-flight bytes, budgets.
std::string link_fingerprint(const uplink::UplinkOptions& b) {
    const auto& t = b.batch;
    const auto& g = b.budget;
    return json{t.enabled, static_cast<int>(t.format.encoding), static_cast<int>(t.format.compression), t.format.level,
                t.max_readings, t.max_bytes, t.max_delay.count(), t.unbatched_from_priority, t.batch_retained,
                t.group_levels, t.topic_suffix, b.live_first, b.max_bytes_per_s, b.max_inflight_bytes,
                g.daily_bytes, g.monthly_bytes, g.reserve_fraction, g.always_from_priority}
        .dump();
}

}  // namespace

std::string bus_fingerprint(const BusConfig& bus, std::size_t index) {
    json j = {{"index", index}, {"type", static_cast<int>(bus.type)}, {"enabled", bus.enabled}};
    switch (bus.type) {
        case BusType::candump_replay: {
            // Not start_offset: a restarted replay resumes where the running one got to.
            const auto& r = bus.replay;
            j["replay"] = {r.path, r.speed, r.interface, r.restamp, r.lines_per_slice};
            break;
        }
        case BusType::socketcan: {
            const auto& s = bus.socketcan;
            json filters = json::array();
            for (const auto& f : s.filters) filters.push_back({f.id, f.mask, f.extended});
            j["socketcan"] = {s.interface, s.fd, s.receive_buffer, s.reopen_initial.count(), s.reopen_max.count(),
                              std::move(filters)};
            break;
        }
        case BusType::modbus_rtu:
            j["listen_only"] = bus.listen_only;
            if (bus.listen_only) {
                const auto& t = bus.tap;
                j["tap"] = {t.device, serial_json(t.format), t.frame_gap.count(), t.response_timeout.count(),
                            t.reopen_initial.count(), t.reopen_max.count()};
            } else {
                const auto& r = bus.rtu;
                j["rtu"] = {r.device, serial_json(r.format), r.inter_byte_timeout.count(), r.drain_silence.count(),
                            r.drain_max.count(), r.reopen_initial.count(), r.reopen_max.count(),
                            devices_json(r.devices)};
            }
            break;
        case BusType::modbus_tcp:
        case BusType::modbus_rtu_over_tcp: {
            const auto& t = bus.tcp;
            j["tcp"] = {t.host, t.port, static_cast<int>(t.framing), t.connect_timeout.count(),
                        t.inter_byte_timeout.count(), t.drain_silence.count(), t.drain_max.count(),
                        t.reconnect_initial.count(), t.reconnect_max.count(), devices_json(t.devices)};
            break;
        }
    }
    return j.dump();
}

ReloadPlan plan_reload(const SiteConfig& running, const SiteConfig& next) {
    ReloadPlan plan;
    if (running.gateway_id != next.gateway_id) {
        plan.refused = true;
        plan.refusal = "gateway_id changed from \"" + running.gateway_id + "\" to \"" + next.gateway_id +
                       "\": that needs a restart (the mappings' topics and every sequence number name it)";
        return plan;
    }
    if (broker_fingerprint(running.broker) != broker_fingerprint(next.broker)) plan.needs_restart.push_back("broker");
    if (running.report_losses != next.report_losses) plan.needs_restart.push_back("report_losses");
    if (link_fingerprint(running.broker) != link_fingerprint(next.broker)) plan.needs_restart.push_back("link");
    const auto& o = running.outbox;
    const auto& n = next.outbox;
    if (o.path != n.path) plan.needs_restart.push_back("outbox/path");
    if (o.max_rows != n.max_rows) plan.needs_restart.push_back("outbox/max_rows");
    if (o.max_bytes != n.max_bytes) plan.needs_restart.push_back("outbox/max_bytes");
    if (o.synchronous_full != n.synchronous_full) plan.needs_restart.push_back("outbox/synchronous");
    if (o.ttl != n.ttl) plan.needs_restart.push_back("outbox/ttl_s");
    if (o.loss_window != n.loss_window) plan.needs_restart.push_back("outbox/loss_window_s");
    if (o.expiry_grace != n.expiry_grace) plan.needs_restart.push_back("outbox/expiry_grace_s");
    if (running.commit_interval != next.commit_interval) plan.live_changes.push_back("outbox/commit_interval_ms");
    if (running.commit_batch != next.commit_batch) plan.live_changes.push_back("outbox/commit_batch");
    if (running.stats_interval != next.stats_interval) plan.live_changes.push_back("stats_interval_s");

    std::map<std::string, std::string> old_running;  // name -> fingerprint of running sources
    for (std::size_t i = 0; i < running.buses.size(); ++i) {
        if (running.buses[i].enabled) old_running[running.buses[i].name] = bus_fingerprint(running.buses[i], i);
    }
    std::map<std::string, std::string> new_running;
    for (std::size_t i = 0; i < next.buses.size(); ++i) {
        if (next.buses[i].enabled) new_running[next.buses[i].name] = bus_fingerprint(next.buses[i], i);
    }
    for (const auto& [name, print] : old_running) {
        const auto it = new_running.find(name);
        if (it == new_running.end() || it->second != print) plan.stop_buses.push_back(name);
    }
    for (const auto& [name, print] : new_running) {
        const auto it = old_running.find(name);
        if (it == old_running.end() || it->second != print) plan.start_buses.push_back(name);
    }
    return plan;
}

}  // namespace outpost::app
