#pragma once
// Loss records go to the cloud as messages: each record the outbox writes (eviction, expiry,
// quarantine, a message the broker refused...) is staged as a priority-9 message on
// `<status_topic>/loss`, so it survives outages and restarts like a reading and carries a sequence
// number of its own. Where the reporter got to is an outbox position, committed in the same
// transaction as the messages it staged: a crash neither repeats nor skips a record.
//   {"gw":"bess-01","ep":7,"seq":912,"ts":1700000001.500000,
//    "loss":{"reason":"evicted_quota","priority":2,"count":100,"first_seq":5,"last_seq":104}}
// An eviction or expiry record grows for the outbox's loss window after it is written; it is
// reported once it has settled (twice that window after it was written).
#include <chrono>
#include <cstdint>
#include <string>

#include "outpost/outbox/outbox.hpp"

namespace outpost::app {

class LossReporter {
public:
    // `settle`: how long after it was written an eviction or expiry record no longer changes.
    LossReporter(outbox::Outbox& outbox, std::string topic, std::chrono::seconds settle);
    // Stages a message for every settled record not reported yet; returns how many. `now_ns` is
    // wall-clock time (records carry wall-clock times).
    std::size_t report(std::int64_t now_ns);

private:
    outbox::Outbox& outbox_;
    std::string topic_;
    std::int64_t settle_ns_;
};

// The body (JSON members without braces) of a loss record's message.
std::string loss_body(const outbox::LossRecord& loss);

}  // namespace outpost::app
