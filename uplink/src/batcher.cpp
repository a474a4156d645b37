#include "outpost/uplink/batcher.hpp"

#include <algorithm>

namespace outpost::uplink {
namespace {

// The length of `topic` minus its last `levels` levels; npos when it has no more than `levels`.
std::size_t group_length(std::string_view topic, int levels) {
    auto end = topic.size();
    for (int i = 0; i < levels; ++i) {
        const auto slash = topic.rfind('/', end == 0 ? 0 : end - 1);
        if (slash == std::string_view::npos || slash == 0) return std::string_view::npos;
        end = slash;
    }
    return end;
}

}  // namespace

Batcher::Batcher(BatchOptions options, std::string gateway)
    : options_(std::move(options)),
      gateway_(std::move(gateway)),
      encoder_(options_.format),
      // Enough for a full batch of a few groups at once, and never less than one fetch.
      limit_(std::max<std::size_t>(options_.max_readings * 4, 2048)) {
    options_.max_readings = std::max<std::size_t>(options_.max_readings, 1);
    options_.group_levels = std::max(options_.group_levels, 1);
}

bool Batcher::add(core::StoredMessage& m, Clock::time_point now) {
    const auto& msg = m.message;
    if (!options_.enabled || msg.priority >= options_.unbatched_from_priority ||
        (msg.retain && !options_.batch_retained)) {
        return false;
    }
    const auto glen = group_length(msg.topic, options_.group_levels);
    if (glen == std::string_view::npos) return false;
    if (!encoder_.batchable(std::string_view(msg.topic).substr(glen + 1), msg.body)) return false;

    key_.assign(msg.topic, 0, glen);
    key_ += '\x1f';
    key_ += static_cast<char>('0' + msg.priority);
    key_ += static_cast<char>('0' + msg.qos);
    key_ += std::to_string(m.epoch);
    Open* b = nullptr;
    if (const auto it = by_key_.find(key_); it != by_key_.end()) {
        b = it->second;
    } else {
        auto fresh = std::make_unique<Open>();
        fresh->key = key_;
        fresh->group_length = glen;
        fresh->priority = msg.priority;
        fresh->qos = msg.qos;
        fresh->epoch = m.epoch;
        fresh->due = now + options_.max_delay;
        b = fresh.get();
        by_key_.emplace(b->key, b);
        open_.push_back(std::move(fresh));
    }
    b->bytes += msg.topic.size() + msg.body.size();
    b->messages.push_back(std::move(m));
    ++buffered_;
    if (!b->ready && (b->messages.size() >= options_.max_readings || b->bytes >= options_.max_bytes)) make_ready(*b);
    if (buffered_ >= limit_) {
        // Too much held: the largest open batch goes now.
        Open* largest = nullptr;
        for (const auto& o : open_) {
            if (!o->ready && (!largest || o->messages.size() > largest->messages.size())) largest = o.get();
        }
        if (largest) make_ready(*largest);
    }
    return true;
}

void Batcher::make_ready(Open& b) {
    b.ready = true;
    ready_.push_back(&b);
}

void Batcher::collect_due(Clock::time_point now) {
    for (const auto& o : open_) {
        if (!o->ready && now >= o->due) make_ready(*o);
    }
}

bool Batcher::next(int lowest, EncodedBatch& out) {
    Open* best = nullptr;
    for (Open* b : ready_) {
        if (b->priority >= lowest && (!best || b->priority > best->priority)) best = b;
    }
    if (!best) return false;
    out.topic.assign(best->key, 0, best->group_length);
    out.topic += '/';
    out.topic += options_.topic_suffix;
    encoder_.encode(gateway_, best->epoch, best->group_length, best->messages, out.payload);
    out.qos = best->qos;
    out.priority = best->priority;
    out.members.clear();
    out.oldest_created_ns = best->messages.front().message.created_ns;
    for (const auto& m : best->messages) {
        out.oldest_created_ns = std::min(out.oldest_created_ns, m.message.created_ns);
        out.members.push_back({m.seq, m.message.priority,
                               static_cast<std::uint32_t>(m.message.topic.size() + m.message.body.size())});
    }
    release(best);
    return true;
}

void Batcher::release(Open* b) {
    buffered_ -= b->messages.size();
    ready_.erase(std::remove(ready_.begin(), ready_.end(), b), ready_.end());
    by_key_.erase(b->key);
    open_.erase(std::find_if(open_.begin(), open_.end(), [b](const auto& o) { return o.get() == b; }));
}

void Batcher::take_held(int lowest, std::vector<core::StoredMessage>& out) {
    std::vector<Open*> held;
    for (const auto& o : open_) {
        if (o->priority < lowest) held.push_back(o.get());
    }
    for (Open* b : held) {
        for (auto& m : b->messages) out.push_back(std::move(m));
        release(b);
    }
}

void Batcher::clear() {
    open_.clear();
    by_key_.clear();
    ready_.clear();
    buffered_ = 0;
}

Batcher::Clock::time_point Batcher::next_due() const {
    auto at = Clock::time_point::max();
    for (const auto& o : open_) {
        if (!o->ready) at = std::min(at, o->due);
    }
    return at;
}

}  // namespace outpost::uplink
