#pragma once
// Listen-only Modbus RTU on a line that already has a master (a BMS controller polling its
// racks): opens the serial port read-only (O_RDONLY: this process cannot put a byte on the line),
// feeds what it hears to an RtuSniffer with arrival timestamps, and hands each paired read to the
// ModbusSink. The port is reopened with backoff when it fails or is missing.
// Thread: construct, start(), stop(), stats() and the sink calls all on the io_context's thread.
// Errors never throw at runtime: they are counted.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "outpost/ingest/modbus/line_timing.hpp"
#include "outpost/ingest/modbus/rtu_sniffer.hpp"
#include "outpost/ingest/modbus_sink.hpp"

namespace outpost::ingest {

struct RtuTapOptions {
    std::string name;                 // for logs and stats
    std::uint16_t bus = 0;            // stamped on every block
    std::string device;               // e.g. /dev/ttyUSB1
    SerialFormat format;
    // Silence that ends a partial frame. 0: max(t3.5, 20 ms) -- frames are found by length and CRC,
    // the gap only clears junk, so a generous value survives the scheduling jitter of a busy host.
    std::chrono::milliseconds frame_gap{0};
    std::chrono::milliseconds response_timeout{1000};  // a later response is not paired with its request
    std::chrono::milliseconds reopen_initial{200};
    std::chrono::milliseconds reopen_max{5000};
};

struct RtuTapStats {
    RtuSnifferStats sniffer;
    std::uint64_t bytes_in = 0;
    std::uint64_t opens = 0;
    std::uint64_t open_failures = 0;
    std::uint64_t read_errors = 0;
    bool connected = false;
};

class RtuTap {
public:
    RtuTap(boost::asio::io_context& io, RtuTapOptions options, ModbusSink& sink);
    ~RtuTap();
    RtuTap(const RtuTap&) = delete;
    RtuTap& operator=(const RtuTap&) = delete;

    // Opens the port (retrying with backoff) and starts listening. Once only.
    void start();
    // Cancels and closes; no sink call after it returns. Safe to destroy at once.
    void stop();

    const RtuTapOptions& options() const noexcept;
    RtuTapStats stats() const;

    struct Impl;

private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace outpost::ingest
