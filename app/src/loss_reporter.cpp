#include "loss_reporter.hpp"

#include <cstdio>

#include <nlohmann/json.hpp>

namespace outpost::app {
namespace {

constexpr const char* position_key = "losses:reported";
constexpr std::size_t batch = 256;

}  // namespace

LossReporter::LossReporter(outbox::Outbox& outbox, std::string topic, std::chrono::seconds settle)
    : outbox_(outbox),
      topic_(std::move(topic)),
      settle_ns_(std::chrono::duration_cast<std::chrono::nanoseconds>(settle).count()) {}

std::string loss_body(const outbox::LossRecord& loss) {
    char ts[40];
    std::snprintf(ts, sizeof ts, "%.6f", static_cast<double>(loss.at_ns) / 1e9);
    const nlohmann::json detail = {{"reason", loss.reason}, {"priority", loss.priority}, {"count", loss.count},
                                   {"first_seq", loss.first_seq}, {"last_seq", loss.last_seq}};
    return std::string("\"ts\":") + ts + ",\"loss\":" + detail.dump();
}

std::size_t LossReporter::report(std::int64_t now_ns) {
    // Read back each time: a quarantined store starts a fresh losses table and a fresh position.
    const auto after = outbox_.position(position_key).value_or(0);
    std::size_t staged = 0;
    std::int64_t last = after;
    for (const auto& loss : outbox_.losses_after(after, batch)) {
        // Eviction and expiry records keep growing for the loss window after they are written.
        if ((loss.reason == "evicted_quota" || loss.reason == "expired_ttl") && now_ns - loss.at_ns < settle_ns_) break;
        core::Message m;
        m.topic = topic_;
        m.body = loss_body(loss);
        m.created_ns = loss.at_ns;
        m.priority = 9;
        m.qos = 1;
        outbox_.stage(std::move(m));
        last = loss.id;
        ++staged;
    }
    if (staged > 0) outbox_.set_position(position_key, last);
    return staged;
}

}  // namespace outpost::app
