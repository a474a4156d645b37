#include "outpost/ingest/modbus/rtu_master.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>

#include "modbus_support/io_helpers.hpp"
#include "modbus_support/line_simulator.hpp"
#include "modbus_support/peer_process.hpp"

// The RTU master on a simulated RS-485 line (bytes delayed at the baud rate, simulated slaves
// that insist on the inter-frame silence): a silent device, injected faults, a vanishing port.
namespace outpost::ingest {
namespace {

using namespace std::chrono_literals;
using core::ModbusTable;

ModbusDeviceOptions device(std::uint8_t unit, std::chrono::milliseconds period, unsigned retries = 1) {
    ModbusDeviceOptions d;
    d.name = "unit" + std::to_string(unit);
    d.limits.unit = unit;
    d.retries = retries;
    d.response_timeout = 100ms;
    d.breaker = {3, 1000ms, 8000ms};
    d.ranges = {{ModbusTable::holding_registers, 100, 10, period}};
    return d;
}

RtuLineOptions line_options(const std::string& path, unsigned baud, std::vector<ModbusDeviceOptions> devices) {
    RtuLineOptions o;
    o.name = "sim";
    o.device = path;
    o.format = {baud, SerialParity::none, 8, 1};
    o.reopen_initial = 100ms;
    o.reopen_max = 1000ms;
    o.devices = std::move(devices);
    return o;
}

TEST(RtuMasterLine, SilentDeviceCostsTheHealthyOneLessThanTenPercent) {
    test::ModbusTempDir dir;
    test::LineSimulator line(dir.file(""), 9600);
    const auto port = line.add_port("master");
    line.add_slave({1});
    line.add_slave({2, 0us, true});  // configured but dead
    line.start();

    boost::asio::io_context io;
    test::BlockLog sink;
    const auto period = 100ms;
    RtuMaster master(io, line_options(port, 9600, {device(1, period), device(2, period)}), sink);
    master.start();
    ASSERT_TRUE(test::run_until(io, [&] { return master.device_stats(1).breaker == BreakerState::open; }, 20s));
    // A fixed window once the silent device's breaker is open: the healthy device keeps >= 90%
    // of its configured rate (each probe of the dead one costs one 100 ms timeout).
    const auto window = 8s;
    const auto before = sink.count(1);
    const auto start = std::chrono::steady_clock::now();
    test::run_for(io, window);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    const double achieved = sink.count(1) - before;
    const double configured = std::chrono::duration<double>(elapsed) / period;
    EXPECT_GE(achieved / configured, 0.9) << achieved << " polls of " << configured;

    const auto healthy = master.device_stats(0);
    const auto dead = master.device_stats(1);
    EXPECT_EQ(healthy.breaker, BreakerState::closed);
    EXPECT_NE(dead.breaker, BreakerState::closed);
    EXPECT_EQ(dead.breaker_opens, 1u);
    EXPECT_GT(dead.counters.timeouts, 3u);
    EXPECT_EQ(dead.counters.responses, 0u);
    EXPECT_EQ(healthy.configured_period, period);
    EXPECT_LT(healthy.achieved_period, period * 11 / 10);
    EXPECT_EQ(sink.wrong_values, 0u);
    EXPECT_EQ(line.requests_answered(2), 0u);
}

TEST(RtuMasterLine, InjectedFaultsAreCountedAndTheLineRecovers) {
    test::ModbusTempDir dir;
    test::LineSimulator line(dir.file(""), 19200);
    const auto port = line.add_port("master");
    const auto noise = line.add_port("noise");
    line.add_slave({1});
    line.start();

    boost::asio::io_context io;
    test::BlockLog sink;
    RtuMaster master(io, line_options(port, 19200, {device(1, 50ms, 0)}), sink);
    master.start();
    ASSERT_TRUE(test::run_until(io, [&] { return sink.blocks.size() >= 3; }, 10s));

    struct Case {
        test::SimFault fault;
        std::uint64_t ModbusCounters::*counter;
    };
    const Case cases[] = {{test::SimFault::garbage, &ModbusCounters::malformed},
                          {test::SimFault::truncated, &ModbusCounters::truncated},
                          {test::SimFault::bad_crc, &ModbusCounters::crc_errors},
                          {test::SimFault::wrong_unit, &ModbusCounters::wrong_unit},
                          {test::SimFault::exception, &ModbusCounters::exceptions},
                          {test::SimFault::silent, &ModbusCounters::timeouts}};
    for (const auto& c : cases) {
        const auto before = master.device_stats(0).counters;
        const auto blocks = sink.blocks.size();
        const auto late_before = line.late_deliveries();
        line.inject(1, c.fault);
        ASSERT_TRUE(test::run_until(io, [&] { return master.device_stats(0).counters.*c.counter > before.*c.counter; }, 10s))
            << static_cast<int>(c.fault);
        // The next transactions succeed.
        ASSERT_TRUE(test::run_until(io, [&] { return sink.blocks.size() >= blocks + 3; }, 10s)) << static_cast<int>(c.fault);
        const auto after = master.device_stats(0).counters;
        // Exactly once, unless the simulator itself fell behind the line's timing meanwhile (then a
        // frame may really have reached the master with a gap in it, and been counted too).
        if (line.late_deliveries() == late_before) {
            EXPECT_EQ(after.*c.counter, before.*c.counter + 1) << static_cast<int>(c.fault);
        } else {
            EXPECT_GE(after.*c.counter, before.*c.counter + 1) << static_cast<int>(c.fault);
        }
    }
    const auto s = master.device_stats(0);
    EXPECT_EQ(s.counters.exceptions_by_code[4], 1u);
    EXPECT_EQ(s.breaker, BreakerState::closed);
    EXPECT_GT(master.stats().drained_bytes, 0u);
    EXPECT_EQ(line.faults_applied(), 6u);

    // Garbage on the line from somewhere else, at random moments: whatever it hits is counted,
    // nothing crashes, polling goes on with correct values.
    const int fd = ::open(noise.c_str(), O_RDWR | O_NOCTTY);
    ASSERT_GE(fd, 0);
    for (int i = 0; i < 20; ++i) {
        const std::uint8_t junk[] = {0x01, 0x03, 0x7F, 0x00, static_cast<std::uint8_t>(i), 0xFF};
        ASSERT_EQ(::write(fd, junk, 1 + static_cast<std::size_t>(i) % sizeof junk), static_cast<ssize_t>(1 + i % 6));
        test::run_for(io, std::chrono::milliseconds(17 + 7 * (i % 5)));
    }
    ::close(fd);
    const auto blocks = sink.blocks.size();
    ASSERT_TRUE(test::run_until(io, [&] { return sink.blocks.size() >= blocks + 5; }, 10s));
    EXPECT_EQ(sink.wrong_values, 0u);
}

TEST(RtuMasterLine, PortClosedAndCreatedAgainAtTheSamePath) {
    test::ModbusTempDir dir;
    test::LineSimulator line(dir.file(""), 38400);
    const auto port = line.add_port("master");
    line.add_slave({5});
    line.start();

    boost::asio::io_context io;
    test::BlockLog sink;
    RtuMaster master(io, line_options(port, 38400, {device(5, 20ms)}), sink);
    master.start();
    ASSERT_TRUE(test::run_until(io, [&] { return sink.blocks.size() >= 5; }, 10s));
    EXPECT_EQ(master.stats().opens, 1u);
    line.recreate_port("master", 1500ms);  // the USB adapter unplugged for 1.5 s
    ASSERT_TRUE(test::run_until(io, [&] { return !master.stats().connected; }, 10s));
    const auto during = sink.blocks.size();
    ASSERT_TRUE(test::run_until(io, [&] { return sink.blocks.size() >= during + 10; }, 20s));
    const auto s = master.stats();
    EXPECT_TRUE(s.connected);
    EXPECT_EQ(s.opens, 2u);
    EXPECT_GE(s.open_failures, 1u);  // tried while the path was gone
    EXPECT_EQ(sink.wrong_values, 0u);
}

}  // namespace
}  // namespace outpost::ingest
