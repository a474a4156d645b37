#pragma once
// Whole-payload compression for batches (payload_formats.md): a zstd frame or a zlib stream.
// Sans-I/O; never throws. Thread-safe (no shared state).
#include <cstddef>
#include <string>
#include <string_view>

namespace outpost::uplink {

enum class Compression { none, zstd, zlib };

// "none", "zstd", "zlib".
const char* to_string(Compression c) noexcept;

// Replaces `out` with `in` compressed (level: zstd 1..19, zlib 1..9; 0 = the library's default).
// False only if the library fails (out of memory); `out` is then unspecified.
bool compress(Compression c, std::string_view in, std::string& out, int level = 0);

// The compression a payload was written with, from its first bytes (none for anything else).
Compression detect_compression(std::string_view payload) noexcept;

// Replaces `out` with the inflated payload. False for a damaged stream, a truncated one, trailing
// bytes, or one that would inflate beyond `max_size` (a hostile payload cannot exhaust memory).
bool decompress(Compression c, std::string_view in, std::string& out, std::size_t max_size = 16u << 20);

}  // namespace outpost::uplink
