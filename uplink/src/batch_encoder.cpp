#include "outpost/uplink/batch_encoder.hpp"

#include <charconv>
#include <cmath>
#include <cstring>

namespace outpost::uplink {
namespace {

// ---- the stored body, taken apart ----

bool take(std::string_view& s, std::string_view prefix) {
    if (s.substr(0, prefix.size()) != prefix) return false;
    s.remove_prefix(prefix.size());
    return true;
}

// A JSON string without escapes (the mapping's units, names and texts nearly always are).
bool take_plain_string(std::string_view& s, std::string_view& out) {
    if (s.empty() || s[0] != '"') return false;
    const auto end = s.find('"', 1);
    if (end == std::string_view::npos) return false;
    out = s.substr(1, end - 1);
    if (out.find('\\') != std::string_view::npos) return false;
    s.remove_prefix(end + 1);
    return true;
}

std::string_view take_number_text(std::string_view& s) {
    const auto end = s.find(',');
    const auto text = s.substr(0, end);
    s.remove_prefix(text.size());
    return text;
}

bool parse_ts_us(std::string_view text, std::int64_t& us) {
    const auto dot = text.find('.');
    const auto whole = text.substr(0, dot);
    std::int64_t seconds = 0;
    if (whole.empty() || std::from_chars(whole.data(), whole.data() + whole.size(), seconds).ptr != whole.data() + whole.size() ||
        seconds < 0 || seconds > 9'000'000'000'000) {
        return false;
    }
    std::int64_t fraction = 0;
    if (dot != std::string_view::npos) {
        const auto digits = text.substr(dot + 1);
        if (digits.empty() || digits.size() > 6) return false;
        for (const char c : digits) {
            if (c < '0' || c > '9') return false;
            fraction = fraction * 10 + (c - '0');
        }
        for (auto n = digits.size(); n < 6; ++n) fraction *= 10;
    }
    us = seconds * 1'000'000 + fraction;
    return true;
}

// A number's text as mantissa and decimals, exactly: "-12.50" is -1250 and 2. Only plain decimals
// with at most 12 significant digits and 6 decimals, so that scaling to a key's decimals stays
// within 64 bits; other numbers ("1e-07", long ones) travel as floats.
struct Decimal {
    std::int64_t mantissa = 0;
    int decimals = 0;
};

bool plain_decimal(std::string_view text, Decimal& d) {
    bool negative = false;
    if (!text.empty() && text[0] == '-') {
        negative = true;
        text.remove_prefix(1);
    }
    if (text.empty() || text[0] == '.') return false;
    std::int64_t m = 0;
    int significant = 0;
    int decimals = 0;
    bool dot = false;
    for (const char c : text) {
        if (c == '.' && !dot) {
            dot = true;
            continue;
        }
        if (c < '0' || c > '9') return false;
        if (m != 0 || c != '0') ++significant;
        m = m * 10 + (c - '0');
        if (dot) ++decimals;
        if (significant > 12 || decimals > 6) return false;
    }
    if (dot && decimals == 0) return false;
    d = {negative ? -m : m, decimals};
    return true;
}

bool finite_number(std::string_view text, double& value) {
    const auto r = std::from_chars(text.data(), text.data() + text.size(), value);
    return r.ec == std::errc{} && r.ptr == text.data() + text.size() && std::isfinite(value);
}

// ---- CBOR (RFC 8949), only what the compact form needs ----

void cbor_head(std::string& out, unsigned major, std::uint64_t v) {
    const auto m = static_cast<unsigned char>(major << 5);
    auto put = [&](unsigned char additional, int bytes) {
        out += static_cast<char>(m | additional);
        for (int i = bytes - 1; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
    };
    if (v < 24) put(static_cast<unsigned char>(v), 0);
    else if (v <= 0xff) put(24, 1);
    else if (v <= 0xffff) put(25, 2);
    else if (v <= 0xffffffff) put(26, 4);
    else put(27, 8);
}

void cbor_int(std::string& out, std::int64_t v) {
    if (v >= 0) cbor_head(out, 0, static_cast<std::uint64_t>(v));
    else cbor_head(out, 1, static_cast<std::uint64_t>(-(v + 1)));
}

void cbor_text(std::string& out, std::string_view s) {
    cbor_head(out, 3, s.size());
    out.append(s);
}

void cbor_double(std::string& out, double d) {
    const auto f = static_cast<float>(d);
    if (static_cast<double>(f) == d) {
        std::uint32_t bits;
        std::memcpy(&bits, &f, sizeof bits);
        out += static_cast<char>(0xfa);
        for (int i = 3; i >= 0; --i) out += static_cast<char>((bits >> (8 * i)) & 0xff);
        return;
    }
    std::uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    out += static_cast<char>(0xfb);
    for (int i = 7; i >= 0; --i) out += static_cast<char>((bits >> (8 * i)) & 0xff);
}

constexpr std::int64_t pow10(int n) {
    std::int64_t p = 1;
    while (n-- > 0) p *= 10;
    return p;
}

void append_uint(std::string& out, std::uint64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

}  // namespace

bool parse_reading_body(std::string_view body, ReadingFields& out) {
    ReadingFields f;
    if (!take(body, "\"ts\":") || !parse_ts_us(take_number_text(body), f.ts_us)) return false;
    if (!take(body, ",\"value\":")) return false;
    if (!body.empty() && body[0] == '"') {
        if (!take_plain_string(body, f.value)) return false;
        f.value_is_text = true;
    } else {
        f.value = take_number_text(body);
        if (f.value.empty()) return false;
    }
    if (take(body, ",\"unit\":") && !take_plain_string(body, f.unit)) return false;
    if (take(body, ",\"text\":") && !take_plain_string(body, f.text)) return false;
    if (!body.empty()) return false;
    out = f;
    return true;
}

bool BatchEncoder::batchable(std::string_view suffix, std::string_view body) const {
    if (suffix.empty()) return false;
    for (const char c : suffix) {
        if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) return false;
    }
    if (format_.encoding == Encoding::json) return true;
    ReadingFields f;
    if (!parse_reading_body(body, f)) return false;
    if (f.value_is_text) return true;
    Decimal d;
    double x;
    return plain_decimal(f.value, d) || finite_number(f.value, x);
}

void BatchEncoder::encode(std::string_view gateway, std::uint32_t epoch, std::size_t group_length,
                          const std::vector<core::StoredMessage>& messages, std::string& out) {
    std::string& plain = format_.compression == Compression::none ? out : plain_;
    if (format_.encoding == Encoding::json) {
        encode_json(gateway, epoch, group_length, messages, plain);
    } else {
        encode_cbor(gateway, epoch, group_length, messages, plain);
    }
    if (format_.compression == Compression::none) return;
    if (!compress(format_.compression, plain_, out, format_.level)) out = plain_;
}

void BatchEncoder::encode_json(std::string_view gateway, std::uint32_t epoch, std::size_t group_length,
                               const std::vector<core::StoredMessage>& messages, std::string& out) const {
    out.clear();
    out += "{\"gw\":\"";
    out += gateway;
    out += "\",\"ep\":";
    append_uint(out, epoch);
    out += ",\"batch\":[";
    bool first = true;
    for (const auto& m : messages) {
        out += first ? "{\"seq\":" : ",{\"seq\":";
        first = false;
        append_uint(out, m.seq);
        out += ",\"t\":\"";
        out += std::string_view(m.message.topic).substr(group_length + 1);
        out += '"';
        if (!m.message.body.empty()) out += ',';
        out += m.message.body;
        out += '}';
    }
    out += "]}";
}

void BatchEncoder::encode_cbor(std::string_view gateway, std::uint32_t epoch, std::size_t group_length,
                               const std::vector<core::StoredMessage>& messages, std::string& out) {
    // Pass 1: take every body apart and give each (suffix, unit) a key with the most decimals
    // any of its values has, so that every value of a key is an integer mantissa of that scale.
    keys_.clear();
    key_of_.clear();
    fields_.clear();
    for (const auto& m : messages) {
        ReadingFields f;
        (void)parse_reading_body(m.message.body, f);  // batchable() checked it
        const auto suffix = std::string_view(m.message.topic).substr(group_length + 1);
        Decimal d;
        const int decimals = !f.value_is_text && plain_decimal(f.value, d) ? d.decimals : 0;
        std::size_t k = 0;
        while (k < keys_.size() && (keys_[k].suffix != suffix || keys_[k].unit != f.unit)) ++k;
        if (k == keys_.size()) keys_.push_back({suffix, f.unit, decimals});
        keys_[k].decimals = std::max(keys_[k].decimals, decimals);
        key_of_.push_back(k);
        fields_.push_back(f);
    }
    out.clear();
    cbor_head(out, 4, 7);
    cbor_text(out, "ob1");
    cbor_text(out, gateway);
    cbor_head(out, 0, epoch);
    cbor_head(out, 0, messages.empty() ? 0 : messages.front().seq);
    cbor_head(out, 0, static_cast<std::uint64_t>(fields_.empty() ? 0 : fields_.front().ts_us));
    cbor_head(out, 4, keys_.size());
    for (const auto& k : keys_) {
        cbor_head(out, 4, 3);
        cbor_text(out, k.suffix);
        if (k.unit.empty()) out += static_cast<char>(0xf6);
        else cbor_text(out, k.unit);
        cbor_head(out, 0, static_cast<std::uint64_t>(k.decimals));
    }
    // Pass 2: the readings, each relative to the one before.
    cbor_head(out, 4, messages.size());
    std::uint64_t prev_seq = messages.empty() ? 0 : messages.front().seq;
    std::int64_t prev_ts = fields_.empty() ? 0 : fields_.front().ts_us;
    for (std::size_t i = 0; i < messages.size(); ++i) {
        const auto& f = fields_[i];
        const auto& key = keys_[key_of_[i]];
        cbor_head(out, 4, f.text.empty() ? 4 : 5);
        cbor_int(out, static_cast<std::int64_t>(messages[i].seq - prev_seq));
        cbor_int(out, f.ts_us - prev_ts);
        cbor_head(out, 0, key_of_[i]);
        prev_seq = messages[i].seq;
        prev_ts = f.ts_us;
        Decimal d;
        double x = 0;
        if (f.value_is_text) {
            cbor_text(out, f.value);
        } else if (plain_decimal(f.value, d)) {
            cbor_int(out, d.mantissa * pow10(key.decimals - d.decimals));
        } else {
            (void)finite_number(f.value, x);
            cbor_double(out, x);
        }
        if (!f.text.empty()) cbor_text(out, f.text);
    }
}

}  // namespace outpost::uplink
