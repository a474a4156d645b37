// `outpost audit`: the cloud-side completeness check. Reads a broker (libmosquitto) or a
// mosquitto_sub capture, prints the report, and exits 0 when every gap is explained by a loss
// record, exit_unexplained_gap otherwise.
#include "audit_command.hpp"

#include <csignal>
#include <fstream>
#include <iostream>
#include <map>
#include <string>

#include "capture_reader.hpp"
#include "mqtt_subscriber.hpp"
#include "outpost/app/commands.hpp"
#include "outpost/core/log.hpp"
#include "sequence_audit.hpp"

namespace outpost::audit {

namespace {

constexpr const char* audit_usage = R"(usage: outpost audit [broker options | --capture FILE [--hex]] [--json]

Reports per gateway: messages, distinct readings, duplicates, gaps in the sequence and whether loss
records explain them, out-of-order arrivals within a topic, and latency (receive time minus ts).
Reads every payload format (uplink/payload_formats.md): one message per reading, batched JSON and
compact CBOR batches, compressed with zstd or zlib or not; each reading of a batch counts.
Exit code 0: no unexplained gap; 7: at least one unexplained gap; 2: usage; 5: cannot connect or read.

broker options (libmosquitto):
  --host HOST              (default 127.0.0.1)
  --port PORT              (default 1883)
  --username USER  --password-file FILE   (the file's first line is the password)
  --cafile FILE | --capath DIR            TLS, verifying the broker against these CAs
  --topic FILTER           repeatable (default #)
  --mqtt 5|3.1.1           (default 5)
  --qos 0|1|2              (default 1)
  --client-id ID           a persistent session (MQTT 5: kept --session-expiry S after a disconnect,
                           default 300), so what arrives while the audit is disconnected is queued
  --duration S             stop after S seconds
  --idle S                 stop after S seconds with nothing received
                           (without either: until SIGINT or SIGTERM)
capture:
  --capture FILE           a capture instead of a broker ('-' for stdin), one message a line, made by
                             mosquitto_sub -v -t '#' ...                  (no latency)
                             mosquitto_sub -F '%U %t %p' -t '#' ...       (receive time: latency too)
                           a line over 1 MiB is counted as unreadable, and skipped without being held
  --hex                    the capture's payloads are in hex, as binary payloads (compact or compressed
                           batches) need, since they cannot travel in a text line; made by
                             mosquitto_sub -F '%t %x' -t '#' ...          (no latency)
                             mosquitto_sub -F '%U %t %x' -t '#' ...       (receive time: latency too)
output:
  --json                   the report as JSON (default: text for people)
  --log-format json|text  --log-level debug|info|warn|error   (logs go to stderr)
)";

volatile std::sig_atomic_t stop_requested = 0;
extern "C" void on_stop_signal(int) { stop_requested = 1; }

int usage_error(const std::string& error) {
    std::cerr << "outpost audit: " << error << "\n\n" << audit_usage;
    return app::exit_usage;
}

bool parse_seconds(const std::string& text, double& out) {
    try {
        std::size_t used = 0;
        out = std::stod(text, &used);
        return used == text.size() && out > 0 && out < 1e9;
    } catch (const std::exception&) {
        return false;
    }
}

bool parse_int(const std::string& text, long min, long max, long& out) {
    try {
        std::size_t used = 0;
        out = std::stol(text, &used);
        return used == text.size() && out >= min && out <= max;
    } catch (const std::exception&) {
        return false;
    }
}

// SIGINT and SIGTERM end the run (the report is still printed); the previous handlers come back after.
class StopSignals {
public:
    StopSignals() {
        struct sigaction sa {};
        sa.sa_handler = on_stop_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old_int_);
        sigaction(SIGTERM, &sa, &old_term_);
    }
    ~StopSignals() {
        sigaction(SIGINT, &old_int_, nullptr);
        sigaction(SIGTERM, &old_term_, nullptr);
    }
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;

private:
    struct sigaction old_int_ {};
    struct sigaction old_term_ {};
};

}  // namespace

