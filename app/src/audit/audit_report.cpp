#include "audit_report.hpp"

#include <algorithm>
#include <cstdio>

namespace outpost::audit {

namespace {

nlohmann::json range_json(const SeqRange& r) { return {{"first", r.first}, {"last", r.last}, {"count", r.size()}}; }

std::string range_text(const SeqRange& r) {
    return r.first == r.last ? std::to_string(r.first) : std::to_string(r.first) + ".." + std::to_string(r.last);
}

std::string seconds_text(double s) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", s);
    return buf;
}

// Text output lists at most this many gaps per gateway; --json lists them all.
constexpr std::size_t text_gap_limit = 20;

}  // namespace

std::size_t GatewayReport::unexplained_gaps() const {
    return static_cast<std::size_t>(
        std::count_if(gaps.begin(), gaps.end(), [](const GapReport& g) { return !g.unexplained.empty(); }));
}

bool AuditReport::complete() const {
    return std::all_of(gateways.begin(), gateways.end(),
                       [](const GatewayReport& g) { return g.unexplained_gaps() == 0; });
}

nlohmann::json to_json(const AuditReport& report) {
    nlohmann::json gateways = nlohmann::json::object();
    for (const auto& g : report.gateways) {
        nlohmann::json sequences = nlohmann::json::array();
        for (const auto& s : g.sequences) {
            sequences.push_back({{"epochs", s.epochs}, {"first_seq", s.first_seq}, {"last_seq", s.last_seq}});
        }
        nlohmann::json gaps = nlohmann::json::array();
        nlohmann::json unexplained = nlohmann::json::array();
        for (const auto& gap : g.gaps) {
            auto j = range_json(gap.missing);
            j["sequence"] = gap.sequence;
            j["explained"] = gap.unexplained.empty();
            gaps.push_back(std::move(j));
            for (const auto& part : gap.unexplained) {
                auto u = range_json(part);
                u["sequence"] = gap.sequence;
                unexplained.push_back(std::move(u));
            }
        }
        nlohmann::json losses = nlohmann::json::object();
        for (const auto& [reason, l] : g.losses) losses[reason] = {{"records", l.records}, {"count", l.count}};
        nlohmann::json j = {{"messages", g.messages},
                            {"readings", g.readings},
                            {"distinct_readings", g.distinct_readings},
                            {"duplicates", g.duplicates},
                            {"largest_duplicate_run", g.largest_duplicate_run},
                            {"most_copies", g.most_copies},
                            {"out_of_order", g.out_of_order},
                            {"loss_records", g.loss_records},
                            {"losses", std::move(losses)},
                            {"status_messages", g.status_messages},
                            {"last_status", g.last_status ? nlohmann::json(*g.last_status) : nlohmann::json()},
                            {"health_messages", g.health_messages},
                            {"malformed", g.malformed},
                            {"property_mismatches", g.property_mismatches},
                            {"sequences", std::move(sequences)},
                            {"gaps", std::move(gaps)},
                            {"missing", g.missing},
                            {"unexplained_gaps", std::move(unexplained)},
                            {"unexplained_missing", g.unexplained_missing},
                            {"complete", g.unexplained_gaps() == 0}};
        if (!g.last_problem.empty()) j["last_problem"] = g.last_problem;
        if (g.latency) {
            j["latency_s"] = {{"samples", g.latency->samples}, {"p50", g.latency->p50}, {"p95", g.latency->p95},
                              {"p99", g.latency->p99},         {"max", g.latency->max}, {"min", g.latency->min}};
        } else {
            j["latency_s"] = nullptr;
        }
        gateways[g.gw] = std::move(j);
    }
    nlohmann::json j = {{"messages", report.messages},
                        {"unattributed", report.unattributed},
                        {"unparsable_lines", report.unparsable_lines},
                        {"connections", report.connections},
                        {"complete", report.complete()},
                        {"gateways", std::move(gateways)}};
    if (!report.last_unattributed_problem.empty()) j["last_unattributed_problem"] = report.last_unattributed_problem;
    return j;
}

