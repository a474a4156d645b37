#pragma once
// Modbus RTU master on one serial line (boost::asio::serial_port), a thin shell around the
// Sans-I/O core: PollEngine decides what to read and when, RtuFramer cuts the responses, this
// class only moves bytes and keeps time.
//  - Line options: device path, baud, parity, data bits, stop bits.
//  - Every request is preceded by at least t3.5 of silence since the last byte on the line
//    (also between one device's response and the next device's request).
//  - Response timeout per device (request sent -> first byte), then an inter-byte timeout
//    per line; after a timeout, CRC error, malformed or truncated frame, or bytes after a frame,
//    the line is drained (read until silent) before the next request.
//  - The port is reopened with backoff when it fails (a USB adapter unplugged, a pty closed) or
//    cannot be opened, and picked up again when the device returns, without a restart.
//  - Each successful read goes to the ModbusSink with the bus index and the response arrival
//    time (system clock).
// Thread: construct, start(), stop(), stats() and the sink calls all on the io_context's
// thread (one thread runs the io_context). Errors never throw at runtime: they are counted.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "outpost/ingest/modbus/line_timing.hpp"
#include "outpost/ingest/modbus/modbus_stats.hpp"
#include "outpost/ingest/modbus/poll_engine.hpp"
#include "outpost/ingest/modbus_sink.hpp"

namespace outpost::ingest {

struct RtuLineOptions {
    std::string name;                 // for logs and stats
    std::uint16_t bus = 0;            // stamped on every block (site-config order)
    std::string device;               // e.g. /dev/ttyUSB0
    SerialFormat format;              // baud, parity, data bits, stop bits
    std::chrono::milliseconds inter_byte_timeout{50};   // silence inside a frame that ends it (USB adapters batch bytes)
    std::chrono::milliseconds drain_silence{0};         // silence that ends a drain; 0: max(2 x t3.5, 10 ms)
    std::chrono::milliseconds drain_max{500};           // a babbling line is drained at most this long
    std::chrono::milliseconds reopen_initial{200};
    std::chrono::milliseconds reopen_max{5000};
    std::vector<ModbusDeviceOptions> devices;           // the devices polled on this line
};

class RtuMaster {
public:
    // Plans the polls; opens nothing yet. The sink must outlive the master.
    RtuMaster(boost::asio::io_context& io, RtuLineOptions options, ModbusSink& sink);
    // Stops (see stop()).
    ~RtuMaster();
    RtuMaster(const RtuMaster&) = delete;
    RtuMaster& operator=(const RtuMaster&) = delete;

    // Opens the port (retrying with backoff while it is missing) and starts polling. Once only.
    void start();
    // Cancels everything and closes the port; no sink call after it returns. The internal
    // state stays alive until its pending handlers have run, so the master may be destroyed at once.
    void stop();

    const RtuLineOptions& options() const noexcept;
    ModbusLineStats stats() const;
    std::size_t device_count() const noexcept;
    ModbusDeviceStats device_stats(std::size_t index) const;

    struct Impl;

private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace outpost::ingest
