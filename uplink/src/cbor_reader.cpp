#include "cbor_reader.hpp"

#include <bit>
#include <cmath>

namespace outpost::uplink {

namespace {

constexpr std::uint8_t major_unsigned = 0, major_negative = 1, major_text = 3, major_array = 4, major_simple = 7;
constexpr std::uint8_t simple_null = 22, float16 = 25, float32 = 26, float64 = 27;

std::uint8_t byte_at(std::string_view s, std::size_t i) { return static_cast<std::uint8_t>(s[i]); }

// IEEE 754 binary16 to double: every half is exactly a double.
double half_to_double(std::uint16_t h) {
    const int exponent = (h >> 10) & 0x1F;
    const int fraction = h & 0x3FF;
    double magnitude = 0;
    if (exponent == 0)
        magnitude = std::ldexp(fraction, -24);
    else if (exponent == 31)
        magnitude = fraction == 0 ? HUGE_VAL : NAN;
    else
        magnitude = std::ldexp(fraction + 1024, exponent - 25);
    return (h & 0x8000) ? -magnitude : magnitude;
}

}  // namespace

bool valid_utf8(std::string_view text) noexcept {
    std::size_t i = 0;
    const auto n = text.size();
    while (i < n) {
        const auto b = byte_at(text, i);
        if (b < 0x80) {
            ++i;
            continue;
        }
        std::size_t extra = 0;
        std::uint8_t low = 0x80, high = 0xBF;  // the range of the second byte
        if (b >= 0xC2 && b <= 0xDF) {
            extra = 1;
        } else if (b >= 0xE0 && b <= 0xEF) {
            extra = 2;
            if (b == 0xE0) low = 0xA0;   // overlong
            if (b == 0xED) high = 0x9F;  // surrogates
        } else if (b >= 0xF0 && b <= 0xF4) {
            extra = 3;
            if (b == 0xF0) low = 0x90;   // overlong
            if (b == 0xF4) high = 0x8F;  // above U+10FFFF
        } else {
            return false;
        }
        if (n - i <= extra) return false;
        const auto second = byte_at(text, i + 1);
        if (second < low || second > high) return false;
        for (std::size_t k = 2; k <= extra; ++k) {
            if ((byte_at(text, i + k) & 0xC0) != 0x80) return false;
        }
        i += extra + 1;
    }
    return true;
}

bool CborReader::head(Head& h) const noexcept {
    if (pos_ >= in_.size()) return false;
    const auto initial = byte_at(in_, pos_);
    h.major = static_cast<std::uint8_t>(initial >> 5);
    h.info = static_cast<std::uint8_t>(initial & 0x1F);
    if (h.info < 24) {
        h.argument = h.info;
        h.size = 1;
        return true;
    }
    if (h.info > 27) return false;  // reserved, or an indefinite length
    const std::size_t bytes = std::size_t{1} << (h.info - 24);
    if (remaining() < 1 + bytes) return false;
    h.argument = 0;
    for (std::size_t k = 0; k < bytes; ++k) h.argument = (h.argument << 8) | byte_at(in_, pos_ + 1 + k);
    h.size = 1 + bytes;
    return true;
}

CborReader::Kind CborReader::peek() const noexcept {
    if (pos_ >= in_.size()) return Kind::end;
    Head h;
    if (!head(h)) return Kind::other;
    switch (h.major) {
        case major_unsigned:
            return Kind::unsigned_integer;
        case major_negative:
            return Kind::negative_integer;
        case major_text:
            return Kind::text;
        case major_array:
            return Kind::array;
        case major_simple:
            if (h.info == simple_null) return Kind::null;
            if (h.info >= float16 && h.info <= float64) return Kind::floating;
            return Kind::other;
        default:
            return Kind::other;
    }
}

bool CborReader::read_unsigned(std::uint64_t& value) noexcept {
    Head h;
    if (!head(h) || h.major != major_unsigned) return false;
    value = h.argument;
    pos_ += h.size;
    return true;
}

bool CborReader::read_integer(bool& negative, std::uint64_t& argument) noexcept {
    Head h;
    if (!head(h) || (h.major != major_unsigned && h.major != major_negative)) return false;
    negative = h.major == major_negative;
    argument = h.argument;
    pos_ += h.size;
    return true;
}

bool CborReader::read_text(std::string_view& text) noexcept {
    Head h;
    if (!head(h) || h.major != major_text || h.argument > remaining() - h.size) return false;
    const auto body = in_.substr(pos_ + h.size, static_cast<std::size_t>(h.argument));
    if (!valid_utf8(body)) return false;
    text = body;
    pos_ += h.size + body.size();
    return true;
}

bool CborReader::read_array(std::uint64_t& count) noexcept {
    Head h;
    if (!head(h) || h.major != major_array || h.argument > remaining() - h.size) return false;
    count = h.argument;
    pos_ += h.size;
    return true;
}

bool CborReader::read_null() noexcept {
    if (peek() != Kind::null) return false;
    ++pos_;
    return true;
}

bool CborReader::read_float(double& value) noexcept {
    Head h;
    if (!head(h) || h.major != major_simple || h.info < float16 || h.info > float64) return false;
    if (h.info == float16)
        value = half_to_double(static_cast<std::uint16_t>(h.argument));
    else if (h.info == float32)
        value = std::bit_cast<float>(static_cast<std::uint32_t>(h.argument));
    else
        value = std::bit_cast<double>(h.argument);
    pos_ += h.size;
    return true;
}

}  // namespace outpost::uplink
