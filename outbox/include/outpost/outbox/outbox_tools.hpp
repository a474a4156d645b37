#pragma once
// Operator tools on an outbox file (`outpost outbox peek|export|purge`): read the messages waiting
// for delivery, and remove some of them with a loss record for exactly what was removed.
//
// Coexistence with a running gateway. The gateway is the store's single writer and keeps the row
// and byte counts, its drain position and the messages in flight in memory; a delete behind its
// back would falsify its quota accounting and the losses it reports. So:
// - read_messages() takes no lock and changes nothing: it reads one consistent WAL snapshot while
//   the gateway goes on writing. (A very long read holds back the gateway's WAL checkpoints: the
//   -wal file grows until the read ends.)
// - purge_messages() takes the store's lock (store_lock.hpp), the one a gateway holds while it
//   runs: with a gateway running it refuses (OutboxError, SQLITE_BUSY, naming the process) and
//   changes nothing; while it runs, a gateway refuses to start on the store. Stop the gateway,
//   purge, start it again: it continues the numbering and delivers what is left.
//
// Thread: plain blocking calls for a command-line tool; they share nothing with an Outbox object.
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "outpost/core/message.hpp"
#include "outpost/outbox/outbox.hpp"

namespace outpost::outbox {

// Which messages; every condition given must hold.
struct MessageFilter {
    std::optional<int> priority;  // 0..9
    std::uint64_t from_seq = 0;   // inclusive
    std::uint64_t to_seq = std::numeric_limits<std::int64_t>::max();  // inclusive
    std::optional<std::int64_t> created_before_ns;  // older than (system clock, ns since the epoch)
};

enum class RowCheck { ok, mismatch, unchecked };  // unchecked: a row written before rows had checksums
const char* to_string(RowCheck c) noexcept;

struct PeekedMessage {
    core::StoredMessage stored;
    RowCheck check = RowCheck::ok;
};

// Calls `each` for the stored messages that match, in delivery order (priority 9 first, FIFO
// within a priority: the order the gateway publishes them), until it returns false; returns how
// many it was given. Memory stays bounded whatever the store holds (rows are streamed).
// Throws OutboxError if the file is missing or cannot be read.
std::uint64_t read_messages(const std::string& path, const MessageFilter& filter,
                            const std::function<bool(const PeekedMessage&)>& each);

struct PurgeResult {
    std::uint64_t removed = 0;
    std::uint64_t bytes = 0;  // topic plus body of what was removed
    // Written to the losses table with reason "purged", one per priority that lost messages:
    // its count is exactly the messages removed at that priority, first_seq and last_seq the
    // lowest and highest of them. With `dry_run`, what would be written.
    std::vector<LossRecord> records;
};

// Removes the matching messages and writes their loss records in one transaction (or, with
// `dry_run`, only counts them). Throws OutboxError: SQLITE_BUSY while a gateway (or another purge)
// holds the store; another code if the file is missing or cannot be written.
PurgeResult purge_messages(const std::string& path, const MessageFilter& filter, bool dry_run);

}  // namespace outpost::outbox
