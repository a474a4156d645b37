// The gateway's HTTP endpoint: its counters as Prometheus metrics, and its readiness. Everything
// here runs on the io thread, reading the counters the pipeline keeps (no copies, no locks).
#include <chrono>

#include <boost/system/system_error.hpp>
#include <nlohmann/json.hpp>

#include "http_server.hpp"
#include "outpost/app/gateway.hpp"
#include "outpost/core/log.hpp"
#include "prometheus_text.hpp"

namespace outpost::app {
namespace {

using MT = MetricType;

double seconds_since_epoch(std::chrono::system_clock::time_point t) {
    return std::chrono::duration<double>(t.time_since_epoch()).count();
}

void modbus_counter_metrics(PrometheusText& out, const std::string& prefix, const std::string& what,
                            const MetricLabels& labels, const ingest::ModbusCounters& c) {
    const struct {
        const char* name;
        const char* help;
        std::uint64_t value;
    } rows[] = {
        {"requests_total", "Modbus requests sent, retries included", c.requests},
        {"responses_total", "valid Modbus responses with data", c.responses},
        {"exceptions_total", "valid Modbus exception responses", c.exceptions},
        {"timeouts_total", "Modbus requests that got no response in time", c.timeouts},
        {"truncated_total", "Modbus responses cut short", c.truncated},
        {"crc_errors_total", "Modbus RTU frames with a bad CRC", c.crc_errors},
        {"wrong_unit_total", "Modbus responses from another unit than asked", c.wrong_unit},
        {"malformed_total", "Modbus responses that do not parse", c.malformed},
        {"io_errors_total", "Modbus line or connection errors", c.io_errors},
        {"retries_total", "Modbus requests sent again after a failure", c.retries},
    };
    for (const auto& r : rows) out.add(prefix + r.name, MT::counter, std::string(r.help) + " " + what, labels, r.value);
}

}  // namespace

void Gateway::open_http() {
    started_wall_ = std::chrono::system_clock::now();
    if (!config_.http.enabled) return;
    HttpEndpoints endpoints{[this] { return metrics_text(); }, [this] { return readiness(); }};
    try {
        http_ = std::make_unique<HttpServer>(io_, config_.http, std::move(endpoints));
    } catch (const boost::system::system_error& e) {
        throw std::runtime_error("cannot serve metrics on " + config_.http.address + ":" +
                                 std::to_string(config_.http.port) + " (site \"http\" section): " + e.code().message());
    }
}

Readiness Gateway::readiness() const {
    const auto& o = outbox_.stats();
    const auto u = uplink_.stats();
    const bool ingesting = started_ != std::chrono::steady_clock::time_point{} && !stopping_;
    // Writable: the store is open for writing and commits succeed (not retrying after a failure).
    const bool outbox_writable = !o.memory_only && commit_backoff_.attempts() == 0;
    std::size_t live_sources = can_readers_.size() + rtu_masters_.size() + tcp_masters_.size() + rtu_taps_.size();
    nlohmann::json body = {{"ready", ingesting && outbox_writable},
                           {"ingesting", ingesting},
                           {"outbox_writable", outbox_writable},
                           {"outbox_memory_only", o.memory_only},
                           {"outbox_rows", o.rows},
                           {"live_sources", live_sources},
                           {"replays_running", sources_running_},
                           // Reported, not required: the link is often down by design.
                           {"uplink_connected", u.connected},
                           {"uplink_inflight", u.inflight}};
    return {ingesting && outbox_writable, body.dump()};
}

std::string Gateway::metrics_text() const {
    PrometheusText out;
    const auto now = std::chrono::system_clock::now();

    // The process.
    out.add("outpost_build_info", MT::gauge, "always 1; the labels say which gateway and version",
            {{"gateway_id", config_.gateway_id}, {"version", "0.1.0"}}, std::uint64_t{1});
    out.gauge("outpost_start_time_seconds", "when the gateway started (Unix time)", seconds_since_epoch(started_wall_));
    out.gauge("outpost_ready", "1 while ready (ingesting, outbox writable); see /readyz", readiness().ready ? 1 : 0);
    out.add("outpost_config_reloads_total", MT::counter, "configuration reloads (SIGHUP, outpost reload), by result",
            {{"result", "applied"}}, reloads_);
    out.add("outpost_config_reloads_total", MT::counter, "configuration reloads (SIGHUP, outpost reload), by result",
            {{"result", "refused"}}, reloads_refused_);

    // Sources (a bus restarted by a reload starts its counters again from 0, which rate() handles).
    for (const auto& r : replays_) {
        const auto& s = r->stats();
        const MetricLabels l{{"bus", r->bus_name()}};
        out.add("outpost_replay_lines_total", MT::counter, "candump log lines read", l, s.lines);
        out.add("outpost_replay_frames_total", MT::counter, "frames read from candump logs", l, s.frames);
        out.add("outpost_replay_malformed_lines_total", MT::counter, "candump log lines that do not parse (too long included)", l, s.malformed);
    }
    for (const auto& r : can_readers_) {
        const auto& s = r->stats();
        const MetricLabels l{{"bus", r->bus_name()}};
        out.add("outpost_socketcan_frames_total", MT::counter, "CAN data frames received", l, s.frames);
        out.add("outpost_socketcan_error_frames_total", MT::counter, "CAN error frames received", l, s.error_frames);
        out.add("outpost_socketcan_bus_off_total", MT::counter, "times the controller went bus-off", l, s.bus_off);
        out.add("outpost_socketcan_error_warning_total", MT::counter, "times the controller reached error-warning", l, s.error_warning);
        out.add("outpost_socketcan_error_passive_total", MT::counter, "times the controller went error-passive", l, s.error_passive);
        out.add("outpost_socketcan_restarts_total", MT::counter, "controller restarts after bus-off", l, s.restarted);
        out.add("outpost_socketcan_kernel_drops_total", MT::counter, "frames the kernel dropped (socket buffer full)", l, s.kernel_drops);
        out.add("outpost_socketcan_opens_total", MT::counter, "times the CAN socket was opened", l, s.opens);
        out.add("outpost_socketcan_read_errors_total", MT::counter, "CAN socket read errors (interface down, gone)", l, s.read_errors);
        out.add("outpost_socketcan_kernel_filters", MT::gauge, "CAN filters the kernel holds (0: every frame is read)", l, static_cast<std::uint64_t>(s.kernel_filters));
        out.add("outpost_socketcan_receive_buffer_bytes", MT::gauge, "socket receive buffer the kernel granted", l, static_cast<std::uint64_t>(s.receive_buffer));
        for (const auto state : {ingest::BusState::down, ingest::BusState::error_active, ingest::BusState::error_warning,
                                 ingest::BusState::error_passive, ingest::BusState::bus_off}) {
            out.add("outpost_socketcan_bus_state", MT::gauge, "1 for the controller's current state",
                    {{"bus", r->bus_name()}, {"state", ingest::to_string(state)}}, std::uint64_t{s.state == state ? 1u : 0u});
        }
    }
    auto line_metrics = [&](const std::string& bus, const ingest::ModbusLineStats& s, const auto& master) {
        const MetricLabels l{{"bus", bus}};
        modbus_counter_metrics(out, "outpost_modbus_line_", "(the sum over the line's devices)", l, s.counters);
        out.add("outpost_modbus_line_sent_bytes_total", MT::counter, "bytes written to the Modbus line or connection", l, s.bytes_out);
        out.add("outpost_modbus_line_received_bytes_total", MT::counter, "bytes read from the Modbus line or connection", l, s.bytes_in);
        out.add("outpost_modbus_line_stale_responses_total", MT::counter, "Modbus TCP responses to abandoned transactions", l, s.stale);
        out.add("outpost_modbus_line_opens_total", MT::counter, "serial port opens or TCP connects", l, s.opens);
        out.add("outpost_modbus_line_connected", MT::gauge, "1 while the port is open or the connection up", l, std::uint64_t{s.connected ? 1u : 0u});
        for (std::size_t i = 0; i < master.device_count(); ++i) {
            const auto d = master.device_stats(i);
            const MetricLabels dl{{"bus", bus}, {"device", d.name}, {"unit", std::to_string(d.unit)}};
            modbus_counter_metrics(out, "outpost_modbus_device_", "(per device)", dl, d.counters);
            out.add("outpost_modbus_device_breaker_opens_total", MT::counter, "times the device's circuit breaker opened", dl, d.breaker_opens);
            for (const auto state : {ingest::BreakerState::closed, ingest::BreakerState::open, ingest::BreakerState::half_open}) {
                auto sl = dl;
                sl.emplace_back("state", ingest::to_string(state));
                out.add("outpost_modbus_device_breaker_state", MT::gauge, "1 for the circuit breaker's current state", sl,
                        std::uint64_t{d.breaker == state ? 1u : 0u});
            }
            out.add("outpost_modbus_device_poll_period_seconds", MT::gauge, "the device's shortest configured poll period", dl,
                    std::chrono::duration<double>(d.configured_period).count());
            out.add("outpost_modbus_device_achieved_poll_period_seconds", MT::gauge,
                    "smoothed start-to-start interval of that poll (0: not yet)", dl,
                    std::chrono::duration<double>(d.achieved_period).count());
        }
    };
    for (const auto& m : rtu_masters_) line_metrics(m->options().name, m->stats(), *m);
    for (const auto& m : tcp_masters_) line_metrics(m->options().name, m->stats(), *m);
    for (const auto& t : rtu_taps_) {
        const auto s = t->stats();
        const MetricLabels l{{"bus", t->options().name}};
        out.add("outpost_modbus_tap_requests_total", MT::counter, "Modbus read requests seen on a listen-only line", l, s.sniffer.requests);
        out.add("outpost_modbus_tap_responses_total", MT::counter, "responses paired with their request on a listen-only line", l, s.sniffer.responses);
        out.add("outpost_modbus_tap_blocks_total", MT::counter, "register blocks decoded on a listen-only line", l, s.sniffer.blocks);
        out.add("outpost_modbus_tap_exceptions_total", MT::counter, "exception responses seen on a listen-only line", l, s.sniffer.exceptions);
        out.add("outpost_modbus_tap_unanswered_total", MT::counter, "requests seen without a response", l, s.sniffer.unanswered);
        out.add("outpost_modbus_tap_noise_bytes_total", MT::counter, "bytes that fit no frame (noise, CRC errors)", l, s.sniffer.noise_bytes);
        out.add("outpost_modbus_tap_received_bytes_total", MT::counter, "bytes read from a listen-only line", l, s.bytes_in);
        out.add("outpost_modbus_tap_connected", MT::gauge, "1 while the listen-only port is open", l, std::uint64_t{s.connected ? 1u : 0u});
    }

    // Mapping.
    const auto m = mapper_stats();  // across reloads
    const MetricLabels can{{"source", "can"}};
    const MetricLabels modbus{{"source", "modbus"}};
    const auto mm = modbus_mapper_stats();
    out.add("outpost_mapping_readings_total", MT::counter, "readings produced by the mapping", can, m.readings);
    out.add("outpost_mapping_readings_total", MT::counter, "readings produced by the mapping", modbus, mm.readings);
    out.add("outpost_mapping_decode_errors_total", MT::counter, "values that could not be decoded or written", can, m.decode_errors);
    out.add("outpost_mapping_decode_errors_total", MT::counter, "values that could not be decoded or written", modbus, mm.decode_errors);
    out.add("outpost_mapping_out_of_range_total", MT::counter, "values outside their signal's or register's range", can, m.out_of_range);
    out.add("outpost_mapping_out_of_range_total", MT::counter, "values outside their signal's or register's range", modbus, mm.out_of_range);
    out.add("outpost_mapping_rate_limited_total", MT::counter, "decoded values held back by rate control", can, m.rate_limited);
    out.add("outpost_mapping_rate_limited_total", MT::counter, "decoded values held back by rate control", modbus, mm.rate_limited);
    out.counter("outpost_mapping_can_frames_total", "CAN frames offered to the mapping", m.frames);
    out.counter("outpost_mapping_can_unmapped_frames_total", "CAN frames with no rule for their id or bus", m.unmapped_frames);
    out.counter("outpost_mapping_can_error_frames_total", "CAN error frames offered to the mapping", m.error_frames);
    out.counter("outpost_mapping_can_length_mismatches_total", "CAN frames whose length does not fit their message", m.length_mismatches);
    out.counter("outpost_mapping_can_short_frames_total", "shorter CAN frames accepted and partly decoded", m.short_frames);
    out.counter("outpost_mapping_modbus_blocks_total", "Modbus register blocks offered to the mapping", mm.blocks);
    out.counter("outpost_mapping_modbus_unmapped_blocks_total", "Modbus blocks with no device for their bus and unit", mm.unmapped_blocks);

    // Outbox.
    const auto& o = outbox_.stats();
    const auto& q = config_.outbox;
    out.gauge("outpost_outbox_rows", "messages stored, waiting for acknowledgement", static_cast<double>(o.rows));
    out.gauge("outpost_outbox_bytes", "their size as the quota counts it (topic, body, row overhead)", static_cast<double>(o.bytes));
    out.gauge("outpost_outbox_quota_rows", "the outbox's quota in rows", static_cast<double>(q.max_rows));
    out.gauge("outpost_outbox_quota_bytes", "the outbox's quota in bytes", static_cast<double>(q.max_bytes));
    out.add("outpost_outbox_fill_ratio", MT::gauge, "rows and bytes stored against the quota (1: full, eviction starts)",
            {{"quota", "rows"}}, q.max_rows ? static_cast<double>(o.rows) / static_cast<double>(q.max_rows) : 0.0);
    out.add("outpost_outbox_fill_ratio", MT::gauge, "rows and bytes stored against the quota (1: full, eviction starts)",
            {{"quota", "bytes"}}, q.max_bytes ? static_cast<double>(o.bytes) / static_cast<double>(q.max_bytes) : 0.0);
    const auto oldest = outbox_.oldest_created_ns();
    const double now_s = seconds_since_epoch(now);
    out.gauge("outpost_outbox_oldest_message_age_seconds", "age of the oldest message waiting for delivery (0: none)",
              oldest ? std::max(0.0, now_s - static_cast<double>(*oldest) / 1e9) : 0.0);
    out.gauge("outpost_outbox_staged_messages", "readings accepted in memory, not yet committed", static_cast<double>(o.staged));
    out.counter("outpost_outbox_committed_messages_total", "messages made durable", o.committed);
    out.counter("outpost_outbox_removed_messages_total", "acknowledged messages deleted", o.removed);
    out.counter("outpost_outbox_commits_total", "commit transactions", o.commits);
    out.counter("outpost_outbox_commit_failures_total", "commits that failed (retried with backoff)", o.commit_failures);
    out.add("outpost_outbox_writer_busy_seconds_total", MT::counter,
            "time the outbox's writer thread spent committing (its rate near 1: the disk writer is the limit)", {},
            static_cast<double>(o.writer_busy_ns) / 1e9);
    out.counter("outpost_ingest_disk_waits_total", "times a live bus outran the disk and the io thread waited for a commit", commit_waits_);
    out.add("outpost_ingest_disk_wait_seconds_total", MT::counter, "time the io thread spent in those waits", {},
            std::chrono::duration<double>(commit_wait_time_).count());
    out.counter("outpost_outbox_quarantines_total", "damaged stores moved aside and replaced", o.quarantines);
    out.counter("outpost_outbox_salvaged_messages_total", "messages copied out of damaged stores", o.salvaged);
    out.counter("outpost_outbox_integrity_checks_total", "background integrity checks completed", o.integrity_checks);
    out.counter("outpost_outbox_integrity_checks_deferred_total", "scheduled checks that waited while the writer was busy",
                o.integrity_checks_deferred);
    out.counter("outpost_outbox_delivered_from_memory_total", "messages acknowledged while the store could not be written", o.delivered_from_memory);
    out.gauge("outpost_outbox_memory_only", "1 while the store cannot be written and readings are kept in memory", o.memory_only ? 1 : 0);
    out.gauge("outpost_outbox_epoch", "the epoch new messages are numbered in", static_cast<double>(o.epoch));
    out.gauge("outpost_outbox_next_seq", "the next sequence number", static_cast<double>(o.next_seq));
    for (int p = 0; p < outbox::priority_levels; ++p) {
        out.add("outpost_outbox_evicted_messages_total", MT::counter, "messages evicted under a full quota, by priority",
                {{"priority", std::to_string(p)}}, o.evicted[static_cast<std::size_t>(p)]);
    }
    for (int p = 0; p < outbox::priority_levels; ++p) {
        out.add("outpost_outbox_expired_messages_total", MT::counter, "messages removed past their priority's TTL, by priority",
                {{"priority", std::to_string(p)}}, o.expired[static_cast<std::size_t>(p)]);
    }
    std::uint64_t evicted = 0;
    for (const auto e : o.evicted) evicted += e;
    std::uint64_t expired = 0;
    for (const auto e : o.expired) expired += e;
    const char* lost_help = "messages lost, by reason (each also has a loss record in the outbox)";
    for (const auto& [reason, count] : {std::pair<const char*, std::uint64_t>{"evicted_quota", evicted},
                                        {"expired_ttl", expired},
                                        {"dropped_unwritable", o.dropped_unwritable},
                                        {"dropped_at_shutdown", o.dropped_at_shutdown},
                                        {"rejected_by_broker", o.discarded},
                                        {"checksum_mismatch", o.corrupt_rows}}) {
        out.add("outpost_outbox_lost_messages_total", MT::counter, lost_help, {{"reason", reason}}, count);
    }

    // Uplink.
    const auto u = uplink_.stats();
    out.gauge("outpost_uplink_connected", "1 while connected to the broker", u.connected ? 1 : 0);
    out.counter("outpost_uplink_connect_attempts_total", "connection attempts to the broker", u.connect_attempts);
    out.counter("outpost_uplink_connects_total", "connections established", u.connects);
    out.counter("outpost_uplink_connect_failures_total", "connection attempts that failed", u.connect_failures);
    out.counter("outpost_uplink_disconnects_total", "established connections lost or closed", u.disconnects);
    out.counter("outpost_uplink_published_messages_total", "messages published (resends after a reconnect included)", u.published);
    out.counter("outpost_uplink_acknowledged_messages_total", "messages the broker acknowledged", u.acknowledged);
    out.counter("outpost_uplink_rejected_messages_total", "messages the broker refused (recorded as losses)", u.rejected);
    out.gauge("outpost_uplink_inflight_messages", "messages published and not yet acknowledged", static_cast<double>(u.inflight));
    out.gauge("outpost_uplink_window_messages",
              "messages in flight at most on this connection: the configured window or the broker's receive maximum",
              static_cast<double>(u.window));
    out.counter("outpost_uplink_payload_bytes_total", "payload bytes published", u.payload_bytes);
    out.counter("outpost_uplink_batches_total", "batch messages published (each carries several readings)", u.batches);
    out.counter("outpost_uplink_paced_waits_total", "times the bandwidth cap made the drain wait", u.paced_waits);
    out.gauge("outpost_uplink_held_below_priority", "priorities below this are held by a byte budget (0: none)", u.held_below);
    const auto& l = uplink_.link_usage();
    const char* bytes_help = "TCP payload on the broker connection, measured on the socket (TLS and MQTT included)";
    out.add("outpost_link_bytes_total", MT::counter, bytes_help, {{"direction", "sent"}}, l.total.bytes_sent);
    out.add("outpost_link_bytes_total", MT::counter, bytes_help, {{"direction", "received"}}, l.total.bytes_received);
    const char* seg_help = "TCP segments on the broker connection";
    out.add("outpost_link_segments_total", MT::counter, seg_help, {{"direction", "sent"}}, l.total.segments_sent);
    out.add("outpost_link_segments_total", MT::counter, seg_help, {{"direction", "received"}}, l.total.segments_received);
    out.gauge("outpost_link_day_bytes", "bytes on the wire today (UTC), both directions, IP and TCP headers included",
              static_cast<double>(l.day_bytes));
    out.gauge("outpost_link_month_bytes", "bytes on the wire this month (UTC), both directions, IP and TCP headers included",
              static_cast<double>(l.month_bytes));
    out.counter("outpost_uplink_progress_timeouts_total", "connections given up because the broker stopped acknowledging", u.progress_timeouts);
    out.counter("outpost_uplink_failbacks_total", "returns to the preferred broker address", u.failbacks);

    // The endpoint itself.
    if (http_) {
        const auto& h = http_->stats();
        out.counter("outpost_http_requests_total", "HTTP requests answered", h.requests);
        out.counter("outpost_http_bad_requests_total", "HTTP requests refused as malformed or over a limit", h.bad_requests);
        out.counter("outpost_http_refused_connections_total", "HTTP connections closed at once (over max_connections)", h.refused_connections);
        out.counter("outpost_http_timeouts_total", "HTTP connections closed at a deadline", h.timeouts);
    }
    return out.text();
}

}  // namespace outpost::app
