#pragma once
// One JSON file per site: gateway id, broker, outbox, buses and the mapping files they use.
// load_site_config() reads the site file and every mapping file it names, and throws one
// ConfigError listing every problem found, each with its file and JSON path.
#include <chrono>
#include <string>
#include <vector>

#include "outpost/app/http_options.hpp"
#include "outpost/core/config_error.hpp"
#include "outpost/ingest/candump_replay.hpp"
#include "outpost/ingest/modbus/rtu_master.hpp"
#include "outpost/ingest/modbus/rtu_tap.hpp"
#include "outpost/ingest/modbus/tcp_master.hpp"
#include "outpost/ingest/socketcan_reader.hpp"
#include "outpost/mapping/mapping.hpp"
#include "outpost/outbox/outbox.hpp"
#include "outpost/uplink/uplink.hpp"

namespace outpost::app {

enum class BusType { candump_replay, socketcan, modbus_rtu, modbus_tcp, modbus_rtu_over_tcp };

struct BusConfig {
    std::string name;
    bool enabled = true;  // a disabled bus keeps its name (mappings refer to it) but is not read
    BusType type = BusType::candump_replay;
    ingest::ReplayOptions replay;        // for candump_replay
    ingest::SocketCanOptions socketcan;  // for socketcan (filters are filled from the mapping)
    // Modbus: the line or server; the devices polled on it are filled from the mapping.
    ingest::RtuLineOptions rtu;          // for modbus_rtu
    bool listen_only = false;            // modbus_rtu: never transmit, decode another master's polls
    ingest::RtuTapOptions tap;           // for modbus_rtu with listen_only
    ingest::ModbusTcpOptions tcp;        // for modbus_tcp and modbus_rtu_over_tcp
};

struct SiteConfig {
    std::string file;
    std::string digest;  // fingerprint of the site file and its mapping files (config_digest in the birth message)
    std::string gateway_id;
    uplink::UplinkOptions broker;
    outbox::OutboxOptions outbox;
    std::chrono::milliseconds commit_interval{200};
    std::size_t commit_batch = 2000;
    std::chrono::seconds stats_interval{10};
    bool report_losses = true;  // loss records published on <status_topic>/loss through the outbox
    HttpOptions http;  // metrics and health endpoint
    std::vector<BusConfig> buses;
    std::vector<std::string> mapping_files;
    mapping::Mapping mapping;  // all mapping files, merged
};

// Throws ConfigError with every problem found.
SiteConfig load_site_config(const std::string& path);

}  // namespace outpost::app
