#pragma once
// Where a message lives in the outbox: its row key is priority * 2^56 + seq, so the one B-tree of
// the messages table is already in delivery order (priority, then seq) and needs no second index.
// `seq` and `priority` are generated columns, read-only views of the key for people and tools.
//
// Stores written before this layout ("legacy": seq as the key, priority a column with an index
// on (priority, seq)) are converted when they are first opened for writing (see outbox_open.cpp).
#include <cstdint>

namespace outpost::outbox {

constexpr int seq_bits = 56;
constexpr std::uint64_t seq_limit = std::uint64_t{1} << seq_bits;  // seqs are below it
constexpr std::uint64_t seq_mask = seq_limit - 1;

// The key of `seq` at `priority` (0-9); seqs at or above seq_limit are clamped to it (a bound).
constexpr std::int64_t row_key(int priority, std::uint64_t seq) noexcept {
    return static_cast<std::int64_t>((static_cast<std::uint64_t>(priority) << seq_bits) + (seq < seq_limit ? seq : seq_limit));
}
constexpr std::uint64_t seq_of_key(std::int64_t key) noexcept { return static_cast<std::uint64_t>(key) & seq_mask; }
constexpr int priority_of_key(std::int64_t key) noexcept { return static_cast<int>(static_cast<std::uint64_t>(key) >> seq_bits); }

// The messages table's columns, for CREATE TABLE <name><message_columns>.
constexpr const char* message_columns = R"sql((
  key        INTEGER PRIMARY KEY,
  created_ns INTEGER NOT NULL,
  qos        INTEGER NOT NULL,
  retain     INTEGER NOT NULL,
  topic      TEXT    NOT NULL,
  body       TEXT    NOT NULL,
  crc        INTEGER,
  seq        INTEGER AS (key & 72057594037927935),
  priority   INTEGER AS (key >> 56)))sql";

// The table a conversion from the legacy layout fills before it takes the name `messages`.
constexpr const char* converting_table = "messages_converting";

}  // namespace outpost::outbox
