#pragma once
// FNV-1a, 64 bits: a fingerprint stable across builds and machines (not a cryptographic hash),
// for "is this the same file as before" questions. Continue a running hash by passing it back in.
#include <cstdint>
#include <string_view>

namespace outpost::core {

constexpr std::uint64_t fnv1a64_basis = 0xcbf29ce484222325ull;

constexpr std::uint64_t fnv1a64(std::string_view bytes, std::uint64_t hash = fnv1a64_basis) noexcept {
    for (const char c : bytes) hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
    return hash;
}

}  // namespace outpost::core
