// Batched JSON: {"gw":..,"ep":..,"batch":[{"seq":..,"t":..,"ts":..,"value":..,...},...]}.
// nlohmann turns a number with a fraction or an exponent into a double; the reading needs the
// number as written (the value's decimals, the timestamp's microseconds). So the document is built
// by a SAX handler of our own that keeps such a number's text, as a binary value (which JSON text
// cannot produce, so it cannot be confused with anything else), refuses duplicate members and
// bounds the nesting.
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "batch_formats.hpp"
#include "decimal_text.hpp"

namespace outpost::uplink {

namespace {

using nlohmann::json;

// Deeper than this is not a batch anyone wrote (a reading's members are scalars).
constexpr std::size_t max_depth = 32;

class TextKeepingBuilder {
public:
    explicit TextKeepingBuilder(json& root) : root_(root) {}

    std::string problem;

    bool null() { return add(json(nullptr)) != nullptr; }
    bool boolean(bool b) { return add(json(b)) != nullptr; }
    bool number_integer(std::int64_t n) { return add(json(n)) != nullptr; }
    bool number_unsigned(std::uint64_t n) { return add(json(n)) != nullptr; }
    bool number_float(double /*value*/, const std::string& text) {
        return add(json::binary(json::binary_t::container_type(text.begin(), text.end()))) != nullptr;
    }
    bool string(std::string& s) { return add(json(std::move(s))) != nullptr; }
    bool binary(json::binary_t& /*unused*/) { return false; }  // not from JSON text
    bool start_object(std::size_t /*unused*/) { return open(json::object()); }
    bool start_array(std::size_t /*unused*/) { return open(json::array()); }
    bool end_object() { return close(); }
    bool end_array() { return close(); }
    bool key(std::string& k) {
        if (stack_.back()->contains(k)) {
            problem = "the member \"" + k + "\" appears twice in one object";
            return false;
        }
        key_ = std::move(k);
        return true;
    }
    bool parse_error(std::size_t position, const std::string& /*last_token*/,
                     const nlohmann::detail::exception& /*error*/) {
        problem = "not JSON (a syntax error at byte " + std::to_string(position) + ")";
        return false;
    }

private:
    json* add(json&& value) {
        if (stack_.empty()) {
            root_ = std::move(value);
            return &root_;
        }
        auto& parent = *stack_.back();
        if (parent.is_array()) {
            parent.push_back(std::move(value));
            return &parent.back();
        }
        auto& slot = parent[key_];
        slot = std::move(value);
        return &slot;
    }
    bool open(json&& container) {
        if (stack_.size() >= max_depth) {
            problem = "nested deeper than " + std::to_string(max_depth) + " levels";
            return false;
        }
        stack_.push_back(add(std::move(container)));
        return true;
    }
    bool close() {
        stack_.pop_back();
        return true;
    }

