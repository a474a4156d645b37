#pragma once
// What the delivery state machine reads messages from: the outbox in the gateway, a fake in the
// transcript tests. Acknowledgements and discards go back as actions, not through this interface.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "outpost/core/message.hpp"
#include "outpost/outbox/outbox.hpp"

namespace outpost::uplink {

class MessageSource {
public:
    virtual ~MessageSource() = default;
    // Appends up to `max` messages that come after `cursor` in delivery order (priority 9 first, down
    // to cursor.lowest_priority; within a priority FIFO, or with cursor.live_from set, the live
    // readings FIFO before the backlog FIFO), skipping acknowledged ones, and advances the cursor.
    // Returns how many.
    virtual std::size_t fetch(outbox::DrainCursor& cursor, std::size_t max, std::vector<core::StoredMessage>& out) = 0;
    // Nothing is waiting to be delivered (stored or about to be).
    virtual bool empty() const = 0;
    // Changes whenever messages may have become fetchable (a commit, a salvage...): once a fetch
    // found nothing, the machine fetches again only after this changed (or OutboxChanged).
    virtual std::uint64_t version() const = 0;
    // The sequence number the next accepted reading will get: readings from then on count as live.
    virtual std::uint64_t next_seq() const = 0;
    // Too many acknowledgements wait to be written: fetch no more until the next OutboxChanged.
    virtual bool congested() const { return false; }
};

// The outbox as a message source.
class OutboxSource final : public MessageSource {
public:
    explicit OutboxSource(outbox::Outbox& outbox) : outbox_(outbox) {}
    std::size_t fetch(outbox::DrainCursor& cursor, std::size_t max, std::vector<core::StoredMessage>& out) override {
        return outbox_.fetch(cursor, max, out);
    }
    bool empty() const override { return outbox_.stats().rows == 0 && outbox_.staged() == 0; }
    std::uint64_t version() const override {
        // Commits, salvaged rows, a fresh store, and (in memory-only mode) staging make rows fetchable.
        const auto& s = outbox_.stats();
        std::uint64_t v = s.committed;
        for (const std::uint64_t x : {s.salvaged, s.quarantines, s.memory_only ? s.staged : 0}) v = v * 1'000'003 + x;
        return v;
    }
    std::uint64_t next_seq() const override { return outbox_.stats().next_seq; }
    // A batched drain can acknowledge faster than one commit deletes: bound what waits in memory
    // (16 bytes an acknowledgement, in the commit on its way and waiting for the next: 1 MB at
    // most). The bound counts the acknowledgements the running commit deletes, so it must leave
    // room for those the drain makes meanwhile: at 32,768 the drain of a large backlog stopped for
    // part of every commit (the io thread idle 0.29 of the time, 0.8-0.95M readings/s).
    static constexpr std::size_t max_pending_acks = 65'536;
    bool congested() const override { return outbox_.pending_acks() >= max_pending_acks; }

private:
    outbox::Outbox& outbox_;
};

}  // namespace outpost::uplink
