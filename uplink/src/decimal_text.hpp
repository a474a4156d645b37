#pragma once
// Numbers as exact decimals, and their canonical text: no exponent, no superfluous zero, no sign on
// zero ("3.31", "-0.5", "12", "0.05", "0.0000001"). Both batch decoders give every number this
// text, so a reading reads the same whatever format carried it: a JSON number from its own text, a
// compact integer mantissa from its digits, a float from its shortest round-trip digits. Integer
// arithmetic on digits throughout, never a division in binary floating point. Never throws but
// std::bad_alloc; thread-safe (no state).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace outpost::uplink {

// The longest canonical text accepted, sign included (a double never needs more than 326).
inline constexpr std::size_t max_decimal_text = 400;

// value = (negative ? -1 : 1) * digits * 10^exponent. `digits` has no leading and no trailing zero;
// it is empty for zero (which is never negative).
struct DecimalNumber {
    bool negative = false;
    std::string digits;
    std::int64_t exponent = 0;
};

// A JSON number's text (RFC 8259: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?). False for anything else.
bool parse_decimal(std::string_view text, DecimalNumber& out);

// The compact form's integer: `argument` as CBOR carries it (the value is -1 - argument for a
// negative integer), divided by 10^decimals.
DecimalNumber decimal_from_mantissa(bool negative, std::uint64_t argument, unsigned decimals);

// A finite double's shortest round-trip digits. False for NaN and the infinities.
bool decimal_from_double(double value, DecimalNumber& out);

// The canonical text. False when it would be longer than max_decimal_text.
bool canonical_text(const DecimalNumber& n, std::string& out);

// n * 10^scale, when that is an integer that fits (seconds with 6 decimals -> microseconds: scale 6).
bool scaled_integer(const DecimalNumber& n, int scale, std::int64_t& out);

}  // namespace outpost::uplink
