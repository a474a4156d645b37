#include "outpost/ingest/modbus/tcp_master.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "modbus_support/io_helpers.hpp"
#include "modbus_support/peer_process.hpp"
#include "outpost/ingest/modbus/rtu_master.hpp"

// Modbus TCP and RTU over TCP against pymodbus and libmodbus servers on loopback ports; the RTU
// master against the libmodbus RTU slave over a socat pty pair.
namespace outpost::ingest {
namespace {

using namespace std::chrono_literals;
using core::ModbusTable;

ModbusDeviceOptions all_tables(std::uint8_t unit, std::chrono::milliseconds period) {
    ModbusDeviceOptions d;
    d.name = "unit" + std::to_string(unit);
    d.limits.unit = unit;
    d.response_timeout = 500ms;
    d.ranges = {{ModbusTable::coils, 0, 2000, period},
                {ModbusTable::discrete_inputs, 7, 9, period},
                {ModbusTable::holding_registers, 2, 125, period},
                {ModbusTable::input_registers, 17, 3, period}};
    return d;
}

bool every_read_seen(const test::BlockLog& sink, std::size_t reads, int times) {
    if (sink.per_read.size() < reads) return false;
    for (const auto& [key, n] : sink.per_read) {
        if (n < times) return false;
    }
    return true;
}

ModbusTcpOptions tcp_options(int port, TcpFraming framing, std::vector<ModbusDeviceOptions> devices) {
    ModbusTcpOptions o;
    o.name = "server";
    o.bus = 2;
    o.port = static_cast<std::uint16_t>(port);
    o.framing = framing;
    o.reconnect_initial = 50ms;
    o.reconnect_max = 500ms;
    o.devices = std::move(devices);
    return o;
}

TEST(TcpMasterPymodbus, ModbusTcpTwoUnitsBehindOneAddress) {
    test::ModbusTempDir dir;
    const int port = test::modbus_free_port();
    auto server = test::start_pymodbus({"tcp", std::to_string(port), "1,7"}, dir.file("pymodbus.log"));
    ASSERT_TRUE(test::poll_until([&] { return test::modbus_port_open(port); }, 20s)) << test::slurp(dir.file("pymodbus.log"));
    boost::asio::io_context io;
    test::BlockLog sink;
    ModbusTcpMaster master(io, tcp_options(port, TcpFraming::mbap, {all_tables(1, 100ms), all_tables(7, 100ms)}), sink);
    master.start();
    ASSERT_TRUE(test::run_until(io, [&] { return every_read_seen(sink, 8, 3); }, 30s));
    EXPECT_EQ(sink.wrong_values, 0u);
    EXPECT_EQ(sink.blocks.front().bus, 2);
    const auto s = master.stats();
    EXPECT_EQ(s.opens, 1u);
    EXPECT_TRUE(s.connected);
    EXPECT_EQ(s.counters.malformed + s.counters.wrong_unit + s.counters.timeouts, 0u);
    EXPECT_EQ(s.bytes_out, s.counters.requests * 12);
}

TEST(TcpMasterPymodbus, RtuOverTcp) {
    test::ModbusTempDir dir;
    const int port = test::modbus_free_port();
    auto server = test::start_pymodbus({"rtu-over-tcp", std::to_string(port), "3"}, dir.file("pymodbus.log"));
    ASSERT_TRUE(test::poll_until([&] { return test::modbus_port_open(port); }, 20s)) << test::slurp(dir.file("pymodbus.log"));
    boost::asio::io_context io;
    test::BlockLog sink;
    ModbusTcpMaster master(io, tcp_options(port, TcpFraming::rtu, {all_tables(3, 100ms)}), sink);
    master.start();
    ASSERT_TRUE(test::run_until(io, [&] { return every_read_seen(sink, 4, 3); }, 30s));
    EXPECT_EQ(sink.wrong_values, 0u);
    EXPECT_EQ(master.stats().counters.crc_errors, 0u);
    EXPECT_EQ(master.stats().bytes_out, master.stats().counters.requests * 8);
}

TEST(TcpMasterPymodbus, ServerRestartingIsPickedUpAgain) {
    test::ModbusTempDir dir;
    const int port = test::modbus_free_port();
    auto server = test::start_pymodbus({"tcp", std::to_string(port), "1"}, dir.file("pymodbus.log"));
    ASSERT_TRUE(test::poll_until([&] { return test::modbus_port_open(port); }, 20s));
    boost::asio::io_context io;
    test::BlockLog sink;
    ModbusTcpMaster master(io, tcp_options(port, TcpFraming::mbap, {all_tables(1, 50ms)}), sink);
    master.start();
    ASSERT_TRUE(test::run_until(io, [&] { return sink.blocks.size() >= 10; }, 30s));
    server.stop();
    // The connection breaks; polls fail while the server is away.
    ASSERT_TRUE(test::run_until(io, [&] { return !master.stats().connected || master.stats().counters.io_errors > 0; }, 10s));
    test::run_for(io, 500ms);
    const auto before = sink.blocks.size();
    server = test::start_pymodbus({"tcp", std::to_string(port), "1"}, dir.file("pymodbus2.log"));
    ASSERT_TRUE(test::run_until(io, [&] { return sink.blocks.size() >= before + 10; }, 30s)) << test::slurp(dir.file("pymodbus2.log"));
    EXPECT_GE(master.stats().opens, 2u);
    EXPECT_GE(master.stats().open_failures, 1u);
    EXPECT_EQ(sink.wrong_values, 0u);
}

TEST(TcpMasterLibmodbus, ModbusTcp) {
    test::ModbusTempDir dir;
    const int port = test::modbus_free_port();
    auto server = test::start_libmodbus({"tcp", std::to_string(port), "1"}, dir.file("libmodbus.log"));
    ASSERT_TRUE(test::poll_until([&] { return test::modbus_port_open(port); }, 20s)) << test::slurp(dir.file("libmodbus.log"));
    boost::asio::io_context io;
    test::BlockLog sink;
    ModbusTcpMaster master(io, tcp_options(port, TcpFraming::mbap, {all_tables(1, 50ms)}), sink);
    master.start();
    ASSERT_TRUE(test::run_until(io, [&] { return every_read_seen(sink, 4, 5); }, 30s)) << test::slurp(dir.file("libmodbus.log"));
    EXPECT_EQ(sink.wrong_values, 0u);
}

TEST(RtuMasterLibmodbus, EveryFunctionOverAPtyPair) {
    test::ModbusTempDir dir;
    test::SocatPtyPair pty(dir, "line");
    auto slave = test::start_libmodbus({"rtu", pty.b, "115200", "9"}, dir.file("libmodbus.log"));
    boost::asio::io_context io;
    test::BlockLog sink;
    RtuLineOptions options;
    options.device = pty.a;
    options.format = {115200, SerialParity::none, 8, 1};
    options.devices = {all_tables(9, 50ms)};
    RtuMaster master(io, options, sink);
    master.start();
    ASSERT_TRUE(test::run_until(io, [&] { return every_read_seen(sink, 4, 5); }, 30s)) << test::slurp(dir.file("libmodbus.log"));
    EXPECT_EQ(sink.wrong_values, 0u);
    EXPECT_EQ(master.stats().counters.crc_errors, 0u);
}

}  // namespace
}  // namespace outpost::ingest
