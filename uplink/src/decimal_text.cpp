#include "decimal_text.hpp"

#include <charconv>
#include <limits>

namespace outpost::uplink {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Drops leading zeros, and trailing ones into the exponent; zero loses its sign.
void normalise(DecimalNumber& n) {
    const auto first = n.digits.find_first_not_of('0');
    if (first == std::string::npos) {
        n = DecimalNumber{};
        return;
    }
    n.digits.erase(0, first);
    const auto last = n.digits.find_last_not_of('0');
    n.exponent += static_cast<std::int64_t>(n.digits.size() - 1 - last);
    n.digits.resize(last + 1);
}

// Adds one to a string of decimal digits ("199" -> "200", "99" -> "100").
void increment(std::string& digits) {
    for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
        if (*it != '9') {
            ++*it;
            return;
        }
        *it = '0';
    }
    digits.insert(digits.begin(), '1');
}

}  // namespace

bool parse_decimal(std::string_view text, DecimalNumber& out) {
    out = DecimalNumber{};
    std::size_t i = 0;
    const auto n = text.size();
    if (i < n && text[i] == '-') {
        out.negative = true;
        ++i;
    }
    // Integer part: one zero, or digits without a leading zero.
    if (i >= n || !is_digit(text[i])) return false;
    const auto int_begin = i;
    if (text[i] == '0') {
        ++i;
    } else {
        while (i < n && is_digit(text[i])) ++i;
    }
    out.digits.assign(text.substr(int_begin, i - int_begin));
    std::int64_t exponent = 0;
    if (i < n && text[i] == '.') {
        const auto frac_begin = ++i;
        while (i < n && is_digit(text[i])) ++i;
        if (i == frac_begin) return false;
        out.digits.append(text.substr(frac_begin, i - frac_begin));
        exponent = -static_cast<std::int64_t>(i - frac_begin);
    }
    if (i < n && (text[i] == 'e' || text[i] == 'E')) {
        ++i;
        bool negative_exponent = false;
        if (i < n && (text[i] == '+' || text[i] == '-')) negative_exponent = text[i++] == '-';
        if (i >= n || !is_digit(text[i])) return false;
        // Saturated: past a billion the text is refused as too long anyway.
        std::int64_t e = 0;
        for (; i < n && is_digit(text[i]); ++i) {
            if (e < 1'000'000'000) e = e * 10 + (text[i] - '0');
        }
        exponent += negative_exponent ? -e : e;
    }
    if (i != n) return false;
    out.exponent = exponent;
    normalise(out);
    return true;
}

DecimalNumber decimal_from_mantissa(bool negative, std::uint64_t argument, unsigned decimals) {
    DecimalNumber n;
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, argument);
    n.digits.assign(buf, r.ptr);
    // CBOR's negative integer is -1 - argument: its magnitude is argument + 1 (up to 2^64).
    if (negative) increment(n.digits);
    n.negative = negative;
    n.exponent = -static_cast<std::int64_t>(decimals);
    normalise(n);
    return n;
}

bool decimal_from_double(double value, DecimalNumber& out) {
    // Shortest round-trip in scientific notation ("1.5e+00"), which is a JSON number's text.
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
    if (r.ec != std::errc{}) return false;
    return parse_decimal(std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)), out);
}

bool canonical_text(const DecimalNumber& n, std::string& out) {
    out.clear();
    if (n.digits.empty()) {
        out = "0";
        return true;
    }
    const auto size = static_cast<std::int64_t>(n.digits.size());
    const std::int64_t sign = n.negative ? 1 : 0;
    // Digits before the point; at or below zero, the value starts "0." and that many zeros.
    const std::int64_t point = size + n.exponent;
    std::int64_t length = 0;
    if (n.exponent >= 0)
        length = sign + point;
    else if (point > 0)
        length = sign + size + 1;
    else
        length = sign + 2 - point + size;
    if (length > static_cast<std::int64_t>(max_decimal_text)) return false;
    out.reserve(static_cast<std::size_t>(length));
    if (n.negative) out += '-';
    if (n.exponent >= 0) {
        out += n.digits;
        out.append(static_cast<std::size_t>(n.exponent), '0');
    } else if (point > 0) {
        out.append(n.digits, 0, static_cast<std::size_t>(point));
        out += '.';
        out.append(n.digits, static_cast<std::size_t>(point));
    } else {
        out += "0.";
        out.append(static_cast<std::size_t>(-point), '0');
        out += n.digits;
    }
    return true;
}

bool scaled_integer(const DecimalNumber& n, int scale, std::int64_t& out) {
    out = 0;
    if (n.digits.empty()) return true;
    // No trailing zero in the digits: a negative exponent left means a fraction.
    const std::int64_t zeros = n.exponent + scale;
    if (zeros < 0 || static_cast<std::int64_t>(n.digits.size()) + zeros > 19) return false;
    std::uint64_t magnitude = 0;
    for (const char c : n.digits) magnitude = magnitude * 10 + static_cast<std::uint64_t>(c - '0');
    for (std::int64_t i = 0; i < zeros; ++i) magnitude *= 10;  // 19 digits at most: no overflow
    constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (n.negative) {
        if (magnitude > max + 1) return false;
        out = magnitude == max + 1 ? std::numeric_limits<std::int64_t>::min() : -static_cast<std::int64_t>(magnitude);
    } else {
        if (magnitude > max) return false;
        out = static_cast<std::int64_t>(magnitude);
    }
    return true;
}

}  // namespace outpost::uplink
