#pragma once
// Reading what can still be read from a damaged outbox file after it was moved aside: its
// bookkeeping (epoch, next seq, rows) and every message row that reads back with a valid checksum.
// Never throws; a file too damaged to open yields an empty result.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "outpost/core/message.hpp"

namespace outpost::outbox {

struct SalvageResult {
    std::optional<std::uint32_t> epoch;
    std::optional<std::uint64_t> next_seq;  // from the file's meta table
    std::optional<std::uint64_t> rows;      // from the file's meta table
    std::uint64_t recovered = 0;            // rows handed to the callback
    std::uint64_t bad_rows = 0;             // rows read whose checksum did not match
    std::uint64_t min_seq = 0;              // lowest and highest seq seen (0 if none)
    std::uint64_t max_seq = 0;
    bool complete = false;                  // the table read to its end without an error
    // The file's epochs table, (first seq, epoch) ascending: a row's epoch is that of the last entry
    // at or below its seq, `epoch` below the first (0: not known).
    std::vector<std::pair<std::uint64_t, std::uint32_t>> epochs;
};

// Calls `keep` for every intact row (with the row's epoch, 0 if the file knew none): in key order
// (priority, then seq), or in seq order for a file in the legacy layout (row_key.hpp); a file
// caught in its conversion has rows in both tables.
// `bookkeeping` is called once before the first row, with what the file's meta and epochs said.
SalvageResult salvage_outbox(const std::string& damaged_path,
                             const std::function<void(const SalvageResult&)>& bookkeeping,
                             const std::function<void(const core::StoredMessage&)>& keep) noexcept;

}  // namespace outpost::outbox
