#include "outpost/mapping/mapper.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "outpost/mapping/frame_length.hpp"

namespace outpost::mapping {

Mapper::Mapper(Mapping mapping) : mapping_(std::move(mapping)) {
    state_.resize(mapping_.can.size());
    needed_.resize(mapping_.can.size());
    rule_mismatches_.resize(mapping_.can.size());
    for (std::size_t i = 0; i < mapping_.can.size(); ++i) {
        const auto& rule = mapping_.can[i];
        state_[i].resize(rule.signals.size());
        for (const auto& signal : rule.signals) needed_[i] = std::max(needed_[i], bytes_needed(signal.spec));
        const std::uint32_t full = rule.extended ? 0x1FFFFFFFu : 0x7FFu;
        if (rule.effective_mask() == full) {
            by_id_[key(rule.id, rule.extended)].push_back(i);
        } else {
            masked_.push_back(i);
        }
    }
}

std::size_t Mapper::map(const core::CanFrame& frame, std::vector<core::Message>& out) {
    return map_frame(frame, out, nullptr, nullptr);
}

std::size_t Mapper::map(const core::CanFrame& frame, std::vector<core::Message>& out, std::vector<Reading>* readings) {
    return map_frame(frame, out, readings, nullptr);
}

std::size_t Mapper::map(const core::CanFrame& frame, std::vector<core::Message>& out, MapTrace& trace) {
    trace.clear();
    return map_frame(frame, out, &trace.readings, &trace);
}

std::size_t Mapper::map_frame(const core::CanFrame& frame, std::vector<core::Message>& out,
                              std::vector<Reading>* readings, MapTrace* trace) {
    ++stats_.frames;
    if (frame.error) {
        ++stats_.error_frames;
        return 0;
    }
    if (frame.remote) {
        ++stats_.remote_frames;
        return 0;
    }
    std::size_t produced = 0;
    bool matched = false;
    const auto try_rule = [&](std::size_t index) {
        const auto& rule = mapping_.can[index];
        if (rule.bus && *rule.bus != frame.bus) return;
        matched = true;
        produced += map_rule(index, frame, out, readings, trace);
    };
    if (const auto it = by_id_.find(key(frame.id, frame.extended)); it != by_id_.end()) {
        for (const auto index : it->second) try_rule(index);
    }
    for (const auto index : masked_) {
        const auto& rule = mapping_.can[index];
        const auto m = rule.effective_mask();
        if (rule.extended == frame.extended && (frame.id & m) == (rule.id & m)) try_rule(index);
    }
    if (!matched) {
        ++stats_.unmapped_frames;
        const std::uint32_t k = frame.id | (frame.extended ? 0x80000000U : 0U);
        if (auto u = unmapped_.find(k); u != unmapped_.end()) {
            ++u->second;
        } else if (unmapped_.size() < max_unmapped_ids) {
            unmapped_.emplace(k, 1);
        }
    }
    stats_.readings += produced;
    return produced;
}

std::size_t Mapper::map_rule(std::size_t index, const core::CanFrame& frame, std::vector<core::Message>& out,
                             std::vector<Reading>* readings, MapTrace* trace) {
    const auto& rule = mapping_.can[index];
    const auto declared = rule.length ? std::optional<std::size_t>(*rule.length) : std::nullopt;
    const auto verdict = check_frame_length(declared, needed_[index], rule.accept_short_frames, frame.len, frame.fd);
    if (verdict == FrameLength::too_short || verdict == FrameLength::too_long) {
        ++stats_.length_mismatches;
        ++rule_mismatches_[index];
        if (trace) trace->mismatches.push_back({&rule, frame.len, declared.value_or(needed_[index]), declared.has_value()});
        return 0;
    }
    if (verdict == FrameLength::short_accepted) {
        ++stats_.short_frames;
        if (trace) trace->short_accepted.push_back(&rule);
    }
    auto& states = state_[index];
    const auto data = frame.bytes();
    // The multiplexor's raw value says which multiplexed signals this frame carries (none, if a
    // short frame does not reach it).
    std::optional<std::uint64_t> mux;
    for (const auto& signal : rule.signals) {
        if (signal.multiplex == Multiplex::multiplexor) mux = extract_raw(signal.spec, data);
    }
    const bool masked = rule.effective_mask() != (rule.extended ? 0x1FFFFFFFu : 0x7FFu);
    std::size_t produced = 0;
    for (std::size_t i = 0; i < rule.signals.size(); ++i) {
        const auto& signal = rule.signals[i];
        if (signal.multiplex == Multiplex::multiplexed && (!mux || *mux != signal.mux_value)) continue;
        // Only a short frame that was accepted can end before a signal: that signal is not in it.
        if (bytes_needed(signal.spec) > data.size()) continue;
        const auto value = decode_signal(signal.spec, data);
        if (!value || !std::isfinite(*value)) {
            ++stats_.decode_errors;
            continue;
        }
        // DBC ranges are written rounded; allow for that before calling a value out of range.
        const double slack = 1e-9 * std::max(1.0, std::fabs(*value));
        const bool out_of_range =
            (signal.minimum && *value < *signal.minimum - slack) || (signal.maximum && *value > *signal.maximum + slack);
        if (out_of_range) ++stats_.out_of_range;
        if (!signal.publish) continue;
        if (out_of_range && !signal.publish_out_of_range) {
            if (readings) readings->push_back({&rule, &signal, *value, false, true});
            continue;
        }
        const bool pass = !signal.rate.active() || rate_allows(signal.rate, states[i], *value, frame.timestamp_ns);
        if (readings) readings->push_back({&rule, &signal, *value, pass, out_of_range});
        if (!pass) {
            ++stats_.rate_limited;
            continue;
        }
        core::Message m;
        m.body.reserve(96);
        if (!append_reading_body(m.body, frame.timestamp_ns, *value, signal.decimals, signal.unit, signal.value_names)) {
            ++stats_.decode_errors;
            continue;
        }
        if (out_of_range) m.body += ",\"out_of_range\":true";
        if (masked) {
            char buf[24];
            std::snprintf(buf, sizeof buf, ",\"can_id\":\"0x%X\"", static_cast<unsigned>(frame.id));
            m.body += buf;
        }
        m.topic = signal.topic;
        m.created_ns = frame.timestamp_ns;
        m.priority = signal.priority;
        m.qos = signal.qos;
        m.retain = signal.retain;
        out.push_back(std::move(m));
        ++produced;
    }
    return produced;
}

}  // namespace outpost::mapping
