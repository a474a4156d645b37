#include "outpost/app/commands.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "audit/audit_command.hpp"
#include "command_options.hpp"
#include "outpost/app/gateway.hpp"
#include "outpost/app/site_config.hpp"
#include "outpost/core/log.hpp"
#include "outpost/core/wall_clock.hpp"
#include "outpost/outbox/outbox_error.hpp"

namespace outpost::app {
namespace {

constexpr const char* usage_text = R"(usage: outpost <command> [options]

commands:
  run    --config SITE.json [--exit-after ingest|drain] [--no-reload]
                                                          run the gateway (SIGHUP reloads the configuration;
                                                          with --no-reload it stops the gateway like SIGTERM)
  reload --config SITE.json                               make the running gateway re-read SITE.json and its
                                                          mappings (SIGHUP to the pid in OUTBOX.pid)
  check  --config SITE.json                               validate a site and its mappings
  decode --config SITE.json --candump LOG [--bus NAME]    what the mapping makes of captured traffic (dry run)
  decode --config SITE.json --modbus TRANSCRIPT [--bus NAME]
                                                          the same for a Modbus RTU transcript, one frame a line:
                                                          (1700000000.123456) tx 01 03 00 00 00 02 C4 0B
                                                          (default bus: the site's first Modbus bus)
  outbox stats --config SITE.json                         what the outbox holds, and its loss records
  outbox peek --config SITE.json [--limit N] [FILTER]     the next N (default 10) messages in delivery order,
                                                          one JSON object a line; safe while the gateway runs
  outbox export --config SITE.json [--output FILE] [--limit N] [FILTER]
                                                          every matching message as JSON lines (FILE is written
                                                          whole or not at all); safe while the gateway runs
  outbox purge --config SITE.json FILTER|--all [--dry-run]
                                                          remove messages, with a loss record (reason "purged")
                                                          per priority; refuses while a gateway holds the outbox
     FILTER: --priority 0..9  --from-seq N  --to-seq N  --older-than 90s|15m|2h|7d  (all must hold)
  audit  [--host H --port P ... | --capture FILE] [--json]
                                                          cloud side: gaps, duplicates, losses and latency per
                                                          gateway, from a broker or a mosquitto_sub capture
                                                          (exit 7: a gap no loss record explains; audit --help)
  version

common options:
  --log-format json|text   (default json: one JSON object per line on stderr)
  --log-level debug|info|warn|error   (default info)
)";

std::optional<Options> parse(const std::vector<std::string>& args, std::string& error) {
    Options o;
    std::size_t i = 0;
    if (i < args.size()) o.command = args[i++];
    if (o.command == "outbox" && i < args.size() && args[i].rfind("--", 0) != 0) o.subcommand = args[i++];
    static const std::map<std::string, bool> known = {
        {"--config", true}, {"--exit-after", true}, {"--candump", true}, {"--modbus", true}, {"--bus", true}, {"--log-format", true}, {"--log-level", true}, {"--help", false}, {"--no-reload", false},
        {"--limit", true}, {"--priority", true}, {"--from-seq", true}, {"--to-seq", true}, {"--older-than", true},
        {"--output", true}, {"--dry-run", false}, {"--all", false}};
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

int run(const Options& o) {
    ExitAfter exit_after = ExitAfter::never;
    if (const auto it = o.values.find("--exit-after"); it != o.values.end()) {
        if (it->second == "ingest") exit_after = ExitAfter::ingest;
        else if (it->second == "drain") exit_after = ExitAfter::drain;
        else return usage("--exit-after is ingest or drain");
    }
    auto site = load_site_config(o.values.at("--config"));
    RunOptions run_options;
    run_options.reload_on_sighup = !o.values.count("--no-reload");
    // Test hook: SIGUSR2 blocks the io thread this long (tests/service: the watchdog stops).
    if (const char* stall = std::getenv("OUTPOST_TEST_STALL_IO_MS")) {
        run_options.test_stall_io = std::chrono::milliseconds(std::strtoll(stall, nullptr, 10));
    }
    boost::asio::io_context io(1);
    Gateway gateway(io, std::move(site), exit_after, run_options);
    gateway.start();
    try {
        io.run();
    } catch (const std::exception& e) {
        // Not a start-up problem: the gateway ran. Shut it down the normal way.
        io.restart();
        gateway.fail(e.what());
    }
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
    // Live CAN buses with more rules than the kernel takes filters (ingest/can/filter_plan.hpp).
    for (const auto& bus : site.buses) {
        const auto note = bus.type == BusType::socketcan ? ingest::describe(ingest::plan_filters(bus.socketcan.filters)) : "";
        if (!note.empty()) std::cout << site.file << ": bus \"" << bus.name << "\": " << note << "\n";
    }
    return exit_ok;
}


int outbox_stats(const Options& o) {
    const auto site = load_site_config(o.values.at("--config"));
    const auto s = outbox::inspect_outbox(site.outbox.path);
    nlohmann::json j = {{"path", site.outbox.path}, {"rows", s.rows}, {"bytes", s.bytes}, {"next_seq", s.next_seq},
                        {"rows_by_priority", s.rows_by_priority}};
    if (s.oldest_seq) {
        j["oldest"] = {{"seq", s.oldest_seq}, {"created", core::utc_text(s.oldest_created_ns)}};
    }
    j["losses"] = nlohmann::json::array();
    for (const auto& l : s.losses) {
        j["losses"].push_back({{"at", core::utc_text(l.at_ns)}, {"reason", l.reason}, {"priority", l.priority},
                               {"count", l.count}, {"first_seq", l.first_seq}, {"last_seq", l.last_seq}});
    }
    std::cout << j.dump(2) << "\n";
    return exit_ok;
}

}  // namespace

int usage(const std::string& error) {
    if (!error.empty()) std::cerr << "outpost: " << error << "\n\n";
    std::cerr << usage_text;
    return exit_usage;
}

int command_main(const std::vector<std::string>& args) {
    // `audit` parses its own options (--topic repeats).
    if (!args.empty() && args.front() == "audit") return audit::audit_main(args);
    std::string error;
    const auto options = parse(args, error);
    if (!options) return usage(error);
    const auto& o = *options;
    if (o.command.empty() || o.command == "help" || o.command == "--help" || o.values.count("--help")) {
        std::cout << usage_text;
        return exit_ok;
    }
    if (o.command == "version") {
        std::cout << "outpost " OUTPOST_VERSION "\n";
        return exit_ok;
    }
    if (!apply_log_options(o, error)) return usage(error);
    const bool needs_config = o.command == "run" || o.command == "check" || o.command == "outbox" || o.command == "decode" ||
                              o.command == "reload";
    if (!needs_config) return usage("unknown command " + o.command);
    if (!o.values.count("--config")) return usage(o.command + " needs --config SITE.json");
    const bool outbox_tools = o.subcommand == "peek" || o.subcommand == "export" || o.subcommand == "purge";
    if (o.command == "outbox" && o.subcommand != "stats" && !outbox_tools) return usage("outbox takes: stats, peek, export, purge");
    try {
        if (o.command == "run") return run(o);
        if (o.command == "check") return check(o);
        if (o.command == "decode") return decode(o);
        if (o.command == "reload") return reload_command(o);
        if (outbox_tools) return outbox_tool(o);
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