int audit_main(const std::vector<std::string>& args) {
    static const std::map<std::string, bool> known = {
        {"--host", true},       {"--port", true},      {"--username", true},       {"--password-file", true},
        {"--cafile", true},     {"--capath", true},    {"--topic", true},          {"--mqtt", true},
        {"--qos", true},        {"--client-id", true}, {"--session-expiry", true}, {"--duration", true},
        {"--idle", true},       {"--capture", true},   {"--hex", false},           {"--json", false},
        {"--log-format", true}, {"--log-level", true}, {"--help", false}};
    std::map<std::string, std::string> values;
    std::vector<std::string> topics;
    for (std::size_t i = 1; i < args.size(); ++i) {  // args[0] is "audit"
        const auto it = known.find(args[i]);
        if (it == known.end()) return usage_error("unknown option " + args[i]);
        if (!it->second) {
            values[args[i]] = "1";
            continue;
        }
        if (i + 1 >= args.size()) return usage_error(args[i] + " needs a value");
        if (args[i] == "--topic") topics.push_back(args[i + 1]);
        values[args[i]] = args[i + 1];
        ++i;
    }
    if (values.count("--help")) {
        std::cout << audit_usage;
        return app::exit_ok;
    }
    const auto value = [&](const char* key) -> const std::string* {
        const auto it = values.find(key);
        return it == values.end() ? nullptr : &it->second;
    };
    if (const auto* f = value("--log-format")) {
        if (*f == "json")
            core::set_log_format(core::LogFormat::json);
        else if (*f == "text")
            core::set_log_format(core::LogFormat::text);
        else
            return usage_error("--log-format is json or text");
    }
    if (const auto* l = value("--log-level")) {
        static const std::map<std::string, core::LogLevel> levels = {{"debug", core::LogLevel::debug},
                                                                     {"info", core::LogLevel::info},
                                                                     {"warn", core::LogLevel::warn},
                                                                     {"error", core::LogLevel::error}};
        const auto level = levels.find(*l);
        if (level == levels.end()) return usage_error("--log-level is debug, info, warn or error");
        core::set_log_level(level->second);
    }

    SequenceAudit audit;
    if (const auto* capture = value("--capture")) {
        for (const char* broker_only :
             {"--host", "--port", "--username", "--password-file", "--cafile", "--capath", "--topic", "--mqtt", "--qos",
              "--client-id", "--session-expiry", "--duration", "--idle"}) {
            if (value(broker_only)) return usage_error(std::string(broker_only) + " does not apply to --capture");
        }
        CaptureOptions options;
        if (value("--hex")) options.form = CaptureForm::hex;
        if (*capture == "-") {
            read_capture(std::cin, audit, options);
        } else {
            std::ifstream in(*capture, std::ios::binary);
            if (!in) {
                core::log_error("audit.capture", "cannot open the capture file", {{"file", *capture}});
                return app::exit_startup;
            }
            read_capture(in, audit, options);
        }
    } else {
        if (value("--hex")) return usage_error("--hex applies to --capture only");
        SubscribeOptions o;
        long number = 0;
        if (const auto* v = value("--host")) o.host = *v;
        if (const auto* v = value("--port")) {
            if (!parse_int(*v, 1, 65535, number)) return usage_error("--port is 1..65535");
            o.port = static_cast<int>(number);
        }
        if (const auto* v = value("--username")) o.username = *v;
        if (const auto* v = value("--password-file")) {
            if (!o.username) return usage_error("--password-file needs --username");
            std::ifstream in(*v);
            std::string password;
            if (!in || !std::getline(in, password)) {
                core::log_error("audit.password", "cannot read the password file", {{"file", *v}});
                return app::exit_startup;
            }
            if (!password.empty() && password.back() == '\r') password.pop_back();
            o.password = password;
        }
        if (const auto* v = value("--cafile")) o.cafile = *v;
        if (const auto* v = value("--capath")) o.capath = *v;
        if (!topics.empty()) o.topics = topics;
        if (const auto* v = value("--mqtt")) {
            if (*v == "5")
                o.mqtt_version = 5;
            else if (*v == "3.1.1")
                o.mqtt_version = 311;
            else
                return usage_error("--mqtt is 5 or 3.1.1");
        }
        if (const auto* v = value("--qos")) {
            if (!parse_int(*v, 0, 2, number)) return usage_error("--qos is 0, 1 or 2");
            o.qos = static_cast<int>(number);
        }
        if (const auto* v = value("--client-id")) o.client_id = *v;
        if (const auto* v = value("--session-expiry")) {
            if (!parse_int(*v, 0, 0xFFFFFFFFL, number))
                return usage_error("--session-expiry is seconds, 0..4294967295");
            o.session_expiry_s = static_cast<std::uint32_t>(number);
        }
        double seconds = 0;
        if (const auto* v = value("--duration")) {
            if (!parse_seconds(*v, seconds)) return usage_error("--duration is a number of seconds above 0");
            o.duration_s = seconds;
        }
        if (const auto* v = value("--idle")) {
            if (!parse_seconds(*v, seconds)) return usage_error("--idle is a number of seconds above 0");
            o.idle_s = seconds;
        }
        stop_requested = 0;
        StopSignals signals;
        try {
            subscribe_and_audit(o, audit, stop_requested);
        } catch (const AuditStartError& e) {
            core::log_error("audit.start", e.what());
            return app::exit_startup;
        }
    }

    const auto report = audit.report();
    if (value("--json"))
        std::cout << to_json(report).dump(2) << "\n";
    else
        write_text(std::cout, report);
    return report.complete() ? app::exit_ok : app::exit_unexplained_gap;
}

}  // namespace outpost::audit
