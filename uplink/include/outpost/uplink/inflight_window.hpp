#pragma once
// The application-side in-flight window (Sans-I/O): which outbox sequence number each MQTT
// packet id carries, and how many are unacknowledged. Never hand the backlog to libmosquitto.
#include <cstdint>
#include <optional>
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
        std::uint8_t priority = 0;
        std::uint32_t stored_bytes = 0;
    };
    std::size_t capacity_;
    std::size_t size_ = 0;
    std::vector<Slot> slots_;  // indexed by MQTT packet id (1..65535)
};

}  // namespace outpost::uplink
