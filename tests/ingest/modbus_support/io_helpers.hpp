#pragma once
// Driving an io_context from the test thread (no second thread, so no data races on counters)
// and collecting what a master hands on.
#include <chrono>
#include <functional>
#include <map>
#include <tuple>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "modbus_values.hpp"
#include "outpost/ingest/modbus_sink.hpp"

namespace outpost::test {

// Runs `io` in slices until `done` is true or `timeout` passes; returns `done()`.
inline bool run_until(boost::asio::io_context& io, const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= end) return false;
        io.restart();
        io.run_for(std::chrono::milliseconds(10));
    }
    return true;
}
inline void run_for(boost::asio::io_context& io, std::chrono::milliseconds d) {
    io.restart();
    io.run_for(d);
}

struct BlockLog : ingest::ModbusSink {
    std::vector<core::ModbusBlock> blocks;
    std::uint64_t wrong_values = 0;
    // Blocks per (unit, table, address).
    std::map<std::tuple<int, int, int>, int> per_read;

    void on_modbus(const core::ModbusBlock& b) override {
        blocks.push_back(b);
        if (!block_matches(b)) ++wrong_values;
        ++per_read[{b.unit, static_cast<int>(b.table), b.address}];
    }
    int count(int unit) const {
        int n = 0;
        for (const auto& b : blocks) n += b.unit == unit;
        return n;
    }
};

}  // namespace outpost::test
