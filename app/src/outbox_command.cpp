// `outpost outbox peek|export|purge`: the outbox tools (outbox/outbox_tools.hpp) on the command line.
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <limits>
#include <ctime>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "command_options.hpp"
#include "outpost/app/commands.hpp"
#include "outpost/app/site_config.hpp"
#include "outpost/core/wall_clock.hpp"
#include "outpost/outbox/outbox_tools.hpp"

namespace outpost::app {
namespace {

std::optional<std::uint64_t> unsigned_value(const std::string& text) {
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 19) return std::nullopt;
    return std::stoull(text);
}

// "90", "90s", "15m", "2h", "7d" -> seconds.
std::optional<std::int64_t> duration_seconds(const std::string& text) {
    if (text.empty()) return std::nullopt;
    std::int64_t unit = 1;
    std::string digits = text;
    switch (text.back()) {
    case 's': unit = 1; digits.pop_back(); break;
    case 'm': unit = 60; digits.pop_back(); break;
    case 'h': unit = 3600; digits.pop_back(); break;
    case 'd': unit = 86400; digits.pop_back(); break;
    default: break;
    }
    const auto n = unsigned_value(digits);
    if (!n || *n > 100ull * 365 * 86400) return std::nullopt;
    return static_cast<std::int64_t>(*n) * unit;
}

// The filter from --priority, --from-seq, --to-seq and --older-than; false (with `error`) on a
// bad value. `given` tells whether any was given.
bool read_filter(const Options& o, outbox::MessageFilter& f, bool& given, std::string& error) {
    given = false;
    const auto value = [&](const char* key) -> const std::string* {
        const auto it = o.values.find(key);
        if (it == o.values.end()) return nullptr;
        given = true;
        return &it->second;
    };
    if (const auto* v = value("--priority")) {
        const auto p = unsigned_value(*v);
        if (!p || *p > 9) return error = "--priority is 0..9", false;
        f.priority = static_cast<int>(*p);
    }
    if (const auto* v = value("--from-seq")) {
        const auto s = unsigned_value(*v);
        if (!s) return error = "--from-seq is a sequence number", false;
        f.from_seq = *s;
    }
    if (const auto* v = value("--to-seq")) {
        const auto s = unsigned_value(*v);
        if (!s) return error = "--to-seq is a sequence number", false;
        f.to_seq = *s;
    }
    if (f.from_seq > f.to_seq) return error = "--from-seq is above --to-seq", false;
    if (const auto* v = value("--older-than")) {
        const auto secs = duration_seconds(*v);
        if (!secs) return error = "--older-than is a duration: 90s, 15m, 2h or 7d", false;
        const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        f.created_before_ns = now - *secs * 1'000'000'000;
    }
    return true;
}

nlohmann::json message_json(const outbox::PeekedMessage& m) {
    const auto& s = m.stored;
    return {{"seq", s.seq},
            {"epoch", s.epoch},
            {"priority", s.message.priority},
            {"created", core::utc_text(s.message.created_ns, true)},
            {"created_ns", s.message.created_ns},
            {"qos", s.message.qos},
            {"retain", s.message.retain},
            {"topic", s.message.topic},
            {"body", s.message.body},
            {"checksum", outbox::to_string(m.check)}};
}

nlohmann::json loss_json(const outbox::LossRecord& l) {
    return {{"reason", l.reason}, {"priority", l.priority}, {"count", l.count}, {"first_seq", l.first_seq},
            {"last_seq", l.last_seq}};
}

int peek_or_export(const Options& o, const std::string& path, const outbox::MessageFilter& filter) {
    const bool peek = o.subcommand == "peek";
    std::uint64_t limit = peek ? 10 : std::numeric_limits<std::uint64_t>::max();
    if (const auto it = o.values.find("--limit"); it != o.values.end()) {
        const auto n = unsigned_value(it->second);
        if (!n || *n == 0) return usage("--limit is a count above 0");
        limit = *n;
    }
    std::ofstream file;
    std::ostream* out = &std::cout;
    std::string tmp;
    if (const auto it = o.values.find("--output"); it != o.values.end() && !peek) {
        // Written beside the target and renamed at the end: a cut-short export leaves no half file.
        tmp = it->second + ".partial";
        file.open(tmp, std::ios::binary | std::ios::trunc);
        if (!file) {
            std::cerr << "outpost: cannot write " << tmp << ": " << std::strerror(errno) << "\n";
            return exit_startup;
        }
        out = &file;
    }
    std::uint64_t written = 0;
    outbox::read_messages(path, filter, [&](const outbox::PeekedMessage& m) {
        *out << message_json(m).dump() << '\n';
        return ++written < limit && static_cast<bool>(*out);
    });
    out->flush();
    if (!*out) {
        std::cerr << "outpost: writing the export failed\n";
        return exit_startup;
    }
    if (!tmp.empty()) {
        file.close();
        const auto target = o.values.at("--output");
        if (std::rename(tmp.c_str(), target.c_str()) != 0) {
            std::cerr << "outpost: cannot rename " << tmp << " to " << target << ": " << std::strerror(errno) << "\n";
            return exit_startup;
        }
        std::cerr << nlohmann::json{{"exported", written}, {"file", target}}.dump() << "\n";
    }
    return exit_ok;
}

int purge(const Options& o, const std::string& path, const outbox::MessageFilter& filter, bool filtered) {
    if (!filtered && !o.values.count("--all")) {
        return usage("outbox purge needs --priority, --older-than, --from-seq/--to-seq, or --all");
    }
    const bool dry_run = o.values.count("--dry-run") > 0;
    const auto result = outbox::purge_messages(path, filter, dry_run);
    nlohmann::json j = {{"path", path}, {"dry_run", dry_run}, {"removed", result.removed},
                        {"removed_bytes", result.bytes}, {"loss_records", nlohmann::json::array()}};
    for (const auto& r : result.records) j["loss_records"].push_back(loss_json(r));
    std::cout << j.dump(2) << "\n";
    return exit_ok;
}

}  // namespace

int outbox_tool(const Options& o) {
    outbox::MessageFilter filter;
    bool filtered = false;
    std::string error;
    if (!read_filter(o, filter, filtered, error)) return usage(error);
    const auto site = load_site_config(o.values.at("--config"));
    if (o.subcommand == "peek" || o.subcommand == "export") return peek_or_export(o, site.outbox.path, filter);
    return purge(o, site.outbox.path, filter, filtered);
}

}  // namespace outpost::app
