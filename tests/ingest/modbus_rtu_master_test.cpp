#include "outpost/ingest/modbus/rtu_master.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "modbus_support/io_helpers.hpp"
#include "modbus_support/peer_process.hpp"

// The RTU master against Debian's pymodbus serial server over a socat pty pair.
namespace outpost::ingest {
namespace {

using namespace std::chrono_literals;
using core::ModbusTable;

ModbusDeviceOptions all_tables(std::uint8_t unit, std::chrono::milliseconds period) {
    ModbusDeviceOptions d;
    d.name = "unit" + std::to_string(unit);
    d.limits.unit = unit;
    d.response_timeout = 500ms;  // pymodbus on a loaded machine
    d.ranges = {{ModbusTable::coils, 3, 37, period},
                {ModbusTable::discrete_inputs, 100, 19, period},
                {ModbusTable::holding_registers, 0, 10, period},
                {ModbusTable::holding_registers, 12, 4, period},  // read across the 2-register gap
                {ModbusTable::input_registers, 1000, 125, period}};
    return d;
}

TEST(RtuMasterPymodbus, EveryFunctionReturnsWhatTheSlaveHolds) {
    test::ModbusTempDir dir;
    test::SocatPtyPair pty(dir, "line");
    auto slave = test::start_pymodbus({"serial", pty.b, "19200", "1,2"}, dir.file("pymodbus.log"));

    boost::asio::io_context io;
    test::BlockLog sink;
    RtuLineOptions options;
    options.name = "rs485-a";
    options.bus = 4;
    options.device = pty.a;
    options.format = {19200, SerialParity::none, 8, 1};
    options.devices = {all_tables(1, 200ms), all_tables(2, 200ms)};
    RtuMaster master(io, options, sink);
    master.start();
    // Every read of both units at least 3 times (pymodbus takes a second or two to start).
    ASSERT_TRUE(test::run_until(io, [&] {
        if (sink.per_read.size() < 8) return false;
        for (const auto& [key, n] : sink.per_read) if (n < 3) return false;
        return true;
    }, 30s)) << test::slurp(dir.file("pymodbus.log"));
    master.stop();

    EXPECT_EQ(sink.per_read.size(), 8u);  // 4 reads per unit: the two holding ranges coalesced
    EXPECT_EQ(sink.wrong_values, 0u);
    for (const auto& b : sink.blocks) {
        EXPECT_EQ(b.bus, 4);
        EXPECT_GT(b.timestamp_ns, 1'600'000'000'000'000'000);
    }
    EXPECT_EQ(sink.per_read.count({1, 3, 0}), 1u);
    const auto line = master.stats();
    EXPECT_GE(line.opens, 1u);
    EXPECT_EQ(line.counters.crc_errors, 0u);
    EXPECT_EQ(line.counters.malformed, 0u);
    EXPECT_EQ(line.counters.wrong_unit, 0u);
    EXPECT_GE(line.counters.responses, sink.blocks.size());
    // Every request is 8 bytes; a request is counted when its answer (or its timeout) comes, so one
    // may be on the line, sent but not yet counted, when the stats are read.
    EXPECT_TRUE(line.bytes_out == line.counters.requests * 8 || line.bytes_out == (line.counters.requests + 1) * 8)
        << line.bytes_out << " bytes out, " << line.counters.requests << " requests";
    const auto dev = master.device_stats(1);
    EXPECT_EQ(dev.unit, 2);
    EXPECT_EQ(dev.breaker, BreakerState::closed);
    EXPECT_EQ(dev.configured_period, 200ms);
}

TEST(RtuMasterPymodbus, ExceptionForAnAddressTheSlaveDoesNotHave) {
    test::ModbusTempDir dir;
    test::SocatPtyPair pty(dir, "line");
    auto slave = test::start_pymodbus({"serial", pty.b, "38400", "1"}, dir.file("pymodbus.log"));
    boost::asio::io_context io;
    test::BlockLog sink;
    RtuLineOptions options;
    options.device = pty.a;
    options.format = {38400, SerialParity::none, 8, 1};
    ModbusDeviceOptions d;
    d.limits.unit = 1;
    d.response_timeout = 500ms;
    d.ranges = {{ModbusTable::holding_registers, 5000, 2, 100ms}, {ModbusTable::input_registers, 0, 2, 100ms}};
    options.devices = {d};
    RtuMaster master(io, options, sink);
    master.start();
    ASSERT_TRUE(test::run_until(io, [&] { return master.device_stats(0).counters.exceptions >= 3 && sink.blocks.size() >= 3; }, 30s))
        << test::slurp(dir.file("pymodbus.log"));
    const auto s = master.device_stats(0);
    EXPECT_EQ(s.counters.exceptions_by_code[static_cast<int>(ModbusException::illegal_data_address)], s.counters.exceptions);
    EXPECT_EQ(s.breaker, BreakerState::closed);  // an exception is an answer
    EXPECT_EQ(sink.wrong_values, 0u);
}

}  // namespace
}  // namespace outpost::ingest
