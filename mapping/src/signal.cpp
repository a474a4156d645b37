#include "outpost/mapping/signal.hpp"

#include <bit>
#include <cstring>

namespace outpost::mapping {
namespace {

constexpr std::uint64_t low_mask(unsigned n) noexcept {
    return n >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << n) - 1;
}

}  // namespace

std::size_t bytes_needed(const SignalSpec& spec) noexcept {
    if (spec.length == 0 || spec.length > 64) return 0;
    if (spec.byte_order == ByteOrder::intel) {
        return (static_cast<std::size_t>(spec.start_bit) + spec.length - 1) / 8 + 1;
    }
    // Motorola: the bits left in the start byte are (start_bit % 8) + 1; the rest fill whole
    // following bytes.
    const unsigned first = spec.start_bit % 8 + 1u;
    const std::size_t start_byte = spec.start_bit / 8;
    if (spec.length <= first) return start_byte + 1;
    return start_byte + 1 + (spec.length - first + 7) / 8;
}

std::optional<std::uint64_t> extract_raw(const SignalSpec& spec, std::span<const std::uint8_t> data) noexcept {
    const std::size_t need = bytes_needed(spec);
    if (need == 0 || need > data.size()) return std::nullopt;
    std::uint64_t raw = 0;
    unsigned remaining = spec.length;
    std::size_t byte = spec.start_bit / 8;
    unsigned bit = spec.start_bit % 8;
    if (spec.byte_order == ByteOrder::intel) {
        unsigned got = 0;
        while (remaining > 0) {
            const unsigned n = std::min(8u - bit, remaining);
            const std::uint64_t chunk = (data[byte] >> bit) & low_mask(n);
            raw |= chunk << got;
            got += n;
            remaining -= n;
            ++byte;
            bit = 0;
        }
    } else {
        while (remaining > 0) {
            // Bits `bit` down to 0 of this byte, most significant first.
            const unsigned n = std::min(bit + 1, remaining);
            const std::uint64_t chunk = (data[byte] >> (bit + 1 - n)) & low_mask(n);
            raw = (n >= 64 ? 0 : raw << n) | chunk;
            remaining -= n;
            ++byte;
            bit = 7;
        }
    }
    return raw;
}

std::optional<double> decode_signal(const SignalSpec& spec, std::span<const std::uint8_t> data) noexcept {
    const auto raw = extract_raw(spec, data);
    if (!raw) return std::nullopt;
    double value = 0;
    switch (spec.type) {
        case ValueType::unsigned_int:
            value = static_cast<double>(*raw);
            break;
        case ValueType::signed_int: {
            const unsigned n = spec.length;
            std::uint64_t v = *raw;
            if (n < 64 && (v >> (n - 1)) & 1U) v |= ~low_mask(n);  // sign-extend
            value = static_cast<double>(static_cast<std::int64_t>(v));
            break;
        }
        case ValueType::ieee_float: {
            if (spec.length != 32) return std::nullopt;
            const auto bits = static_cast<std::uint32_t>(*raw);
            value = static_cast<double>(std::bit_cast<float>(bits));
            break;
        }
        case ValueType::ieee_double:
            if (spec.length != 64) return std::nullopt;
            value = std::bit_cast<double>(*raw);
            break;
    }
    return value * spec.factor + spec.offset;
}

}  // namespace outpost::mapping
