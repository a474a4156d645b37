#include "sequence_audit.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace outpost::audit {

namespace {

bool same_number(const std::string& text, std::uint64_t value) {
    std::uint64_t parsed = 0;
    const auto* end = text.data() + text.size();
    const auto r = std::from_chars(text.data(), end, parsed);
    return r.ec == std::errc() && r.ptr == end && parsed == value;
}

// A batch's properties are checked for gw and ep only: its readings have a seq each.
bool properties_agree(const UserProperties& p, const SequencedItem& item, bool batch) {
    if (p.gw && *p.gw != item.gw) return false;
    if (p.ep && !same_number(*p.ep, item.ep)) return false;
    if (p.seq && !batch && !same_number(*p.seq, item.seq)) return false;
    return true;
}

// Nearest rank: the smallest sample with at least p% of the samples at or below it.
double percentile(const std::vector<double>& sorted, double p) {
    const auto n = sorted.size();
    auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(n)));
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return sorted[rank - 1];
}

}  // namespace

SequenceAudit::Gateway& SequenceAudit::gateway(const std::string& gw) {
    auto [it, inserted] = gateways_.try_emplace(gw);
    if (inserted) it->second.counts.gw = gw;
    return it->second;
}

void SequenceAudit::feed(const Arrival& arrival) {
    ++messages_;
    auto decoded = decode_payload(arrival.topic, arrival.payload);
    if (decoded.gw.empty()) {
        ++unattributed_;
        last_unattributed_problem_ = decoded.problem;
        return;
    }
    auto& g = gateway(decoded.gw);
    ++g.counts.messages;
    switch (decoded.kind) {
        case PayloadKind::malformed:
            ++g.counts.malformed;
            g.counts.last_problem = decoded.problem;
            g.duplicate_run = 0;
            return;
        case PayloadKind::status:
            ++g.counts.status_messages;
            g.counts.last_status = decoded.state;
            return;
        case PayloadKind::health:
            ++g.counts.health_messages;
            return;
        case PayloadKind::sequenced:
            if (!decoded.problem.empty()) {
                ++g.counts.malformed;
                g.counts.last_problem = decoded.problem;
            }
            for (const auto& item : decoded.items) {
                // Items may name other gateways; each counts for its own.
                auto& owner = item.gw == decoded.gw ? g : gateway(item.gw);
                feed_item(owner, item, arrival, decoded.batch);
            }
            return;
    }
}

void SequenceAudit::feed_item(Gateway& g, const SequencedItem& item, const Arrival& arrival, bool batch) {
    auto& c = g.counts;
    if (arrival.properties && !properties_agree(*arrival.properties, item, batch)) ++c.property_mismatches;
    if (!item.loss) ++c.readings;

    auto [index_it, new_epoch] = g.epoch_index.try_emplace(item.ep, g.epochs.size());
    if (new_epoch) g.epochs.push_back(Epoch{item.ep, {}, {}});
    auto& epoch = g.epochs[index_it->second];

    if (!epoch.seen.insert(item.seq)) {
        ++c.duplicates;
        ++g.duplicate_run;
        c.largest_duplicate_run = std::max(c.largest_duplicate_run, g.duplicate_run);
        auto& copies = g.copies[{item.ep, item.seq}];
        if (copies == 0) copies = 1;
        ++copies;
        c.most_copies = std::max(c.most_copies, copies);
        return;
    }
    g.duplicate_run = 0;
    if (c.most_copies == 0) c.most_copies = 1;

    auto& high = g.topic_high[{item.ep, std::string(arrival.topic)}];
    if (item.seq < high)
        ++c.out_of_order;
    else
        high = item.seq;

    if (item.loss) {
        ++c.loss_records;
        auto& summary = c.losses[item.loss->reason];
        ++summary.records;
        summary.count += item.loss->count;
        epoch.losses.push_back(*item.loss);
        return;
    }
    ++c.distinct_readings;
    if (arrival.received && item.ts) g.latencies.push_back(*arrival.received - *item.ts);
}

AuditReport SequenceAudit::report() const {
    AuditReport r;
    r.messages = messages_;
    r.unattributed = unattributed_;
    r.last_unattributed_problem = last_unattributed_problem_;
    r.unparsable_lines = unparsable_lines_;
    r.connections = connections_;
    for (const auto& [gw, g] : gateways_) {
        GatewayReport out = g.counts;
        // Chain the epochs into sequences, then look for holes in each.
        std::vector<SeqRanges> seen;
        std::vector<SeqRanges> covered;
        for (const auto& epoch : g.epochs) {
            if (epoch.seen.empty()) continue;
            if (out.sequences.empty() || epoch.seen.min() <= out.sequences.back().last_seq) {
                out.sequences.push_back({{}, epoch.seen.min(), epoch.seen.max()});
                seen.emplace_back();
                covered.emplace_back();
            }
            auto& sequence = out.sequences.back();
            sequence.epochs.push_back(epoch.ep);
            sequence.last_seq = std::max(sequence.last_seq, epoch.seen.max());
            for (const auto& range : epoch.seen.ranges()) seen.back().insert(range);
            for (const auto& loss : epoch.losses) {
                if (loss.has_range) covered.back().insert(SeqRange{loss.first_seq, loss.last_seq});
            }
        }
        for (std::size_t s = 0; s < seen.size(); ++s) {
            for (const auto& hole : seen[s].holes()) {
                GapReport gap{s, hole, covered[s].uncovered(hole)};
                out.missing += hole.size();
                for (const auto& part : gap.unexplained) out.unexplained_missing += part.size();
                out.gaps.push_back(std::move(gap));
            }
        }
        if (!g.latencies.empty()) {
            auto sorted = g.latencies;
            std::sort(sorted.begin(), sorted.end());
            out.latency = LatencyReport{sorted.size(),          percentile(sorted, 50), percentile(sorted, 95),
                                        percentile(sorted, 99), sorted.back(),          sorted.front()};
        }
        r.gateways.push_back(std::move(out));
    }
    return r;
}

}  // namespace outpost::audit
