#pragma once
// A reading as the outbox tests stage it: topic "site/t", taken at 42 ns.
#include <cstdint>
#include <string>
#include <utility>

#include "outpost/core/message.hpp"

namespace outpost::test {

inline core::Message site_reading(std::uint8_t priority, std::string body = std::string(100, 'v')) {
    core::Message m;
    m.topic = "site/t";
    m.body = std::move(body);
    m.priority = priority;
    m.created_ns = 42;
    return m;
}

}  // namespace outpost::test
