#pragma once
// Internal to the Modbus shells: I/O with deadlines (an operation raced against a steady_timer,
// as Boost 1.81 offers it) and one request/response transaction over any Asio stream with either
// framer. Everything runs on the io_context's thread.
#include <array>
#include <chrono>
#include <cstdint>
#include <span>
#include <tuple>
#include <type_traits>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "outpost/core/wall_clock.hpp"
#include "outpost/core/modbus_block.hpp"
#include "outpost/ingest/modbus/modbus_outcome.hpp"
#include "outpost/ingest/modbus/modbus_stats.hpp"
#include "outpost/ingest/modbus/pdu.hpp"

namespace outpost::ingest::detail {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

using core::wall_clock_ns;

struct ReadSome {
    boost::system::error_code ec;  // asio::error::timed_out when the deadline came first
    std::size_t n = 0;
};

// Reads what is available (at least one byte) before `deadline`.
template <class Stream>
asio::awaitable<ReadSome> read_some_until(Stream& stream, asio::steady_timer& timer, asio::mutable_buffer buffer,
                                          steady::time_point deadline) {
    timer.expires_at(deadline);
    auto [order, read_ec, n, timer_ec] = co_await asio::experimental::make_parallel_group(
        stream.async_read_some(buffer, asio::deferred), timer.async_wait(asio::deferred))
        .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    (void)timer_ec;
    // Bytes that made it in before the cancellation count, whichever finished first.
    if (n > 0) co_return ReadSome{{}, n};
    if (order[0] == 1) co_return ReadSome{asio::error::timed_out, 0};
    co_return ReadSome{read_ec ? read_ec : asio::error::eof, 0};
}

// Writes all of `bytes` before `deadline`.
template <class Stream>
asio::awaitable<boost::system::error_code> write_until(Stream& stream, asio::steady_timer& timer,
                                                       std::span<const std::uint8_t> bytes, steady::time_point deadline) {
    timer.expires_at(deadline);
    auto [order, write_ec, n, timer_ec] = co_await asio::experimental::make_parallel_group(
        asio::async_write(stream, asio::buffer(bytes.data(), bytes.size()), asio::deferred),
        timer.async_wait(asio::deferred))
        .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    (void)timer_ec;
    if (n == bytes.size()) co_return boost::system::error_code{};
    if (order[0] == 1) co_return boost::system::error_code(asio::error::timed_out);
    co_return write_ec ? write_ec : boost::system::error_code(asio::error::eof);
}

// Sleeps until `when` (returns early with operation_aborted when the timer is cancelled).
inline asio::awaitable<void> sleep_until(asio::steady_timer& timer, steady::time_point when) {
    timer.expires_at(when);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

struct Transaction {
    ModbusOutcome outcome = ModbusOutcome::timeout;
    ModbusException exception{};
    bool io_failed = false;      // the stream failed: reconnect / reopen
    bool desync = false;         // the byte stream lost its framing (MBAP): reconnect
    bool extra_bytes = false;    // bytes followed the frame: drain before the next request
    std::int64_t response_ns = 0;
};

// Sends the request the framer encoded for `read`, then collects the response: the first byte
// before `first_byte_deadline`, each later chunk within `inter_byte` of the previous one.
// On ok, fills `block` (bus and timestamp included).
template <class Stream, class Framer>
asio::awaitable<Transaction> transact(Stream& stream, asio::steady_timer& timer, Framer& framer, const ModbusRead& read,
                                      std::chrono::nanoseconds first_byte_timeout, std::chrono::nanoseconds on_wire,
                                      std::chrono::nanoseconds inter_byte, std::uint16_t bus, ModbusLineStats& stats,
                                      core::ModbusBlock& block) {
    Transaction t;
    const auto request = framer.begin(read);
    const auto write_ec = co_await write_until(stream, timer, request, steady::now() + on_wire + std::chrono::seconds{1});
    if (write_ec) {
        t.outcome = ModbusOutcome::io_error;
        t.io_failed = true;
        co_return t;
    }
    stats.bytes_out += request.size();
    // The request still takes `on_wire` to leave a serial line after write() returns.
    auto deadline = steady::now() + on_wire + first_byte_timeout;
    std::array<std::uint8_t, 512> buffer{};
    while (!framer.complete()) {
        const auto r = co_await read_some_until(stream, timer, asio::buffer(buffer), deadline);
        if (r.ec == asio::error::timed_out) break;
        if (r.ec) {
            t.outcome = ModbusOutcome::io_error;
            t.io_failed = true;
            co_return t;
        }
        stats.bytes_in += r.n;
        const std::size_t used = framer.feed(std::span<const std::uint8_t>(buffer.data(), r.n));
        if (used < r.n) {
            t.extra_bytes = true;
            stats.drained_bytes += r.n - used;
        }
        deadline = steady::now() + inter_byte;
    }
    t.response_ns = wall_clock_ns();
    const auto result = framer.complete() ? framer.result() : framer.expire();
    t.outcome = result.outcome;
    t.exception = result.exception;
    if constexpr (requires { result.desync; }) t.desync = result.desync;
    if (t.outcome == ModbusOutcome::ok && !make_block(read, result.data, bus, t.response_ns, block)) {
        t.outcome = ModbusOutcome::malformed;
    }
    co_return t;
}

// Reads and discards bytes until the line has been silent for `silence` (or `max` has passed):
// whatever was left of a bad or late frame must not be taken for the next response.
// Returns false if the stream failed.
template <class Stream>
asio::awaitable<bool> drain(Stream& stream, asio::steady_timer& timer, std::chrono::nanoseconds silence,
                            std::chrono::nanoseconds max, ModbusLineStats& stats) {
    const auto end = steady::now() + max;
    std::array<std::uint8_t, 256> buffer{};
    for (;;) {
        const auto now = steady::now();
        if (now >= end) co_return true;
        const auto r = co_await read_some_until(stream, timer, asio::buffer(buffer), std::min(end, now + silence));
        if (r.ec == asio::error::timed_out) co_return true;
        if (r.ec) co_return false;
        stats.bytes_in += r.n;
        stats.drained_bytes += r.n;
    }
}

}  // namespace outpost::ingest::detail
