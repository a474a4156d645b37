#pragma once
// What `outpost audit` found, per gateway, and its two renderings: text for people, JSON for
// scripts and tests. Plain values: SequenceAudit::report() fills them, nothing here does I/O
// except writing to the stream it is given.
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "seq_ranges.hpp"

namespace outpost::audit {

// One numbering of a gateway: an epoch, and the epochs after it that continued its numbers (their
// lowest seq above the highest seq so far). An epoch that starts at or below the numbers already
// seen starts a new sequence.
struct SequenceReport {
    std::vector<std::uint64_t> epochs;  // in the order they were first seen
    std::uint64_t first_seq = 0;        // lowest seq received (the audit cannot see what came before)
    std::uint64_t last_seq = 0;         // highest seq received
};

struct GapReport {
    std::size_t sequence = 0;  // index into GatewayReport::sequences
    SeqRange missing;
    // The parts of `missing` that no loss record of the sequence covers; empty: explained.
    std::vector<SeqRange> unexplained;
};

struct LossSummary {
    std::uint64_t records = 0;
    std::uint64_t count = 0;  // sum of the records' counts (upper bounds for some reasons)
};

struct LatencyReport {
    std::uint64_t samples = 0;
    double p50 = 0, p95 = 0, p99 = 0, max = 0, min = 0;  // seconds, nearest-rank percentiles
};

struct GatewayReport {
    std::string gw;
    std::uint64_t messages = 0;  // every arrival naming this gateway
    std::uint64_t readings = 0;  // reading arrivals, duplicates included
    std::uint64_t distinct_readings = 0;
    std::uint64_t loss_records = 0;           // distinct loss records
    std::uint64_t duplicates = 0;             // arrivals of a (ep, seq) already received
    std::uint64_t largest_duplicate_run = 0;  // most duplicates arriving one after another
    std::uint64_t most_copies = 0;            // most arrivals of one (ep, seq); 1 without duplicates
    std::uint64_t out_of_order = 0;           // first arrivals below the highest seq already seen on their topic
    std::uint64_t status_messages = 0;
    std::uint64_t health_messages = 0;
    std::uint64_t malformed = 0;
    std::uint64_t property_mismatches = 0;  // MQTT 5 user properties gw/ep/seq that disagree with the payload
    std::optional<std::string> last_status;
    std::string last_problem;  // the last malformed payload's problem
    std::vector<SequenceReport> sequences;
    std::vector<GapReport> gaps;
    std::uint64_t missing = 0;                  // seqs in gaps
    std::uint64_t unexplained_missing = 0;      // seqs in gaps that no loss record covers
    std::map<std::string, LossSummary> losses;  // by reason
    std::optional<LatencyReport> latency;

    std::size_t unexplained_gaps() const;
};

struct AuditReport {
    std::vector<GatewayReport> gateways;  // by gw
    std::uint64_t messages = 0;           // every arrival
    std::uint64_t unattributed = 0;       // arrivals that name no gateway (not JSON, no gw, ...)
    std::string last_unattributed_problem;
    std::uint64_t unparsable_lines = 0;  // capture lines without a topic, with bad hex, or too long
    std::uint64_t connections = 0;       // broker connections the subscriber made (0 for a capture)

    // True when every gap of every gateway is explained by a loss record.
    bool complete() const;
};

nlohmann::json to_json(const AuditReport& report);
void write_text(std::ostream& out, const AuditReport& report);

}  // namespace outpost::audit