    json& root_;
    std::vector<json*> stack_;  // the open containers, innermost last
    std::string key_;
};

bool is_unsigned(const json& v) {
    return v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0);
}

std::string_view kept_text(const json& v) {
    const auto& bytes = v.get_binary();
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// A number: an integer as nlohmann read it, or a kept text.
bool read_number(const json& v, DecimalNumber& n) {
    if (v.is_binary()) return parse_decimal(kept_text(v), n);
    if (!v.is_number_integer()) return false;
    return parse_decimal(v.dump(), n);
}

// Renders a member's value back to JSON text, numbers as written.
void render(const json& v, std::string& out) {
    if (v.is_binary()) {
        out += kept_text(v);
    } else if (v.is_array()) {
        out += '[';
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (i > 0) out += ',';
            render(v[i], out);
        }
        out += ']';
    } else if (v.is_object()) {
        out += '{';
        bool first = true;
        for (const auto& [k, member] : v.items()) {
            if (!first) out += ',';
            first = false;
            out += json(k).dump();
            out += ':';
            render(member, out);
        }
        out += '}';
    } else {
        out += v.dump();
    }
}

// An optional text member: absent, null and "" all read as empty.
bool optional_text(const json& v, std::string& out) {
    if (v.is_null()) return true;
    if (!v.is_string()) return false;
    out = v.get<std::string>();
    return true;
}

// One element of `batch`: its members into `r`, the suffix into `suffix`; false with `why`.
bool read_reading(const json& element, DecodedReading& r, std::string& suffix, std::string& why) {
    if (!element.is_object()) {
        why = "not a JSON object";
        return false;
    }
    bool has_seq = false, has_ts = false, has_value = false;
    for (const auto& [name, v] : element.items()) {
        DecimalNumber n;
        if (name == "seq") {
            if (!is_unsigned(v) || v.get<std::uint64_t>() == 0) {
                why = "seq is not an unsigned 64-bit integer of 1 or more";
                return false;
            }
            r.seq = v.get<std::uint64_t>();
            has_seq = true;
        } else if (name == "t") {
            if (!v.is_string() || v.get_ref<const std::string&>().empty()) {
                why = "t (the topic suffix) is not a non-empty string";
                return false;
            }
            suffix = v.get<std::string>();
        } else if (name == "ts") {
            if (!read_number(v, n) || !scaled_integer(n, 6, r.ts_us)) {
                why = "ts is not a number of seconds with at most 6 decimals within 64 bits of microseconds";
                return false;
            }
            has_ts = true;
        } else if (name == "value") {
            if (v.is_string()) {
                r.value = v.get<std::string>();
                r.value_is_text = true;
            } else if (!read_number(v, n) || !canonical_text(n, r.value)) {
                why = "the value is neither a string nor a number of at most " + std::to_string(max_decimal_text) +
                      " digits";
                return false;
            }
            has_value = true;
        } else if (name == "unit" || name == "text") {
            if (!optional_text(v, name == "unit" ? r.unit : r.text)) {
                why = name + " is neither a string nor null";
                return false;
            }
        } else {
            if (!r.extra.empty()) r.extra += ',';
            r.extra += json(name).dump();
            r.extra += ':';
            render(v, r.extra);
        }
    }
    if (!has_seq || suffix.empty() || !has_ts || !has_value) {
        why = "it lacks one of seq, t, ts and value";
        return false;
    }
    return true;
}

}  // namespace

bool decode_json_batch(std::string_view doc, BatchOutput& out) {
    json root;
    TextKeepingBuilder builder(root);
    if (!json::sax_parse(doc.begin(), doc.end(), &builder)) {
        return out.fail(builder.problem.empty() ? "not JSON" : builder.problem);
    }
    if (!root.is_object()) return out.fail("not a JSON object");
    const auto gw = root.find("gw");
    if (gw == root.end() || !gw->is_string() || gw->get_ref<const std::string&>().empty()) {
        return out.fail("gw is not a non-empty string");
    }
    out.gateway(gw->get_ref<const std::string&>());
    const auto ep = root.find("ep");
    if (ep == root.end() || !is_unsigned(*ep) || ep->get<std::uint64_t>() > std::numeric_limits<std::uint32_t>::max()) {
        return out.fail("ep is not an unsigned 32-bit integer");
    }
    const auto batch = root.find("batch");
    if (batch == root.end()) return out.fail("no batch member (a one-message payload?)");
    if (!batch->is_array()) return out.fail("batch is not an array");
    if (!out.expect(batch->size())) return false;
    std::string suffix, why;
    for (std::size_t i = 0; i < batch->size(); ++i) {
        DecodedReading r;
        suffix.clear();
        if (!read_reading((*batch)[i], r, suffix, why)) return out.fail_reading(i, why);
        r.gw = gw->get<std::string>();
        r.ep = static_cast<std::uint32_t>(ep->get<std::uint64_t>());
        if (!out.add(std::move(r), suffix)) return false;
    }
    return true;
}

}  // namespace outpost::uplink
