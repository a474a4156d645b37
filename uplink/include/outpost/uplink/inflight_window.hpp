#pragma once
// The application-side in-flight window (Sans-I/O): which outbox sequence number each MQTT
// packet id carries, and how many are unacknowledged. Never hand the backlog to libmosquitto.
// A table sized for the window (twice it, a power of two), not for every packet id: 256 messages in
// flight take 8 KiB, not the 1 MiB of one slot per 16-bit id.
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

namespace outpost::uplink {

class InflightWindow {
public:
    explicit InflightWindow(std::size_t capacity);

    std::size_t capacity() const noexcept { return capacity_; }
    std::size_t size() const noexcept { return size_; }
    std::size_t room() const noexcept { return capacity_ - size_; }
    bool empty() const noexcept { return size_ == 0; }

    // Records that packet `mid` carries `seq` (its priority, for loss records, and its stored
    // size, so the outbox deletes it without reading it back).
    void add(int mid, std::uint64_t seq, std::uint8_t priority, std::uint32_t stored_bytes = 0);
    struct Entry {
        std::uint64_t seq;
        std::uint8_t priority;
        std::uint32_t stored_bytes;
    };
    // The entry `mid` carried, removing it; nullopt for a packet id not in flight (a late ack
    // from an earlier connection).
    std::optional<Entry> release(int mid);
    // Forgets everything (the connection is gone; the outbox still holds the messages).
    void clear();

private:
    struct Slot {
        std::uint64_t seq = 0;  // 0 = free; outbox sequence numbers start at 1
        std::uint32_t stored_bytes = 0;
        std::uint16_t mid = 0;
        std::uint8_t priority = 0;
    };
    // A packet's slot is its id & mask: libmosquitto hands ids out in turn, so those in flight sit
    // in distinct slots. One that finds its slot taken (a packet left unacknowledged while more than
    // the table's size went by) goes to `overflow_`.
    std::size_t capacity_;
    std::size_t size_ = 0;
    std::size_t mask_;
    std::vector<Slot> slots_;
    std::unordered_map<std::uint16_t, Slot> overflow_;
};

}  // namespace outpost::uplink
