#pragma once
// How the outbox counts the bytes a row takes: topic plus body plus a fixed overhead (rowid,
// columns and index entry, roughly). The quota and the stored `bytes` count use it.
#include <cstdint>

namespace outpost::outbox {

constexpr std::uint64_t row_overhead = 40;

}  // namespace outpost::outbox
