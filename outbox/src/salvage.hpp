#pragma once
// Reading what can still be read from a damaged outbox file after it was moved aside: its
// bookkeeping (epoch, next seq, rows) and every message row that reads back with a valid checksum.
// Never throws; a file too damaged to open yields an empty result.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

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
};

// Calls `keep` for every intact row in seq order (with the row's epoch, if the file knew one).
SalvageResult salvage_outbox(const std::string& damaged_path,
                             const std::function<void(const core::StoredMessage&)>& keep) noexcept;

}  // namespace outpost::outbox
