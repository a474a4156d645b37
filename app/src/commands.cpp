#include "outpost/app/commands.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "outpost/app/gateway.hpp"
#include "outpost/app/site_config.hpp"
#include "outpost/core/log.hpp"
#include "outpost/ingest/candump_parser.hpp"
#include "outpost/ingest/modbus/pdu.hpp"
#include "outpost/ingest/modbus/rtu_sniffer.hpp"
#include "outpost/ingest/modbus/transcript_parser.hpp"
#include "outpost/mapping/json_body.hpp"
#include "outpost/mapping/mapper.hpp"
#include "outpost/mapping/modbus_mapper.hpp"
#include "outpost/outbox/outbox_error.hpp"

namespace outpost::app {
namespace {

constexpr const char* usage_text = R"(usage: outpost <command> [options]

commands:
  run    --config SITE.json [--exit-after ingest|drain]   run the gateway
  check  --config SITE.json                               validate a site and its mappings
  decode --config SITE.json --candump LOG [--bus NAME]    what the mapping makes of captured traffic (dry run)
  decode --config SITE.json --modbus TRANSCRIPT [--bus NAME]
                                                          the same for a Modbus RTU transcript, one frame a line:
                                                          (1700000000.123456) tx 01 03 00 00 00 02 C4 0B
                                                          (default bus: the site's first Modbus bus)
  outbox stats --config SITE.json                         what the outbox holds, and its loss records
  version

common options:
  --log-format json|text   (default json: one JSON object per line on stderr)
  --log-level debug|info|warn|error   (default info)
)";

struct Options {
    std::string command;
    std::string subcommand;
    std::map<std::string, std::string> values;
};

std::optional<Options> parse(const std::vector<std::string>& args, std::string& error) {
    Options o;
    std::size_t i = 0;
    if (i < args.size()) o.command = args[i++];
    if (o.command == "outbox" && i < args.size() && args[i].rfind("--", 0) != 0) o.subcommand = args[i++];
    static const std::map<std::string, bool> known = {
        {"--config", true}, {"--exit-after", true}, {"--candump", true}, {"--modbus", true}, {"--bus", true}, {"--log-format", true}, {"--log-level", true}, {"--help", false}};
    for (; i < args.size(); ++i) {
        const auto it = known.find(args[i]);
        if (it == known.end()) {
            error = "unknown option " + args[i];
            return std::nullopt;
        }
        if (it->second) {
            if (i + 1 >= args.size()) {
                error = args[i] + " needs a value";
                return std::nullopt;
            }
            o.values[args[i]] = args[i + 1];
            ++i;
        } else {
            o.values[args[i]] = "1";
        }
    }
    return o;
}

bool apply_log_options(const Options& o, std::string& error) {
    if (const auto it = o.values.find("--log-format"); it != o.values.end()) {
        if (it->second == "json") core::set_log_format(core::LogFormat::json);
        else if (it->second == "text") core::set_log_format(core::LogFormat::text);
        else {
            error = "--log-format is json or text";
            return false;
        }
    }
    if (const auto it = o.values.find("--log-level"); it != o.values.end()) {
        static const std::map<std::string, core::LogLevel> levels = {{"debug", core::LogLevel::debug},
            {"info", core::LogLevel::info}, {"warn", core::LogLevel::warn}, {"error", core::LogLevel::error}};
        const auto l = levels.find(it->second);
        if (l == levels.end()) {
            error = "--log-level is debug, info, warn or error";
            return false;
        }
        core::set_log_level(l->second);
    }
    return true;
}

int usage(const std::string& error) {
    if (!error.empty()) std::cerr << "outpost: " << error << "\n\n";
    std::cerr << usage_text;
    return exit_usage;
}

int run(const Options& o) {
    ExitAfter exit_after = ExitAfter::never;
    if (const auto it = o.values.find("--exit-after"); it != o.values.end()) {
        if (it->second == "ingest") exit_after = ExitAfter::ingest;
        else if (it->second == "drain") exit_after = ExitAfter::drain;
        else return usage("--exit-after is ingest or drain");
    }
    auto site = load_site_config(o.values.at("--config"));
    boost::asio::io_context io(1);
    Gateway gateway(io, std::move(site), exit_after);
    gateway.start();
    io.run();
    return gateway.exit_code();
}

int check(const Options& o) {
    const auto site = load_site_config(o.values.at("--config"));
    std::size_t signals = 0;
    for (const auto& rule : site.mapping.can) signals += rule.signals.size();
    std::size_t registers = 0;
    for (const auto& device : site.mapping.modbus) registers += device.registers.size();
    std::cout << site.file << ": OK: gateway \"" << site.gateway_id << "\", " << site.buses.size() << " bus(es), "
              << site.mapping_files.size() << " mapping file(s), " << site.mapping.can.size() << " CAN message(s), "
              << signals << " signal(s), " << site.mapping.modbus.size() << " Modbus device(s), " << registers
              << " register(s)\n";
    return exit_ok;
}

std::string format_id(std::uint32_t id, bool extended) {
    char buf[16];
    std::snprintf(buf, sizeof buf, extended ? "%08X" : "%03X", static_cast<unsigned>(id));
    return buf;
}

int decode_candump(const Options& o, const SiteConfig& site) {
    std::uint16_t bus = 0;
    if (const auto it = o.values.find("--bus"); it != o.values.end()) {
        const auto b = std::find_if(site.buses.begin(), site.buses.end(), [&](const BusConfig& x) { return x.name == it->second; });
        if (b == site.buses.end()) return usage("no bus named " + it->second + " in " + site.file);
        bus = static_cast<std::uint16_t>(b - site.buses.begin());
    }
    std::ifstream in(o.values.at("--candump"));
    if (!in) {
        std::cerr << "outpost: cannot read " << o.values.at("--candump") << "\n";
        return exit_startup;
    }
    mapping::Mapper mapper(site.mapping);
    std::vector<core::Message> messages;
    std::vector<mapping::Reading> readings;
    std::string line;
    std::uint64_t line_no = 0, malformed = 0, published = 0, held = 0;
    while (std::getline(in, line)) {
        ++line_no;
        core::CanFrame frame;
        const auto parsed = ingest::parse_candump_line(line, frame);
        if (parsed.kind == ingest::CandumpLineKind::blank) continue;
        if (parsed.kind == ingest::CandumpLineKind::malformed) {
            ++malformed;
            std::cout << "line " << line_no << ": malformed: " << parsed.error << "\n";
            continue;
        }
        frame.bus = bus;
        messages.clear();
        readings.clear();
        mapper.map(frame, messages, &readings);
        if (readings.empty()) continue;
        std::cout << line << "\n";
        for (const auto& r : readings) {
            std::string value;
            mapping::append_json_number(value, r.value, r.signal->decimals);
            std::cout << "    " << r.signal->topic << " = " << value;
            if (!r.signal->unit.empty()) std::cout << " " << r.signal->unit;
            if (!r.signal->value_names.empty() && std::fabs(r.value) < 9.2e18 && std::round(r.value) == r.value) {
                const auto n = r.signal->value_names.find(static_cast<std::int64_t>(r.value));
                if (n != r.signal->value_names.end()) std::cout << " (" << n->second << ")";
            }
            std::cout << "  [priority " << int{r.signal->priority} << ", qos " << int{r.signal->qos}
                      << (r.signal->retain ? ", retain" : "") << "]";
            if (!r.published) std::cout << "  held back by rate control";
            std::cout << "\n";
            (r.published ? published : held) += 1;
        }
    }
    const auto& st = mapper.stats();
    std::cout << "\n" << st.frames << " frames: " << published << " readings published, " << held
              << " held back by rate control, " << st.decode_errors << " decode errors, " << st.out_of_range
              << " out of range, " << st.error_frames << " error frames, " << malformed << " malformed lines\n";
    if (!mapper.unmapped_ids().empty()) {
        std::vector<std::pair<std::uint32_t, std::uint64_t>> ids(mapper.unmapped_ids().begin(), mapper.unmapped_ids().end());
        std::sort(ids.begin(), ids.end());
        std::cout << "ids no rule maps (" << st.unmapped_frames << " frames):";
        for (const auto& [id, count] : ids) {
            std::cout << " " << format_id(id & 0x7FFFFFFFu, (id & 0x80000000u) != 0) << " (" << count << ")";
        }
        std::cout << "\n";
    }
    return exit_ok;
}

bool is_modbus(BusType type) {
    return type == BusType::modbus_rtu || type == BusType::modbus_tcp || type == BusType::modbus_rtu_over_tcp;
}

// Collects what the sniffer pairs from one transcript line, so it is printed under that line.
class BlockCollector : public ingest::ModbusSink {
public:
    void on_modbus(const core::ModbusBlock& block) override { blocks.push_back(block); }
    std::vector<core::ModbusBlock> blocks;
};

std::string format_value(const mapping::ModbusReading& r) {
    std::string out;
    if (r.reg->spec.type == mapping::RegisterType::string) {
        mapping::append_json_string(out, r.text);
    } else if (!mapping::append_json_number(out, r.value, r.reg->decimals)) {
        out = std::to_string(r.value);
    }
    if (!r.reg->unit.empty()) out += " " + r.reg->unit;
    if (r.reg->spec.type != mapping::RegisterType::string) {
        if (const auto* name = mapping::value_name(r.reg->value_names, r.value)) out += " (" + *name + ")";
    }
    return out;
}

// An exception response's code, from a frame [unit, function | 0x80, code, crc, crc].
std::optional<ingest::ModbusException> exception_in(std::span<const std::uint8_t> frame) {
    if (frame.size() != 5 || (frame[1] & 0x80) == 0) return std::nullopt;
    return static_cast<ingest::ModbusException>(frame[2]);
}

int decode_modbus(const Options& o, const SiteConfig& site) {
    std::size_t bus = site.buses.size();
    if (const auto it = o.values.find("--bus"); it != o.values.end()) {
        const auto b = std::find_if(site.buses.begin(), site.buses.end(), [&](const BusConfig& x) { return x.name == it->second; });
        if (b == site.buses.end()) return usage("no bus named " + it->second + " in " + site.file);
        if (!is_modbus(b->type)) return usage("bus " + it->second + " is not a Modbus bus");
        bus = static_cast<std::size_t>(b - site.buses.begin());
    } else {
        const auto b = std::find_if(site.buses.begin(), site.buses.end(), [](const BusConfig& x) { return is_modbus(x.type); });
        if (b == site.buses.end()) return usage("no Modbus bus in " + site.file + " (decode --modbus maps onto one)");
        bus = static_cast<std::size_t>(b - site.buses.begin());
    }
    const auto& path = o.values.at("--modbus");
    std::ifstream in(path);
    if (!in) {
        std::cerr << "outpost: cannot read " << path << "\n";
        return exit_startup;
    }
    // Pair a response with its request as long as the slowest device on the bus may take.
    ingest::RtuSnifferOptions sniffer_options;
    sniffer_options.bus = static_cast<std::uint16_t>(bus);
    std::int64_t timeout_ms = 1000;
    for (const auto& d : site.mapping.modbus) {
        if (d.bus == bus) timeout_ms = std::max(timeout_ms, d.response_timeout_ms);
    }
    sniffer_options.response_timeout_ns = timeout_ms * 1'000'000;
    ingest::RtuSniffer sniffer(sniffer_options);
    mapping::ModbusMapper mapper(site.mapping.modbus);
    BlockCollector sink;
    std::vector<core::Message> messages;
    std::vector<mapping::ModbusReading> readings;
    std::uint64_t published = 0, held = 0;

    auto print_blocks = [&](const std::string& line) {
        bool line_printed = false;
        for (const auto& block : sink.blocks) {
            messages.clear();
            readings.clear();
            mapper.map(block, messages, &readings);
            if (readings.empty()) continue;
            if (!line_printed) std::cout << line << "\n";
            line_printed = true;
            const auto* device = readings.front().device;
            std::cout << "  " << device->name << " (unit " << int{block.unit} << " on " << site.buses[bus].name << "), "
                      << mapping::table_name(block.table) << " " << block.address;
            if (block.count > 1) std::cout << ".." << (block.address + block.count - 1);
            std::cout << ":\n";
            for (const auto& r : readings) {
                std::cout << "    " << r.reg->name << " = " << format_value(r) << "  -> " << r.reg->topic << "  [priority "
                          << int{r.reg->priority} << ", qos " << int{r.reg->qos} << (r.reg->retain ? ", retain" : "")
                          << "]";
                if (!r.published) std::cout << "  held back by rate control";
                std::cout << "\n";
                (r.published ? published : held) += 1;
            }
        }
        sink.blocks.clear();
    };

    std::string line;
    std::uint64_t line_no = 0, frames = 0, malformed = 0;
    std::int64_t last_ns = 0;
    while (std::getline(in, line)) {
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        ingest::TranscriptFrame frame;
        const auto parsed = ingest::parse_transcript_line(line, frame);
        if (parsed.kind == ingest::TranscriptLineKind::blank) continue;
        if (parsed.kind == ingest::TranscriptLineKind::malformed) {
            ++malformed;
            std::cout << "line " << line_no << ": malformed: " << parsed.error << "\n";
            continue;
        }
        ++frames;
        last_ns = frame.timestamp_ns;
        const auto exceptions = sniffer.stats().exceptions;
        sniffer.feed_frame(frame.timestamp_ns, frame.frame(), frame.direction, sink);
        if (sniffer.stats().exceptions != exceptions) {
            const auto code = exception_in(frame.frame());
            std::cout << line << "\n    exception response from unit " << int{frame.bytes[0]} << ": "
                      << (code ? ingest::to_string(*code) : "unknown") << "\n";
        }
        print_blocks(line);
    }
    // Whatever is still pending ends with the transcript.
    sniffer.idle(last_ns + sniffer_options.response_timeout_ns + 1, sink);
    print_blocks("(end of transcript)");

    const auto& st = mapper.stats();
    const auto& ss = sniffer.stats();
    // A request still waiting at the end of the transcript was not answered either.
    const auto unanswered = ss.unanswered + (sniffer.awaiting_response() ? 1 : 0);
    std::cout << "\n" << frames << " frames (" << ss.requests << " requests, " << ss.responses << " responses, "
              << ss.blocks << " blocks): " << published << " readings published, " << held
              << " held back by rate control, " << st.decode_errors << " decode errors, " << st.out_of_range
              << " out of range, " << ss.exceptions << " exception responses, " << unanswered
              << " unanswered requests, " << ss.unpaired << " unpaired responses, " << ss.noise_bytes
              << " noise bytes, " << malformed << " malformed lines\n";
    if (!mapper.unmapped_units().empty()) {
        std::vector<std::pair<std::uint32_t, std::uint64_t>> units(mapper.unmapped_units().begin(),
                                                                   mapper.unmapped_units().end());
        std::sort(units.begin(), units.end());
        std::cout << "unit ids no device maps (" << st.unmapped_blocks << " blocks):";
        for (const auto& [key, count] : units) std::cout << " " << (key & 0xFFu) << " (" << count << ")";
        std::cout << "\n";
    }
    return exit_ok;
}

int decode(const Options& o) {
    const bool candump = o.values.count("--candump") != 0;
    const bool modbus = o.values.count("--modbus") != 0;
    if (candump == modbus) return usage("decode needs either --candump LOG or --modbus TRANSCRIPT");
    const auto site = load_site_config(o.values.at("--config"));
    return candump ? decode_candump(o, site) : decode_modbus(o, site);
}

std::string format_ns(std::int64_t ns) {
    const auto secs = static_cast<std::time_t>(ns / 1'000'000'000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

int outbox_stats(const Options& o) {
    const auto site = load_site_config(o.values.at("--config"));
    const auto s = outbox::inspect_outbox(site.outbox.path);
    nlohmann::json j = {{"path", site.outbox.path}, {"rows", s.rows}, {"bytes", s.bytes}, {"next_seq", s.next_seq},
                        {"rows_by_priority", s.rows_by_priority}};
    if (s.oldest_seq) {
        j["oldest"] = {{"seq", s.oldest_seq}, {"created", format_ns(s.oldest_created_ns)}};
    }
    j["losses"] = nlohmann::json::array();
    for (const auto& l : s.losses) {
        j["losses"].push_back({{"at", format_ns(l.at_ns)}, {"reason", l.reason}, {"priority", l.priority},
                               {"count", l.count}, {"first_seq", l.first_seq}, {"last_seq", l.last_seq}});
    }
    std::cout << j.dump(2) << "\n";
    return exit_ok;
}

}  // namespace

int command_main(const std::vector<std::string>& args) {
    std::string error;
    const auto options = parse(args, error);
    if (!options) return usage(error);
    const auto& o = *options;
    if (o.command.empty() || o.command == "help" || o.command == "--help" || o.values.count("--help")) {
        std::cout << usage_text;
        return exit_ok;
    }
    if (o.command == "version") {
        std::cout << "outpost 0.1.0\n";
        return exit_ok;
    }
    if (!apply_log_options(o, error)) return usage(error);
    const bool needs_config = o.command == "run" || o.command == "check" || o.command == "outbox" || o.command == "decode";
    if (!needs_config) return usage("unknown command " + o.command);
    if (!o.values.count("--config")) return usage(o.command + " needs --config SITE.json");
    if (o.command == "outbox" && o.subcommand != "stats") return usage("outbox takes: stats");
    try {
        if (o.command == "run") return run(o);
        if (o.command == "check") return check(o);
        if (o.command == "decode") return decode(o);
        return outbox_stats(o);
    } catch (const core::ConfigError& e) {
        std::cerr << e.what();
        return exit_config;
    } catch (const outbox::OutboxError& e) {
        core::log_error("outbox.error", e.what(), {{"sqlite_code", e.sqlite_code()}});
        return exit_outbox;
    } catch (const std::exception& e) {
        core::log_error("startup.error", e.what());
        return exit_startup;
    }
}

}  // namespace outpost::app
