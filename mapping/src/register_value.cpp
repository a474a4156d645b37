#include "outpost/mapping/register_value.hpp"

#include <bit>

namespace outpost::mapping {
namespace {

bool swaps_bytes(WordOrder order) noexcept {
    return order == WordOrder::badc || order == WordOrder::dcba;
}
bool swaps_words(WordOrder order) noexcept {
    return order == WordOrder::cdab || order == WordOrder::dcba;
}

}  // namespace

std::optional<std::uint64_t> read_register_raw(std::span<const std::uint8_t> data, std::size_t first, unsigned words,
                                               WordOrder order) noexcept {
    if (words == 0 || words > 4 || first > data.size() / 2 || data.size() / 2 - first < words) return std::nullopt;
    std::uint64_t raw = 0;
    for (unsigned w = 0; w < words; ++w) {
        // w counts from the most significant word of the value.
        const std::size_t wire = first + (swaps_words(order) ? words - 1 - w : w);
        const std::uint8_t hi = data[2 * wire];
        const std::uint8_t lo = data[2 * wire + 1];
        const auto word = swaps_bytes(order) ? static_cast<std::uint64_t>(lo) << 8 | hi
                                             : static_cast<std::uint64_t>(hi) << 8 | lo;
        raw = raw << 16 | word;
    }
    return raw;
}

std::optional<double> decode_register(const RegisterSpec& spec, std::span<const std::uint8_t> data,
                                      std::size_t first) noexcept {
    double value = 0;
    if (core::is_bit_table(spec.table)) {
        if (first / 8 >= data.size()) return std::nullopt;
        value = (data[first / 8] >> (first % 8)) & 1U;
        return value * spec.factor + spec.offset;
    }
    if (spec.type == RegisterType::string) return std::nullopt;
    const unsigned words = register_count(spec);
    const auto raw = read_register_raw(data, first, words, spec.order);
    if (!raw) return std::nullopt;
    if (spec.bit >= 0) {
        value = static_cast<double>((*raw >> static_cast<unsigned>(spec.bit)) & 1U);
        return value * spec.factor + spec.offset;
    }
    switch (spec.type) {
        case RegisterType::boolean:  // a bool in a register table always names a bit; be safe
            value = *raw != 0 ? 1 : 0;
            break;
        case RegisterType::u16:
        case RegisterType::u32:
        case RegisterType::u64:
            value = static_cast<double>(*raw);
            break;
        case RegisterType::i16:
            value = static_cast<std::int16_t>(static_cast<std::uint16_t>(*raw));
            break;
        case RegisterType::i32:
            value = static_cast<std::int32_t>(static_cast<std::uint32_t>(*raw));
            break;
        case RegisterType::i64:
            value = static_cast<double>(static_cast<std::int64_t>(*raw));
            break;
        case RegisterType::f32:
            value = static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(*raw)));
            break;
        case RegisterType::f64:
            value = std::bit_cast<double>(*raw);
            break;
        case RegisterType::string:
            return std::nullopt;
    }
    return value * spec.factor + spec.offset;
}

std::optional<std::string_view> decode_register_text(const RegisterSpec& spec, std::span<const std::uint8_t> data,
                                                     std::size_t first, RegisterText& buffer) noexcept {
    if (spec.type != RegisterType::string || core::is_bit_table(spec.table)) return std::nullopt;
    const std::size_t words = spec.length;
    if (words == 0 || words * 2 > buffer.size() || first > data.size() / 2 || data.size() / 2 - first < words) {
        return std::nullopt;
    }
    const bool low_first = swaps_bytes(spec.order);
    std::size_t n = 0;
    for (std::size_t i = 0; i < words * 2; ++i) {
        const std::size_t byte = 2 * first + (low_first ? (i ^ 1U) : i);
        const auto c = data[byte];
        if (c == 0) break;
        buffer[n++] = (c >= 0x20 && c < 0x7F) ? static_cast<char>(c) : '?';
    }
    while (n > 0 && buffer[n - 1] == ' ') --n;
    return std::string_view(buffer.data(), n);
}

}  // namespace outpost::mapping
