#pragma once
// What a reload may change while the gateway runs, and what it must leave alone (Sans-I/O):
// compares the running site configuration with a newly loaded (and valid) one.
//
// Live: the mappings (topics, priorities, rates, rules), the buses (added, removed, changed: only
// the sources whose settings changed are restarted; a bus's settings include its position in the
// list, which frames carry, and what the mappings ask of it: CAN filters, Modbus devices and
// their poll periods), commit_interval_ms, commit_batch and stats_interval_s.
// Needs a restart (reported, and kept as it is): the broker settings (alternates and status
// topic included), the outbox settings and report_losses.
// A changed gateway_id refuses the whole reload: the new mappings' topics name the new id, and
// readings must not mix two ids under one sequence.
#include <string>
#include <vector>

#include "outpost/app/site_config.hpp"

namespace outpost::app {

struct ReloadPlan {
    bool refused = false;                 // nothing may be applied (refusal says why)
    std::string refusal;
    std::vector<std::string> needs_restart;  // settings that changed but are kept ("broker", "outbox/path", ...)
    std::vector<std::string> live_changes;   // settings applied at once ("commit_interval_ms", ...)
    std::vector<std::string> stop_buses;     // running sources to stop: removed, disabled or changed
    std::vector<std::string> start_buses;    // sources to start from the new configuration: new or changed
};

ReloadPlan plan_reload(const SiteConfig& running, const SiteConfig& next);

// Everything that identifies what a bus's source does; equal fingerprints need no restart.
std::string bus_fingerprint(const BusConfig& bus, std::size_t index);

}  // namespace outpost::app
