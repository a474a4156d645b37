#include "payload_decoder.hpp"

#include <cmath>

#include <nlohmann/json.hpp>

#include "outpost/uplink/batch_decoder.hpp"
#include "outpost/uplink/compression.hpp"

namespace outpost::audit {

namespace {

using nlohmann::json;

// An unsigned integer as JSON wrote it: 12 yes; -1, 1.5, 1e30, "12" no. (nlohmann keeps integers
// up to UINT64_MAX exact and turns bigger ones into doubles, which are refused here.)
std::optional<std::uint64_t> unsigned_member(const json& object, const char* key) {
    const auto it = object.find(key);
    if (it == object.end()) return std::nullopt;
    if (it->is_number_unsigned()) return it->get<std::uint64_t>();
    if (it->is_number_integer() && it->get<std::int64_t>() >= 0)
        return static_cast<std::uint64_t>(it->get<std::int64_t>());
    return std::nullopt;
}

DecodedPayload malformed(std::string gw, std::string problem) {
    DecodedPayload d;
    d.kind = PayloadKind::malformed;
    d.gw = std::move(gw);
    d.problem = std::move(problem);
    return d;
}

// A loss member as well as it can be read; `problem` says what could not be.
LossInfo decode_loss(const json& loss, std::string& problem) {
    LossInfo info;
    if (!loss.is_object()) {
        problem = "loss is not an object";
        return info;
    }
    const auto first = unsigned_member(loss, "first_seq");
    const auto last = unsigned_member(loss, "last_seq");
    if (first && last && *first <= *last) {
        info.first_seq = *first;
        info.last_seq = *last;
        info.has_range = true;
    } else {
        problem = "loss has no valid first_seq..last_seq range";
    }
    info.count = unsigned_member(loss, "count").value_or(0);
    if (const auto it = loss.find("reason"); it != loss.end() && it->is_string()) info.reason = it->get<std::string>();
    if (const auto it = loss.find("priority"); it != loss.end() && it->is_number_integer()) {
        info.priority = it->get<std::int64_t>();
    }
    return info;
}

// One item per reading; a refused batch is malformed, against its gateway when its gw could be read.
DecodedPayload decode_batch_payload(std::string_view topic, std::string_view payload) {
    std::vector<uplink::DecodedReading> readings;
    std::string problem, gw;
    if (!uplink::decode_batch(topic, payload, readings, problem, &gw)) return malformed(gw, "batch: " + problem);
    DecodedPayload d;
    d.kind = PayloadKind::sequenced;
    d.batch = true;
    d.gw = std::move(gw);
    d.items.reserve(readings.size());
    for (auto& r : readings) {
        SequencedItem item;
        item.gw = std::move(r.gw);
        item.ep = r.ep;
        item.seq = r.seq;
        item.ts = static_cast<double>(r.ts_us) / 1e6;
        d.items.push_back(std::move(item));
    }
    return d;
}

// A batch by its first bytes: a compressed stream, or the compact form's 7-item array.
bool binary_batch(std::string_view payload) {
    return uplink::detect_compression(payload) != uplink::Compression::none ||
           (!payload.empty() && static_cast<unsigned char>(payload[0]) == 0x87);
}

}  // namespace

DecodedPayload decode_payload(std::string_view topic, std::string_view payload) {
    if (binary_batch(payload)) return decode_batch_payload(topic, payload);
    const json doc = json::parse(payload.begin(), payload.end(), nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return malformed("", "not JSON");
    if (!doc.is_object()) return malformed("", "not a JSON object");
    if (doc.contains("batch")) return decode_batch_payload(topic, payload);
    const auto gw_it = doc.find("gw");
    if (gw_it == doc.end() || !gw_it->is_string() || gw_it->get_ref<const std::string&>().empty()) {
        return malformed("", "no gw");
    }
    std::string gw = gw_it->get<std::string>();

    if (!doc.contains("seq")) {
        DecodedPayload d;
        d.gw = std::move(gw);
        if (const auto it = doc.find("state"); it != doc.end() && it->is_string()) {
            d.kind = PayloadKind::status;
            d.state = it->get<std::string>();
        } else {
            d.kind = PayloadKind::health;
        }
        return d;
    }

    SequencedItem item;
    const auto seq = unsigned_member(doc, "seq");
    if (!seq) return malformed(std::move(gw), "seq is not an unsigned 64-bit integer");
    const auto ep = doc.contains("ep") ? unsigned_member(doc, "ep") : std::optional<std::uint64_t>(0);
    if (!ep) return malformed(std::move(gw), "ep is not an unsigned 64-bit integer");
    item.seq = *seq;
    item.ep = *ep;
    if (const auto it = doc.find("ts"); it != doc.end() && it->is_number()) {
        const double ts = it->get<double>();
        if (std::isfinite(ts)) item.ts = ts;
    }
    std::string problem;
    if (const auto it = doc.find("loss"); it != doc.end()) item.loss = decode_loss(*it, problem);
    item.gw = std::move(gw);
    DecodedPayload d;
    d.kind = PayloadKind::sequenced;
    d.gw = item.gw;
    d.problem = std::move(problem);
    d.items.push_back(std::move(item));
    return d;
}

}  // namespace outpost::audit
