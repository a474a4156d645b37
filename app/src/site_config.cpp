#include "outpost/app/site_config.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>

#include <boost/asio/ip/address.hpp>

#include "outpost/core/bounded_read.hpp"
#include "outpost/core/fnv1a.hpp"
#include "outpost/core/json_reader.hpp"
#include "outpost/core/log.hpp"
#include "outpost/ingest/modbus/poll_planner.hpp"
#include "outpost/mapping/mapping_loader.hpp"
#include "outpost/mapping/modbus_rule.hpp"

namespace outpost::app {
namespace {

namespace fs = std::filesystem;

bool valid_identifier(const std::string& s) {
    if (s.empty() || s.size() > 64) return false;
    for (char c : s) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                        c == '_' || c == '.';
        if (!ok) return false;
    }
    return true;
}

std::string resolve_path(const fs::path& base, const std::string& p) {
    if (p.empty()) return p;
    const fs::path path(p);
    return path.is_absolute() ? p : (base / path).lexically_normal().string();
}

// What the cloud sees in the birth message to tell which configuration a gateway runs: a fingerprint
// of the site file and every mapping file, in order.
std::string config_digest(const SiteConfig& site) {
    std::uint64_t hash = core::fnv1a64_basis;
    std::vector<std::string> files{site.file};
    files.insert(files.end(), site.mapping_files.begin(), site.mapping_files.end());
    for (const auto& f : files) {
        const auto text = core::read_file_bounded(f, core::limits::json_file);
        hash = core::fnv1a64(f, hash);
        hash = core::fnv1a64(text.text, hash);
    }
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
    return hex;
}

void read_tls(core::JsonReader& t, const fs::path& base, uplink::TlsOptions& tls) {
    tls.enabled = t.boolean("enabled", false);
    for (auto [key, target] : {std::pair{"ca_file", &tls.ca_file}, std::pair{"cert_file", &tls.cert_file},
                               std::pair{"key_file", &tls.key_file}}) {
        *target = resolve_path(base, t.string(key, ""));
        if (tls.enabled && !target->empty() && !fs::exists(*target)) t.issue(key, "no such file: " + *target);
    }
    tls.verify_hostname = t.boolean("verify_hostname", true);
    if (tls.enabled && tls.ca_file.empty()) t.issue("ca_file", "TLS needs a CA file to verify the broker");
    if (tls.cert_file.empty() != tls.key_file.empty()) {
        t.issue(tls.cert_file.empty() ? "cert_file" : "key_file", "a client certificate needs both cert_file and key_file");
    }
    t.finish();
}

void read_broker(core::JsonReader& r, const fs::path& base, SiteConfig& site) {
    auto& b = site.broker;
    b.gateway_id = site.gateway_id;
    b.host = r.require_string("host").value_or("");
    if (r.has("host") && b.host.empty()) r.issue("host", "must not be empty");
    b.port = static_cast<std::uint16_t>(r.integer("port", 1883, 1, 65535));
    b.client_id = r.string("client_id", "outpost-" + site.gateway_id);
    if (b.client_id.empty()) r.issue("client_id", "must not be empty");
    b.protocol = r.choice("protocol", "mqtt5", {"mqtt5", "mqtt3.1.1"}) == "mqtt5" ? uplink::MqttProtocol::v5
                                                                                  : uplink::MqttProtocol::v311;
    b.keepalive_s = static_cast<int>(r.integer("keepalive_s", 30, 5, 65535));
    b.username = r.string("username", "");
    if (const auto pw_file = r.string("password_file", ""); !pw_file.empty()) {
        const auto pw_path = resolve_path(base, pw_file);
        // Bounded and regular only: /dev/zero or a FIFO here must not hang or fill memory.
        const auto text = core::read_file_bounded(pw_path, core::limits::password_file);
        if (!text) {
            r.issue("password_file", text.error);
        } else {
            b.password = text.text.substr(0, text.text.find('\n'));
            if (!b.password.empty() && b.password.back() == '\r') b.password.pop_back();
            struct stat st {};
            if (::stat(pw_path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
                core::log_warn("config.password_file_readable",
                               "the broker password file can be read by other users; chmod 600 it",
                               {{"file", pw_path}, {"mode", st.st_mode & 0777}});
            }
        }
        if (b.username.empty()) r.issue("password_file", "a password needs a \"username\"");
    }
    b.connect_timeout = std::chrono::milliseconds(r.integer("connect_timeout_ms", 10'000, 100, 600'000));
    b.inflight_window = static_cast<std::size_t>(r.integer("inflight_window", 256, 1, 20'000));
    if (auto t = r.child("tls")) read_tls(*t, base, b.tls);
    if (const auto* list = r.array("alternates", false)) {
        // Further addresses of the same broker service (a cluster's other nodes), tried in turn.
        for (std::size_t i = 0; i < list->size(); ++i) {
            core::JsonReader a((*list)[i], r.file(), r.path_of("alternates") + "/" + std::to_string(i), r.issues());
            uplink::BrokerAddress address;
            address.host = a.require_string("host").value_or("");
            if (a.has("host") && address.host.empty()) a.issue("host", "must not be empty");
            address.port = static_cast<std::uint16_t>(a.integer("port", b.port, 1, 65535));
            if (auto t = a.child("tls")) {
                address.tls.emplace();
                read_tls(*t, base, *address.tls);
            }
            a.finish();
            b.alternates.push_back(std::move(address));
        }
    }
    b.status_topic = r.string("status_topic", "outpost/" + site.gateway_id);
    if (b.status_topic.empty() || b.status_topic.find_first_of("+#") != std::string::npos) {
        r.issue("status_topic", "a topic without wildcards (+ #), e.g. \"outpost/<gateway_id>\"");
    }
    b.health_interval = std::chrono::seconds(r.integer("health_interval_s", 60, 0, 86'400));
    site.report_losses = r.boolean("report_losses", true);
    b.progress_timeout = std::chrono::seconds(r.integer("progress_timeout_s", 30, 1, 3600));
    b.stable_after = std::chrono::seconds(r.integer("stable_after_s", 30, 0, 86'400));
    b.failback_after = std::chrono::seconds(r.integer("failback_after_s", 300, 0, 86'400 * 7));
    if (auto bo = r.child("backoff")) {
        b.backoff_initial = std::chrono::milliseconds(bo->integer("initial_ms", 500, 10, 3'600'000));
        b.backoff_max = std::chrono::milliseconds(bo->integer("max_ms", 30'000, 10, 86'400'000));
        if (b.backoff_max < b.backoff_initial) bo->issue("max_ms", "must be at least initial_ms");
        bo->finish();
    }
    r.finish();
}

void read_outbox(core::JsonReader& r, const fs::path& base, SiteConfig& site) {
    auto& o = site.outbox;
    o.path = resolve_path(base, r.require_string("path").value_or(""));
    if (!o.path.empty() && fs::is_directory(o.path)) r.issue("path", "is a directory; name the database file");
    o.max_rows = static_cast<std::uint64_t>(r.integer("max_rows", 2'000'000, 1000, 1'000'000'000));
    o.max_bytes = static_cast<std::uint64_t>(r.integer("max_bytes", 512ll << 20, 1 << 20, 1ll << 40));
    o.synchronous_full = r.choice("synchronous", "full", {"full", "normal"}) == "full";
    site.commit_interval = std::chrono::milliseconds(r.integer("commit_interval_ms", 200, 1, 60'000));
    site.commit_batch = static_cast<std::size_t>(r.integer("commit_batch", 2000, 1, 100'000));
    // Per priority: {"0": 3600, "5": 86400}; a priority not named keeps its readings until delivered.
    if (auto ttl = r.child("ttl_s")) {
        for (int p = 0; p < outbox::priority_levels; ++p) {
            o.ttl[static_cast<std::size_t>(p)] = std::chrono::seconds(ttl->integer(std::to_string(p), 0, 0, 10ll * 366 * 86'400));
        }
        ttl->finish();
    }
    o.loss_window = std::chrono::seconds(r.integer("loss_window_s", 60, 1, 3600));
    o.expiry_grace = std::chrono::seconds(r.integer("expiry_grace_s", 60, 1, 3600));
    r.finish();
}

// The optional 4G budget: batching and encoding, live before backlog, pacing, byte budgets.
void read_link(core::JsonReader& r, SiteConfig& site) {
    auto& b = site.broker;
    b.live_first = r.boolean("live_first", false);
    b.max_bytes_per_s = static_cast<std::uint64_t>(r.integer("max_bytes_per_s", 0, 0, 1ll << 40));
    // On a slow link everything in flight queues ahead of a new reading: keep it to a few seconds' worth.
    b.max_inflight_bytes = static_cast<std::size_t>(r.integer("max_inflight_bytes", 64 * 1024, 0, 1ll << 32));
    if (auto bt = r.child("batch")) {
        auto& o = b.batch;
        o.enabled = bt->boolean("enabled", true);
        o.max_readings = static_cast<std::size_t>(bt->integer("max_readings", 500, 1, 10'000));
        o.max_bytes = static_cast<std::size_t>(bt->integer("max_bytes", 64 * 1024, 256, 8 << 20));
        o.max_delay = std::chrono::milliseconds(bt->integer("max_delay_ms", 5000, 0, 3'600'000));
        o.unbatched_from_priority = static_cast<int>(bt->integer("unbatched_from_priority", 9, 0, 10));
        o.group_levels = static_cast<int>(bt->integer("group_levels", 1, 1, 16));
        o.batch_retained = bt->choice("retained", "single", {"single", "batch"}) == "batch";
        o.topic_suffix = bt->string("topic_suffix", "batch");
        if (o.topic_suffix.empty() || o.topic_suffix.find_first_of("/+#") != std::string::npos) {
            bt->issue("topic_suffix", "one topic level without / + #, e.g. \"batch\"");
        }
        o.format.encoding = bt->choice("encoding", "json", {"json", "cbor"}) == "cbor" ? uplink::Encoding::cbor
                                                                                      : uplink::Encoding::json;
        const auto c = bt->choice("compression", "none", {"none", "zstd", "zlib"});
        o.format.compression = c == "zstd" ? uplink::Compression::zstd
                               : c == "zlib" ? uplink::Compression::zlib
                                             : uplink::Compression::none;
        o.format.level = static_cast<int>(bt->integer("compression_level", 0, 0, 19));
        bt->finish();
    }
    if (auto bu = r.child("budget")) {
        auto& o = b.budget;
        o.daily_bytes = static_cast<std::uint64_t>(bu->integer("daily_bytes", 0, 0, 1ll << 50));
        o.monthly_bytes = static_cast<std::uint64_t>(bu->integer("monthly_bytes", 0, 0, 1ll << 50));
        o.reserve_fraction = static_cast<double>(bu->integer("reserve_percent", 10, 0, 100)) / 100.0;
        o.always_from_priority = static_cast<int>(bu->integer("always_from_priority", 8, 0, 10));
        bu->finish();
    }
    r.finish();
}

// The optional metrics and health endpoint; on when the section is there, unless "enabled": false.
void read_http(core::JsonReader& r, SiteConfig& site) {
    auto& h = site.http;
    h.enabled = r.boolean("enabled", true);
    h.address = r.string("address", h.address);
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(h.address, ec);
    if (ec) {
        r.issue("address", "\"" + h.address + "\" is not an IP address (e.g. 127.0.0.1 or ::1; host names are not resolved)");
    } else if (h.enabled && !address.is_loopback()) {
        core::log_warn("config.http_not_loopback",
                       "the metrics and health endpoint listens beyond loopback; it has no authentication",
                       {{"address", h.address}});
    }
    h.port = static_cast<std::uint16_t>(r.integer("port", h.port, 0, 65535));
    h.max_connections = static_cast<std::size_t>(r.integer("max_connections", 8, 1, 1024));
    h.request_timeout = std::chrono::milliseconds(r.integer("request_timeout_ms", 5000, 100, 600'000));
    r.finish();
}

// False when the bus type is missing or unknown: then nothing else of the bus is checked, since
// which keys it needs depends on the type (an unknown type must not also report a missing "file").
bool read_bus(core::JsonReader& r, const fs::path& base, std::size_t index, SiteConfig& site) {
    BusConfig bus;
    if (!r.valid()) {  // already reported as not an object
        site.buses.push_back(std::move(bus));
        return false;
    }
    bus.name = r.require_string("name").value_or("");
    if (r.has("name") && !valid_identifier(bus.name)) r.issue("name", "use letters, digits, '-', '_' and '.' only");
    bus.enabled = r.boolean("enabled", true);
    const std::vector<std::string> types{"candump_replay", "socketcan", "modbus_rtu", "modbus_tcp",
                                         "modbus_rtu_over_tcp"};
    const auto* type_value = r.member("type");
    const bool type_known = type_value && type_value->is_string() &&
                            std::find(types.begin(), types.end(), type_value->get<std::string>()) != types.end();
    if (!type_known) {
        if (type_value) {
            r.choice("type", "", types);  // reports the wrong type or value with the allowed ones
        } else {
            r.issue("type", "missing (one of \"candump_replay\", \"socketcan\", \"modbus_rtu\", \"modbus_tcp\", "
                            "\"modbus_rtu_over_tcp\")");
        }
        site.buses.push_back(std::move(bus));
        return false;
    }
    const auto type = type_value->get<std::string>();
    if (type == "modbus_rtu") {
        bus.type = BusType::modbus_rtu;
        ingest::SerialFormat format;
        format.baud = static_cast<unsigned>(r.integer("baud", 9600, 300, 4'000'000));
        const auto parity = r.choice("parity", "even", {"none", "even", "odd"});
        format.parity = parity == "none" ? ingest::SerialParity::none
                                         : (parity == "odd" ? ingest::SerialParity::odd : ingest::SerialParity::even);
        format.data_bits = static_cast<unsigned>(r.integer("data_bits", 8, 7, 8));
        format.stop_bits = static_cast<unsigned>(r.integer("stop_bits", 1, 1, 2));
        const auto device = r.require_string("device").value_or("");
        if (r.has("device") && device.empty()) r.issue("device", "name the serial port, e.g. /dev/ttyUSB0");
        bus.listen_only = r.boolean("listen_only", false);
        const auto inter_byte = std::chrono::milliseconds(r.integer("inter_byte_timeout_ms", 50, 1, 10'000));
        bus.rtu = {.name = bus.name, .bus = static_cast<std::uint16_t>(index), .device = device, .format = format,
                   .inter_byte_timeout = inter_byte};
        bus.tap = {.name = bus.name, .bus = static_cast<std::uint16_t>(index), .device = device, .format = format};
        r.finish();
        site.buses.push_back(std::move(bus));
        return true;
    }
    if (type == "modbus_tcp" || type == "modbus_rtu_over_tcp") {
        bus.type = type == "modbus_tcp" ? BusType::modbus_tcp : BusType::modbus_rtu_over_tcp;
        auto& t = bus.tcp;
        t.name = bus.name;
        t.bus = static_cast<std::uint16_t>(index);
        t.host = r.require_string("host").value_or("");
        if (r.has("host") && t.host.empty()) r.issue("host", "must not be empty");
        t.port = static_cast<std::uint16_t>(r.integer("port", type == "modbus_tcp" ? 502 : 4001, 1, 65535));
        t.framing = type == "modbus_tcp" ? ingest::TcpFraming::mbap : ingest::TcpFraming::rtu;
        t.connect_timeout = std::chrono::milliseconds(r.integer("connect_timeout_ms", 3000, 100, 600'000));
        r.finish();
        site.buses.push_back(std::move(bus));
        return true;
    }
    if (type == "socketcan") {
        bus.type = BusType::socketcan;
        auto& sc = bus.socketcan;
        sc.bus = static_cast<std::uint16_t>(index);
        sc.bus_name = bus.name;
        sc.interface = r.require_string("interface").value_or("");
        if (r.has("interface") && (sc.interface.empty() || sc.interface.size() > 15)) {
            r.issue("interface", "an interface name has 1 to 15 characters");
        }
        sc.fd = r.boolean("fd", true);
        sc.receive_buffer = static_cast<int>(r.integer("receive_buffer", 1 << 20, 4096, 64 << 20));
        r.finish();
        site.buses.push_back(std::move(bus));
        return true;
    }
    auto& rp = bus.replay;
    rp.bus = static_cast<std::uint16_t>(index);
    rp.bus_name = bus.name;
    rp.path = resolve_path(base, r.require_string("file").value_or(""));
    if (bus.enabled && !rp.path.empty()) {
        std::error_code ec;
        const auto status = fs::status(rp.path, ec);
        if (!fs::exists(status)) {
            r.issue("file", "no such file: " + rp.path);
        } else if (!fs::is_regular_file(status)) {
            // A device or FIFO could be endless; the replay reads regular files only.
            r.issue("file", rp.path + ": not a regular file; a candump log must be a regular file");
        }
    }
    if (const auto* speed = r.member("speed")) {
        if (speed->is_string() && speed->get<std::string>() == "max") {
            rp.speed = 0;
        } else if (speed->is_number() && speed->get<double>() > 0 && speed->get<double>() <= 1e6) {
            rp.speed = speed->get<double>();
        } else {
            r.issue("speed", "expected \"max\" or a factor above 0 (1 = as recorded)");
        }
    }
    rp.interface = r.string("interface", "");
    rp.restamp = r.boolean("restamp", true);
    r.finish();
    site.buses.push_back(std::move(bus));
    return true;
}

ingest::ModbusDeviceOptions modbus_device_options(const mapping::ModbusDeviceRule& device) {
    ingest::ModbusDeviceOptions o;
    o.name = device.name;
    o.limits.unit = device.unit;
    o.limits.max_registers = device.max_registers;
    o.limits.max_bits = device.max_bits;
    o.limits.allow_gaps = device.allow_gaps;
    o.limits.max_gap_registers = device.max_gap;
    o.limits.max_gap_bits = device.max_gap_bits;
    o.response_timeout = std::chrono::milliseconds(device.response_timeout_ms);
    o.retries = static_cast<unsigned>(std::max(device.retries, 0));
    for (const auto& range : mapping::wanted_ranges(device)) {
        o.ranges.push_back({range.table, range.address, range.count, std::chrono::milliseconds(range.poll_ms)});
    }
    return o;
}

}  // namespace

SiteConfig load_site_config(const std::string& path) {
    core::ConfigIssues issues;
    SiteConfig site;
    site.file = path;
    const fs::path base = fs::absolute(path).parent_path();
    const auto json = core::read_json_file(path, issues);
    if (json.is_null()) throw core::ConfigError(issues);

    core::JsonReader root(json, path, "", issues);
    site.gateway_id = root.require_string("gateway_id").value_or("");
    if (root.has("gateway_id") && !valid_identifier(site.gateway_id)) {
        root.issue("gateway_id", "use 1-64 letters, digits, '-', '_' and '.' (it goes into topics and payloads)");
    }
    if (auto b = root.child("broker")) {
        read_broker(*b, base, site);
    } else {
        root.issue("broker", "missing (an object with at least \"host\")");
    }
    if (auto o = root.child("outbox")) {
        read_outbox(*o, base, site);
    } else {
        root.issue("outbox", "missing (an object with at least \"path\")");
    }
    site.stats_interval = std::chrono::seconds(root.integer("stats_interval_s", 10, 1, 3600));
    if (auto h = root.child("http")) read_http(*h, site);
    if (auto l = root.child("link")) read_link(*l, site);
    std::set<std::string> bus_names;
    std::vector<bool> bus_type_known;
    if (const auto* buses = root.array("buses", true)) {
        for (std::size_t i = 0; i < buses->size(); ++i) {
            core::JsonReader r((*buses)[i], path, "/buses/" + std::to_string(i), issues);
            bus_type_known.push_back(read_bus(r, base, i, site));
            const auto& name = site.buses.back().name;
            if (!name.empty() && !bus_names.insert(name).second) r.issue("name", "another bus has this name");
        }
    }
    if (const auto* files = root.array("mappings", true)) {
        if (files->empty()) root.issue("mappings", "name at least one mapping file");
        for (std::size_t i = 0; i < files->size(); ++i) {
            const auto& f = (*files)[i];
            if (!f.is_string()) {
                issues.add(path, "/mappings/" + std::to_string(i), "expected a file name");
                continue;
            }
            site.mapping_files.push_back(resolve_path(base, f.get<std::string>()));
        }
    }
    root.finish();

    mapping::MappingContext context{site.gateway_id, {}};
    for (const auto& b : site.buses) context.bus_names.push_back(b.name);
    for (const auto& file : site.mapping_files) {
        mapping::merge_mapping(site.mapping, mapping::load_mapping_file(file, context, issues), file, issues);
    }
    // Modbus devices go to the line or server their mapping names.
    for (const auto& device : site.mapping.modbus) {
        if (device.bus >= site.buses.size()) continue;
        auto& bus = site.buses[device.bus];
        auto options = modbus_device_options(device);
        if (bus.type == BusType::modbus_rtu) {
            bus.rtu.devices.push_back(std::move(options));
            bus.tap.response_timeout = std::max(bus.tap.response_timeout, std::chrono::milliseconds(device.response_timeout_ms));
        } else if (bus.type == BusType::modbus_tcp || bus.type == BusType::modbus_rtu_over_tcp) {
            bus.tcp.devices.push_back(std::move(options));
        } else if (bus_type_known[device.bus]) {
            issues.add(site.file, "/buses/" + std::to_string(device.bus),
                       "Modbus device \"" + device.name + "\" is mapped to this bus, which is not a Modbus bus");
        }
    }
    for (std::size_t i = 0; i < site.buses.size(); ++i) {
        const auto& bus = site.buses[i];
        const bool modbus = bus.type == BusType::modbus_rtu || bus.type == BusType::modbus_tcp ||
                            bus.type == BusType::modbus_rtu_over_tcp;
        const auto& devices = bus.type == BusType::modbus_rtu ? bus.rtu.devices : bus.tcp.devices;
        if (modbus && bus.enabled && devices.empty()) {
            issues.add(site.file, "/buses/" + std::to_string(i), "no Modbus device in the mappings uses this bus");
        }
        for (const auto& d : devices) {
            for (const auto& problem : ingest::check_plan(d.limits, d.ranges)) {
                issues.add(site.file, "/buses/" + std::to_string(i), "device \"" + d.name + "\": " + problem);
            }
        }
    }
    // Kernel filters for live buses: exactly the ids their rules use.
    for (std::size_t i = 0; i < site.buses.size(); ++i) {
        auto& bus = site.buses[i];
        if (bus.type != BusType::socketcan) continue;
        for (const auto& rule : site.mapping.can) {
            if (rule.bus && *rule.bus != i) continue;
            bus.socketcan.filters.push_back({rule.id, rule.effective_mask(), rule.extended});
        }
    }
    if (!issues.empty()) throw core::ConfigError(issues);
    site.digest = config_digest(site);
    return site;
}

}  // namespace outpost::app
