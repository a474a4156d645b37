#include "outpost/uplink/batch_decoder.hpp"

#include <cstdio>
#include <exception>

#include <nlohmann/json.hpp>

#include "batch_formats.hpp"
#include "outpost/uplink/compression.hpp"

namespace outpost::uplink {

namespace {

enum class Form { compact, json, other };

// An uncompressed document's form, from its first byte: the compact array of 7 items (0x87), or a
// JSON object past any JSON whitespace.
Form form_of(std::string_view doc) {
    if (!doc.empty() && static_cast<unsigned char>(doc[0]) == 0x87) return Form::compact;
    const auto at = doc.find_first_not_of(" \t\r\n");
    return at != std::string_view::npos && doc[at] == '{' ? Form::json : Form::other;
}

PayloadFormat detect_plain(std::string_view doc) {
    switch (form_of(doc)) {
        case Form::compact:
            return PayloadFormat::batch_cbor;
        case Form::json: {
            const auto json = nlohmann::json::parse(doc.begin(), doc.end(), nullptr, /*allow_exceptions=*/false);
            if (!json.is_object()) break;
            return json.contains("batch") ? PayloadFormat::batch_json : PayloadFormat::single_json;
        }
        case Form::other:
            break;
    }
    return PayloadFormat::unknown;
}

// Inflates the payload if it is compressed, then hands it to its form's decoder.
bool decode_document(std::string_view payload, BatchOutput& output) {
    const auto compression = detect_compression(payload);
    std::string inflated;
    if (compression != Compression::none) {
        if (!decompress(compression, payload, inflated, max_inflated_payload)) {
            return output.fail(std::string("a damaged or truncated ") + to_string(compression) +
                               " stream, or one that inflates beyond 16 MiB");
        }
        payload = inflated;
    }
    switch (form_of(payload)) {
        case Form::compact:
            return decode_cbor_batch(payload, output);
        case Form::json:
            return decode_json_batch(payload, output);
        case Form::other:
            break;
    }
    if (payload.empty()) return output.fail("an empty payload");
    char first[8];
    std::snprintf(first, sizeof first, "0x%02X", static_cast<unsigned>(static_cast<unsigned char>(payload[0])));
    return output.fail(std::string("not a batch: it starts with the byte ") + first +
                       " (a batch starts with '{', 0x87, or a zstd or zlib header)");
}

}  // namespace

void BatchOutput::gateway(std::string_view gw) {
    if (gw_) gw_->assign(gw);
}

BatchOutput::BatchOutput(std::string_view topic, std::vector<DecodedReading>& out, std::string& problem,
                         std::string* gw)
    : out_(out), problem_(problem), gw_(gw) {
    const auto slash = topic.rfind('/');
    has_group_ = slash != std::string_view::npos;
    if (has_group_) group_ = topic.substr(0, slash);
}

bool BatchOutput::expect(std::uint64_t count) {
    // Checked once the gateway is known, so that the refusal can be counted against it.
    if (!has_group_) {
        return fail("the batch topic has no level to take off (its readings' topics start with its group)");
    }
    if (count == 0) return fail("the batch holds no reading");
    if (count > max_batch_readings) {
        return fail("the batch holds " + std::to_string(count) + " readings, more than the " +
                    std::to_string(max_batch_readings) + " allowed");
    }
    out_.reserve(static_cast<std::size_t>(count));
    return true;
}

bool BatchOutput::add(DecodedReading&& r, std::string_view suffix) {
    r.topic.reserve(group_.size() + 1 + suffix.size());
    r.topic.assign(group_);
    r.topic += '/';
    r.topic += suffix;
    text_ += r.gw.size() + r.topic.size() + r.value.size() + r.unit.size() + r.text.size();
    if (text_ > max_decoded_text) return fail("the readings add up to more than 64 MiB of text");
    out_.push_back(std::move(r));
    return true;
}

bool BatchOutput::fail(std::string why) {
    problem_ = std::move(why);
    return false;
}

bool BatchOutput::fail_reading(std::size_t index, const std::string& why) {
    return fail("reading " + std::to_string(index + 1) + ": " + why);
}

const char* to_string(PayloadFormat f) noexcept {
    switch (f) {
        case PayloadFormat::single_json:
            return "single_json";
        case PayloadFormat::batch_json:
            return "batch_json";
        case PayloadFormat::batch_cbor:
            return "batch_cbor";
        case PayloadFormat::unknown:
            break;
    }
    return "unknown";
}

PayloadFormat detect_format(std::string_view payload) noexcept {
    try {
        const auto compression = detect_compression(payload);
        if (compression == Compression::none) return detect_plain(payload);
        std::string inflated;
        if (!decompress(compression, payload, inflated, max_inflated_payload)) return PayloadFormat::unknown;
        return detect_plain(inflated);
    } catch (const std::exception&) {  // std::bad_alloc
        return PayloadFormat::unknown;
    }
}

bool decode_batch(std::string_view topic, std::string_view payload, std::vector<DecodedReading>& out,
                  std::string& problem, std::string* gw) noexcept {
    out.clear();
    problem.clear();
    if (gw) gw->clear();
    BatchOutput output(topic, out, problem, gw);
    bool ok = false;
    try {
        ok = decode_document(payload, output);
    } catch (const std::exception&) {  // std::bad_alloc
        ok = output.fail("out of memory while decoding the batch");
    }
    if (!ok) out.clear();
    return ok;
}

}  // namespace outpost::uplink
