#pragma once
// A small durable file kept beside the outbox (`.<name>.seq` in the same directory) that remembers
// the sequence numbers already handed out, so that no seq is handed out twice whatever happens to
// the outbox file (damaged, truncated, deleted, rolled back by a lost `-wal`).
//
// It is written and fsync'd before every commit that makes new sequence numbers durable, in one of
// two slots taken in turn, each with its own checksum: a write torn by a power cut leaves the
// other slot intact. Reading takes the valid slot with the higher generation.
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>

namespace outpost::outbox {

struct SeqMark {
    std::uint32_t epoch = 0;    // the epoch of the store the numbers were handed out in
    std::uint64_t next_seq = 1;  // every seq below this may have been accepted
    std::uint64_t rows = 0;      // rows the store held after that commit (for loss estimates)
    // The store's own next_seq before that commit: what it holds for certain if the commit did
    // not complete (a crash in between). 0 when unknown (a marker written by an older version).
    std::uint64_t committed_next_seq = 0;
};

class SeqMarker {
public:
    // Opens (creating with mode 0600 if needed) the marker for the outbox at `outbox_path`.
    // Throws OutboxError if the file cannot be opened or created.
    explicit SeqMarker(const std::string& outbox_path);
    ~SeqMarker();
    SeqMarker(const SeqMarker&) = delete;
    SeqMarker& operator=(const SeqMarker&) = delete;

    // What the file held when it was opened: nothing for a new (or unreadable) marker.
    const std::optional<SeqMark>& previous() const noexcept { return previous_; }
    // True if the file existed when opened.
    bool existed() const noexcept { return existed_; }

    // Writes `mark` into the next slot and waits for it to reach the disk.
    std::error_code write(const SeqMark& mark) noexcept;
    const std::string& path() const noexcept { return path_; }

    static std::string path_for(const std::string& outbox_path);
    // Reads a marker without opening it for writing (for `outpost outbox stats`).
    static std::optional<SeqMark> read(const std::string& outbox_path);

private:
    std::string path_;
    int fd_ = -1;
    bool existed_ = false;
    std::optional<SeqMark> previous_;
    std::uint64_t generation_ = 0;
};

}  // namespace outpost::outbox