void write_text(std::ostream& out, const AuditReport& report) {
    out << "outpost audit: " << report.messages << " message(s), " << report.gateways.size() << " gateway(s)";
    if (report.connections > 0) out << ", " << report.connections << " broker connection(s)";
    out << "\n";
    if (report.unattributed > 0) {
        out << "  " << report.unattributed << " message(s) name no gateway (last: " << report.last_unattributed_problem
            << ")\n";
    }
    if (report.unparsable_lines > 0) {
        out << "  " << report.unparsable_lines
            << " capture line(s) unreadable (no topic, a payload that is not hex with --hex, or over 1 MiB)\n";
    }
    std::size_t incomplete = 0;
    for (const auto& g : report.gateways) {
        const auto unexplained = g.unexplained_gaps();
        if (unexplained > 0) ++incomplete;
        out << "\ngateway " << g.gw << ": "
            << (unexplained == 0 ? "no unexplained gap" : std::to_string(unexplained) + " UNEXPLAINED GAP(S)") << "\n";
        out << "  messages " << g.messages << ": readings " << g.readings << ", loss records " << g.loss_records
            << ", status " << g.status_messages << ", health " << g.health_messages << ", malformed " << g.malformed;
        if (!g.last_problem.empty()) out << " (last: " << g.last_problem << ")";
        out << "\n  distinct readings " << g.distinct_readings << "; duplicates " << g.duplicates;
        if (g.duplicates > 0) {
            out << " (largest run " << g.largest_duplicate_run << ", most copies of one " << g.most_copies << ")";
        }
        out << "; out of order within a topic " << g.out_of_order << "\n";
        for (std::size_t i = 0; i < g.sequences.size(); ++i) {
            const auto& s = g.sequences[i];
            out << "  sequence " << i + 1 << ": seq " << s.first_seq << ".." << s.last_seq << ", epoch(s)";
            for (const auto ep : s.epochs) out << " " << ep;
            out << "\n";
        }
        out << "  gaps " << g.gaps.size() << " (" << g.missing << " seq(s) missing, " << g.unexplained_missing
            << " unexplained)\n";
        for (std::size_t i = 0; i < g.gaps.size() && i < text_gap_limit; ++i) {
            const auto& gap = g.gaps[i];
            out << "    " << range_text(gap.missing) << ": ";
            if (gap.unexplained.empty()) {
                out << "explained by loss records\n";
                continue;
            }
            out << "UNEXPLAINED";
            if (!(gap.unexplained.size() == 1 && gap.unexplained.front() == gap.missing)) {
                out << " in part:";
                for (const auto& part : gap.unexplained) out << " " << range_text(part);
            }
            out << "\n";
        }
        if (g.gaps.size() > text_gap_limit)
            out << "    ... " << g.gaps.size() - text_gap_limit << " more (--json lists all)\n";
        for (const auto& [reason, l] : g.losses) {
            out << "  loss records " << (reason.empty() ? "(no reason)" : reason) << ": " << l.records
                << " record(s), count " << l.count << "\n";
        }
        if (g.latency) {
            out << "  latency (s) p50 " << seconds_text(g.latency->p50) << ", p95 " << seconds_text(g.latency->p95)
                << ", p99 " << seconds_text(g.latency->p99) << ", max " << seconds_text(g.latency->max) << " over "
                << g.latency->samples << " reading(s)\n";
        }
        if (g.property_mismatches > 0) {
            out << "  " << g.property_mismatches
                << " message(s) whose MQTT 5 user properties disagree with the payload\n";
        }
        if (g.last_status) out << "  last status: " << *g.last_status << "\n";
    }
    out << "\nresult: ";
    if (incomplete == 0)
        out << "no unexplained gap\n";
    else
        out << "unexplained gaps in " << incomplete << " of " << report.gateways.size() << " gateway(s)\n";
}

}  // namespace outpost::audit
