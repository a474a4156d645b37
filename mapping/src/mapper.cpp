#include "outpost/mapping/mapper.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace outpost::mapping {

bool append_json_number(std::string& out, double value, int decimals) {
    if (!std::isfinite(value)) return false;
    char buf[64];
    std::to_chars_result r{};
    if (decimals < 0) {
        r = std::to_chars(buf, buf + sizeof buf, value);
    } else {
        r = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed, decimals);
        if (r.ec == std::errc{} && decimals > 0) {
            while (r.ptr[-1] == '0') --r.ptr;
            if (r.ptr[-1] == '.') --r.ptr;
        }
    }
    if (r.ec != std::errc{}) return false;
    std::string_view text(buf, static_cast<std::size_t>(r.ptr - buf));
    if (text == "-0") text = "0";
    out.append(text);
    return true;
}

void append_timestamp(std::string& out, std::int64_t ns) {
    if (ns < 0) ns = 0;
    const std::int64_t us = ns / 1000;
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, us / 1'000'000);
    *r.ptr++ = '.';
    const auto frac = static_cast<int>(us % 1'000'000);
    for (int div = 100000; div > 0; div /= 10) *r.ptr++ = static_cast<char>('0' + (frac / div) % 10);
    out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

void append_json_string(std::string& out, std::string_view text) {
    out += '"';
    for (const char c : text) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
                    out += buf;
                } else {
                    out += c;
                }
        }
    }
    out += '"';
}

Mapper::Mapper(Mapping mapping) : mapping_(std::move(mapping)) {
    state_.resize(mapping_.can.size());
    for (std::size_t i = 0; i < mapping_.can.size(); ++i) {
        const auto& rule = mapping_.can[i];
        state_[i].resize(rule.signals.size());
        const std::uint32_t full = rule.extended ? 0x1FFFFFFFu : 0x7FFu;
        if (rule.effective_mask() == full) {
            by_id_[key(rule.id, rule.extended)].push_back(i);
        } else {
            masked_.push_back(i);
        }
    }
}

std::size_t Mapper::map(const core::CanFrame& frame, std::vector<core::Message>& out) {
    return map(frame, out, nullptr);
}

std::size_t Mapper::map(const core::CanFrame& frame, std::vector<core::Message>& out, std::vector<Reading>* readings) {
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
        produced += map_rule(index, frame, out, readings);
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
                             std::vector<Reading>* readings) {
    const auto& rule = mapping_.can[index];
    auto& states = state_[index];
    const auto data = frame.bytes();
    // The multiplexor's raw value says which multiplexed signals this frame carries.
    std::optional<std::uint64_t> mux;
    for (const auto& signal : rule.signals) {
        if (signal.multiplex == Multiplex::multiplexor) mux = extract_raw(signal.spec, data);
    }
    const bool masked = rule.effective_mask() != (rule.extended ? 0x1FFFFFFFu : 0x7FFu);
    std::size_t produced = 0;
    for (std::size_t i = 0; i < rule.signals.size(); ++i) {
        const auto& signal = rule.signals[i];
        if (signal.multiplex == Multiplex::multiplexed && (!mux || *mux != signal.mux_value)) continue;
        const auto value = decode_signal(signal.spec, data);
        if (!value || !std::isfinite(*value)) {
            ++stats_.decode_errors;
            continue;
        }
        // DBC ranges are written rounded; allow for that before calling a value out of range.
        const double slack = 1e-9 * std::max(1.0, std::fabs(*value));
        if ((signal.minimum && *value < *signal.minimum - slack) || (signal.maximum && *value > *signal.maximum + slack)) {
            ++stats_.out_of_range;
            continue;
        }
        if (!signal.publish) continue;
        const bool pass = !signal.rate.active() || rate_allows(signal.rate, states[i], *value, frame.timestamp_ns);
        if (readings) readings->push_back({&rule, &signal, *value, pass});
        if (!pass) {
            ++stats_.rate_limited;
            continue;
        }
        core::Message m;
        m.body.reserve(80);
        m.body += "\"ts\":";
        append_timestamp(m.body, frame.timestamp_ns);
        m.body += ",\"value\":";
        if (!append_json_number(m.body, *value, signal.decimals)) {
            ++stats_.decode_errors;
            continue;
        }
        if (!signal.unit.empty()) {
            m.body += ",\"unit\":";
            append_json_string(m.body, signal.unit);
        }
        if (!signal.value_names.empty()) {
            const double rounded = std::round(*value);
            if (rounded == *value && std::fabs(rounded) < 9.2e18) {
                const auto name = signal.value_names.find(static_cast<std::int64_t>(rounded));
                if (name != signal.value_names.end()) {
                    m.body += ",\"text\":";
                    append_json_string(m.body, name->second);
                }
            }
        }
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

bool Mapper::rate_allows(const RateControl& rate, SignalState& state, double value, std::int64_t now_ns) {
    if (state.seen) {
        const std::int64_t elapsed_ns = now_ns - state.last_ns;
        // Time going backwards (a clock step, a second log) starts the signal over.
        if (elapsed_ns >= 0) {
            if (rate.min_interval_ms > 0 && elapsed_ns < rate.min_interval_ms * 1'000'000) return false;
            bool changed = true;
            if (rate.changes_only()) {
                const double diff = std::fabs(value - state.last_value);
                changed = (rate.deadband > 0 && diff > rate.deadband) ||
                          (rate.deadband_percent > 0 &&
                           diff > std::fabs(state.last_value) * rate.deadband_percent / 100.0);
            }
            const bool heartbeat_due = rate.heartbeat_ms > 0 && elapsed_ns >= rate.heartbeat_ms * 1'000'000;
            if (!changed && !heartbeat_due) return false;
        }
    }
    state = {true, value, now_ns};
    return true;
}

}  // namespace outpost::mapping
