#pragma once
// Modbus master over TCP, one connection per server, as two transports of the same master logic
// (PollEngine): Modbus TCP (MBAP header, transaction ids checked, responses to abandoned
// transactions discarded and counted as stale) and RTU over TCP (RTU frames with CRC through a
// serial device server, cut by length like on a serial line and drained after errors). Several
// unit ids can sit behind one address (a gateway); one transaction is in flight at a time.
// The connection is made again with backoff when it fails, is refused, or loses its framing.
// Each successful read goes to the ModbusSink with the bus index and the arrival time.
// Thread: construct, start(), stop(), stats() and the sink calls all on the io_context's
// thread. Errors never throw at runtime: they are counted.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "outpost/ingest/modbus/modbus_stats.hpp"
#include "outpost/ingest/modbus/poll_engine.hpp"
#include "outpost/ingest/modbus_sink.hpp"

namespace outpost::ingest {

enum class TcpFraming : std::uint8_t {
    mbap,  // Modbus TCP
    rtu,   // RTU frames (with CRC) over a TCP socket
};
const char* to_string(TcpFraming framing) noexcept;

struct ModbusTcpOptions {
    std::string name;               // for logs and stats
    std::uint16_t bus = 0;          // stamped on every block
    std::string host = "127.0.0.1"; // name or address
    std::uint16_t port = 502;
    TcpFraming framing = TcpFraming::mbap;
    std::chrono::milliseconds connect_timeout{3000};    // name lookup + connect
    std::chrono::milliseconds inter_byte_timeout{100};  // silence inside a response that ends it
    std::chrono::milliseconds drain_silence{20};        // RTU over TCP: silence that ends a drain
    std::chrono::milliseconds drain_max{500};
    std::chrono::milliseconds reconnect_initial{200};
    std::chrono::milliseconds reconnect_max{5000};
    std::vector<ModbusDeviceOptions> devices;           // unit ids behind this address
};

class ModbusTcpMaster {
public:
    // Plans the polls; connects nothing yet. The sink must outlive the master.
    ModbusTcpMaster(boost::asio::io_context& io, ModbusTcpOptions options, ModbusSink& sink);
    ~ModbusTcpMaster();
    ModbusTcpMaster(const ModbusTcpMaster&) = delete;
    ModbusTcpMaster& operator=(const ModbusTcpMaster&) = delete;

    // Connects (retrying with backoff) and starts polling. Once only.
    void start();
    // Cancels everything and closes the connection; no sink call after it returns. Safe to
    // destroy at once (pending handlers keep the internal state alive).
    void stop();

    const ModbusTcpOptions& options() const noexcept;
    ModbusLineStats stats() const;
    std::size_t device_count() const noexcept;
    ModbusDeviceStats device_stats(std::size_t index) const;

    struct Impl;

private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace outpost::ingest
