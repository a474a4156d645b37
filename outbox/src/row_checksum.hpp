#pragma once
// A checksum stored with every message row, checked before the row is published: SQLite finds
// damaged pages, but not a page that reads as valid with different bytes in it.
#include <cstdint>
#include <string_view>

namespace outpost::outbox {

// CRC-32C (Castagnoli) of `data`, continuing from `crc` (0 to start): with the CPU's instruction
// where there is one (x86-64 with SSE 4.2), tables otherwise.
std::uint32_t crc32c(std::uint32_t crc, std::string_view data) noexcept;
// The same with tables only, and whether crc32c() uses the instruction (for tests).
std::uint32_t crc32c_portable(std::uint32_t crc, std::string_view data) noexcept;
bool crc32c_in_hardware() noexcept;

struct RowFields {
    std::uint64_t seq = 0;
    int priority = 0;
    std::int64_t created_ns = 0;
    int qos = 0;
    bool retain = false;
    std::string_view topic;
    std::string_view body;
};

// The checksum of everything a row says about its message, the sequence number included, so
// a row moved under another seq does not check.
std::uint32_t row_checksum(const RowFields& row) noexcept;

}  // namespace outpost::outbox
