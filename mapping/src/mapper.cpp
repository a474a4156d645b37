#include "outpost/mapping/mapper.hpp"

#include <charconv>
#include <cmath>

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

Mapper::Mapper(Mapping mapping) : mapping_(std::move(mapping)) {
    for (std::size_t i = 0; i < mapping_.can.size(); ++i) {
        const auto& rule = mapping_.can[i];
        by_id_[key(rule.id, rule.extended)].push_back(i);
    }
}

std::size_t Mapper::map(const core::CanFrame& frame, std::vector<core::Message>& out) {
    ++stats_.frames;
    if (frame.error) {
        ++stats_.error_frames;
        return 0;
    }
    if (frame.remote) {
        ++stats_.remote_frames;
        return 0;
    }
    const auto it = by_id_.find(key(frame.id, frame.extended));
    std::size_t produced = 0;
    bool matched = false;
    if (it != by_id_.end()) {
        for (const auto index : it->second) {
            const auto& rule = mapping_.can[index];
            if (rule.bus && *rule.bus != frame.bus) continue;
            matched = true;
            for (const auto& signal : rule.signals) {
                const auto value = decode_signal(signal.spec, frame.bytes());
                core::Message m;
                m.body.reserve(64);
                m.body += "\"ts\":";
                append_timestamp(m.body, frame.timestamp_ns);
                m.body += ",\"value\":";
                if (!value || !append_json_number(m.body, *value, signal.decimals)) {
                    ++stats_.decode_errors;
                    continue;
                }
                if (!signal.unit.empty()) {
                    m.body += ",\"unit\":\"";
                    m.body += signal.unit;  // units are validated plain text at load time
                    m.body += '"';
                }
                m.topic = signal.topic;
                m.created_ns = frame.timestamp_ns;
                m.priority = signal.priority;
                m.qos = signal.qos;
                m.retain = signal.retain;
                out.push_back(std::move(m));
                ++produced;
            }
        }
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

}  // namespace outpost::mapping
