#pragma once
// What the delivery state machine reads messages from: the outbox in the gateway, a fake in the
// transcript tests. Acknowledgements and discards go back as actions, not through this interface.
#include <cstddef>
#include <vector>

#include "outpost/core/message.hpp"
#include "outpost/outbox/outbox.hpp"

namespace outpost::uplink {

class MessageSource {
public:
    virtual ~MessageSource() = default;
    // Appends up to `max` messages that come after `cursor` in delivery order (priority 9 first, FIFO
    // within a priority), skipping acknowledged ones, and advances the cursor. Returns how many.
    virtual std::size_t fetch(outbox::DrainCursor& cursor, std::size_t max, std::vector<core::StoredMessage>& out) = 0;
    // Nothing is waiting to be delivered (stored or about to be).
    virtual bool empty() const = 0;
};

// The outbox as a message source.
class OutboxSource final : public MessageSource {
public:
    explicit OutboxSource(outbox::Outbox& outbox) : outbox_(outbox) {}
    std::size_t fetch(outbox::DrainCursor& cursor, std::size_t max, std::vector<core::StoredMessage>& out) override {
        return outbox_.fetch(cursor, max, out);
    }
    bool empty() const override { return outbox_.stats().rows == 0 && outbox_.staged() == 0; }

private:
    outbox::Outbox& outbox_;
};

}  // namespace outpost::uplink
