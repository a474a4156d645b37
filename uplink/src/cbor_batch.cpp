// The compact batch: ["ob1", gw, ep, seq0, ts0, [[suffix, unit|null, decimals],...],
// [[dseq, dts, key, value(, text)],...]], read item by item with CborReader (no tree is built).
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "batch_formats.hpp"
#include "cbor_reader.hpp"
#include "decimal_text.hpp"

namespace outpost::uplink {

namespace {

struct Key {
    std::string_view suffix;
    std::string_view unit;  // empty for null
    unsigned decimals = 0;
};

// seq + (a CBOR integer): false below 1 or past 2^64-1.
bool step_seq(std::uint64_t& seq, bool negative, std::uint64_t argument) {
    if (!negative) {
        if (argument > std::numeric_limits<std::uint64_t>::max() - seq) return false;
        seq += argument;
    } else {
        // seq - (argument + 1) >= 1, without computing argument + 1 (it may be 2^64).
        if (seq < 2 || argument > seq - 2) return false;
        seq -= argument + 1;
    }
    return seq >= 1;
}

// ts + (a CBOR integer): false past the 64-bit range.
bool step_ts(std::int64_t& ts, bool negative, std::uint64_t argument) {
    constexpr auto max = std::numeric_limits<std::int64_t>::max();
    if (!negative) {
        // Room above ts, as an unsigned (ts may be negative).
        const auto room = static_cast<std::uint64_t>(max) - static_cast<std::uint64_t>(ts);
        if (argument > room) return false;
        ts = static_cast<std::int64_t>(static_cast<std::uint64_t>(ts) + argument);
    } else {
        // ts - 1 - argument >= INT64_MIN: room below ts is ts - INT64_MIN = ts + 2^63.
        const auto room = static_cast<std::uint64_t>(ts) + (static_cast<std::uint64_t>(max) + 1);
        if (argument >= room) return false;
        ts = static_cast<std::int64_t>(static_cast<std::uint64_t>(ts) - argument - 1);
    }
    return true;
}

bool read_keys(CborReader& in, std::vector<Key>& keys, BatchOutput& out) {
    std::uint64_t count = 0;
    if (!in.read_array(count)) return out.fail("item 5 (keys) is not an array");
    // One key per distinct suffix and unit: never more than there are readings.
    if (count > max_batch_readings) return out.fail("more keys than a batch can have readings");
    for (std::uint64_t i = 0; i < count; ++i) {
        const auto where = "key " + std::to_string(i) + ": ";
        std::uint64_t size = 0;
        Key k;
        std::uint64_t decimals = 0;
        if (!in.read_array(size) || size != 3) return out.fail(where + "not an array of 3 items");
        if (!in.read_text(k.suffix) || k.suffix.empty()) return out.fail(where + "the suffix is not a non-empty text");
        if (!in.read_null() && !in.read_text(k.unit)) return out.fail(where + "the unit is neither text nor null");
        if (!in.read_unsigned(decimals) || decimals > max_batch_decimals) {
            return out.fail(where + "decimals is not an unsigned integer up to " + std::to_string(max_batch_decimals));
        }
        k.decimals = static_cast<unsigned>(decimals);
        keys.push_back(k);
    }
    return true;
}

// The value of a reading: an integer mantissa of its key's decimals, a float, or a text.
bool read_value(CborReader& in, const Key& key, DecodedReading& r, std::string& why) {
    switch (in.peek()) {
        case CborReader::Kind::unsigned_integer:
        case CborReader::Kind::negative_integer: {
            bool negative = false;
            std::uint64_t argument = 0;
            in.read_integer(negative, argument);
            canonical_text(decimal_from_mantissa(negative, argument, key.decimals), r.value);
            return true;  // 20 digits and 20 decimals at most: always short enough
        }
        case CborReader::Kind::floating: {
            double value = 0;
            in.read_float(value);
            DecimalNumber n;
            if (!std::isfinite(value) || !decimal_from_double(value, n) || !canonical_text(n, r.value)) {
                why = "the value is not a finite number";
                return false;
            }
            return true;
        }
        case CborReader::Kind::text: {
            std::string_view text;
            if (!in.read_text(text)) break;
            r.value.assign(text);
            r.value_is_text = true;
            return true;
        }
        default:
            break;
    }
    why = "the value is not an integer, a float or a valid text";
    return false;
}

}  // namespace

bool decode_cbor_batch(std::string_view doc, BatchOutput& out) {
    CborReader in(doc);
    std::uint64_t items = 0;
    std::string_view marker, gw;
    std::uint64_t ep = 0, seq = 0, ts0 = 0;
    if (!in.read_array(items) || items != 7) return out.fail("not a CBOR array of 7 items");
    if (!in.read_text(marker) || marker != "ob1") return out.fail("item 0 is not the format marker \"ob1\"");
    if (!in.read_text(gw) || gw.empty()) return out.fail("item 1 (gw) is not a non-empty text");
    out.gateway(gw);
    if (!in.read_unsigned(ep) || ep > std::numeric_limits<std::uint32_t>::max()) {
        return out.fail("item 2 (ep) is not an unsigned 32-bit integer");
    }
    if (!in.read_unsigned(seq)) return out.fail("item 3 (seq0) is not an unsigned integer");
    if (!in.read_unsigned(ts0) || ts0 > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return out.fail("item 4 (ts0) is not an unsigned 63-bit integer");
    }
    std::vector<Key> keys;
    if (!read_keys(in, keys, out)) return false;

    std::uint64_t count = 0;
    if (!in.read_array(count)) return out.fail("item 6 (readings) is not an array");
    if (!out.expect(count)) return false;
    auto ts = static_cast<std::int64_t>(ts0);
    std::string why;
    for (std::size_t i = 0; i < count; ++i) {
        std::uint64_t size = 0;
        bool negative = false;
        std::uint64_t argument = 0;
        std::uint64_t key = 0;
        if (!in.read_array(size) || (size != 4 && size != 5))
            return out.fail_reading(i, "not an array of 4 or 5 items");
        if (!in.read_integer(negative, argument)) return out.fail_reading(i, "dseq is not an integer");
        if (!step_seq(seq, negative, argument)) return out.fail_reading(i, "its seq goes below 1 or past 2^64-1");
        if (!in.read_integer(negative, argument)) return out.fail_reading(i, "dts is not an integer");
        if (!step_ts(ts, negative, argument)) return out.fail_reading(i, "its timestamp goes past 64 bits");
        if (!in.read_unsigned(key)) return out.fail_reading(i, "the key is not an unsigned integer");
        if (key >= keys.size()) {
            return out.fail_reading(
                i, "key " + std::to_string(key) + " is out of range (" + std::to_string(keys.size()) + " keys)");
        }
        const auto& k = keys[static_cast<std::size_t>(key)];
        DecodedReading r;
        if (!read_value(in, k, r, why)) return out.fail_reading(i, why);
        if (size == 5) {
            std::string_view text;
            if (!in.read_text(text)) return out.fail_reading(i, "the text (item 4) is not a valid text");
            r.text.assign(text);
        }
        r.gw.assign(gw);
        r.ep = static_cast<std::uint32_t>(ep);
        r.seq = seq;
        r.ts_us = ts;
        r.unit.assign(k.unit);
        if (!out.add(std::move(r), k.suffix)) return false;
    }
    if (in.remaining() != 0) {
        return out.fail(std::to_string(in.remaining()) + " trailing byte(s) after the CBOR item");
    }
    return true;
}

}  // namespace outpost::uplink
