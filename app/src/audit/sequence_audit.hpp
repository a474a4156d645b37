#pragma once
// The audit's core: messages go in as (receive time, topic, payload), the report comes out.
// Sans-I/O: no socket, no clock, no file; a subscriber or a capture reader feeds it, and tests feed
// it transcripts. Never throws on bad data: a payload it cannot read is counted as malformed.
// Not thread-safe: one feeder.
//
// Rules (also in the README):
// - (gw, ep, seq) names one message: a reading or a loss record. A second arrival is a duplicate.
// - A batch is one message holding several readings, each with its own (gw, ep, seq): each counts
//   as a reading arrival, on the batch's topic (for the out-of-order rule).
// - Sequences: a gateway's epochs are taken in the order first seen; an epoch whose lowest seq is
//   above the highest seq of the sequence so far continues it (the gap between them counts), any
//   other epoch starts a new sequence. A sequence starts at the lowest seq received.
// - A gap (seqs missing between the lowest and highest received of a sequence) is explained when
//   every missing seq lies in [first_seq, last_seq] of a loss record received in the same sequence.
// - Out of order: a first arrival whose seq is below the highest seq already received on the same
//   topic in the same epoch (FIFO holds within a topic; across topics order may differ).
// - Latency: receive time minus `ts`, first arrivals of readings only, when both are known.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "audit_report.hpp"
#include "payload_decoder.hpp"
#include "seq_ranges.hpp"

namespace outpost::audit {

// The gw/ep/seq user properties of an MQTT 5 message, as sent (absent under MQTT 3.1.1).
struct UserProperties {
    std::optional<std::string> gw, ep, seq;
};

struct Arrival {
    std::optional<double> received;  // seconds since the Unix epoch; absent in a capture without times
    std::string_view topic;
    std::string_view payload;
    std::optional<UserProperties> properties;
};

class SequenceAudit {
public:
    void feed(const Arrival& arrival);
    // A capture line that could not be read as `[time] topic payload` (or was too long to read).
    void note_unparsable_line() noexcept { ++unparsable_lines_; }
    void note_connection() noexcept { ++connections_; }
    std::uint64_t messages() const noexcept { return messages_; }

    AuditReport report() const;

private:
    struct Epoch {
        std::uint64_t ep = 0;
        SeqRanges seen;
        std::vector<LossInfo> losses;
    };
    struct Gateway {
        GatewayReport counts;       // the counters; the rest is filled by report()
        std::vector<Epoch> epochs;  // in the order first seen
        std::map<std::uint64_t, std::size_t> epoch_index;
        std::map<std::pair<std::uint64_t, std::string>, std::uint64_t> topic_high;  // (ep, topic) -> highest seq
        std::map<std::pair<std::uint64_t, std::uint64_t>, std::uint64_t> copies;    // duplicated (ep, seq) -> arrivals
        std::uint64_t duplicate_run = 0;
        std::vector<double> latencies;
    };

    Gateway& gateway(const std::string& gw);
    void feed_item(Gateway& g, const SequencedItem& item, const Arrival& arrival, bool batch);

    std::map<std::string, Gateway> gateways_;
    std::uint64_t messages_ = 0;
    std::uint64_t unattributed_ = 0;
    std::string last_unattributed_problem_;
    std::uint64_t unparsable_lines_ = 0;
    std::uint64_t connections_ = 0;
};

}  // namespace outpost::audit
