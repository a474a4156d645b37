#include "outpost/ingest/modbus/rtu_tap.hpp"

#include <gtest/gtest.h>

#include <regex>

#include <boost/asio/io_context.hpp>

#include "modbus_support/io_helpers.hpp"
#include "modbus_support/line_simulator.hpp"
#include "modbus_support/peer_process.hpp"

// Listen-only: Debian's mbpoll (the master) and pymodbus (the slave) talk on a simulated line;
// the tap pairs their frames into blocks and never puts a byte on the line.
namespace outpost::ingest {
namespace {

using namespace std::chrono_literals;
using core::ModbusTable;

struct Poll {
    const char* type;  // mbpoll -t
    ModbusTable table;
    int reference;     // 1-based, as mbpoll takes it
    int count;
};

// Runs mbpoll once while the io_context keeps the tap going; returns its output.
std::string run_mbpoll(boost::asio::io_context& io, const test::ModbusTempDir& dir, const std::string& port, const Poll& p,
                       int attempt) {
    const std::string log = dir.file("mbpoll-" + std::string(p.type) + "-" + std::to_string(attempt) + ".log");
    test::PeerProcess mbpoll({"mbpoll", "-m", "rtu", "-a", "1", "-b", "19200", "-P", "none", "-t", p.type, "-r",
                              std::to_string(p.reference), "-c", std::to_string(p.count), "-1", "-o", "1", port},
                             log);
    int status = -1;
    test::run_until(io, [&] { return (status = mbpoll.wait(0ms)) != -1; }, 20s);
    return status == 0 ? test::slurp(log) : std::string();
}

TEST(RtuTapMbpoll, DecodesTheConversationAndNeverWrites) {
    test::ModbusTempDir dir;
    test::LineSimulator line(dir.file(""), 19200);
    const auto master_port = line.add_port("mbpoll");
    const auto slave_port = line.add_port("pymodbus");
    const auto tap_port = line.add_port("tap");
    line.start();
    auto slave = test::start_pymodbus({"serial", slave_port, "19200", "1"}, dir.file("pymodbus.log"));

    boost::asio::io_context io;
    test::BlockLog sink;
    RtuTapOptions options;
    options.name = "bms-line";
    options.bus = 6;
    options.device = tap_port;
    options.format = {19200, SerialParity::none, 8, 1};
    RtuTap tap(io, options, sink);
    tap.start();

    const Poll polls[] = {{"4:hex", ModbusTable::holding_registers, 11, 10},
                          {"3:hex", ModbusTable::input_registers, 101, 5},
                          {"0", ModbusTable::coils, 1, 20},
                          {"1", ModbusTable::discrete_inputs, 7, 9}};
    std::vector<std::string> outputs;
    for (const auto& p : polls) {
        std::string out;
        // The first polls may go out before pymodbus listens: try again.
        for (int attempt = 0; attempt < 15 && out.empty(); ++attempt) {
            out = run_mbpoll(io, dir, master_port, p, attempt);
            if (out.empty()) test::run_for(io, 300ms);
        }
        ASSERT_FALSE(out.empty()) << test::slurp(dir.file("pymodbus.log"));
        outputs.push_back(out);
    }
    test::run_for(io, 200ms);
    tap.stop();

    // One block per successful mbpoll run, each exactly what mbpoll asked for.
    ASSERT_EQ(sink.blocks.size(), 4u);
    EXPECT_EQ(sink.wrong_values, 0u);
    for (std::size_t i = 0; i < 4; ++i) {
        const auto& b = sink.blocks[i];
        EXPECT_EQ(b.bus, 6);
        EXPECT_EQ(b.unit, 1);
        EXPECT_EQ(b.table, polls[i].table);
        EXPECT_EQ(b.address, polls[i].reference - 1);
        EXPECT_EQ(b.count, polls[i].count);
    }
    // What mbpoll printed is what the tap decoded: "[11]: 	0x0A0D".
    for (std::size_t i = 0; i < 2; ++i) {
        const auto& b = sink.blocks[i];
        const std::regex value(R"(\[(\d+)\]:\s+0x([0-9A-Fa-f]{4}))");
        int seen = 0;
        for (std::sregex_iterator it(outputs[i].begin(), outputs[i].end(), value), end; it != end; ++it) {
            const int ref = std::stoi((*it)[1]);
            const auto v = static_cast<std::uint16_t>(std::stoul((*it)[2], nullptr, 16));
            const int k = ref - polls[i].reference;
            ASSERT_GE(k, 0);
            ASSERT_LT(k, b.count);
            EXPECT_EQ(v, b.data[2 * k] << 8 | b.data[2 * k + 1]);
            ++seen;
        }
        EXPECT_EQ(seen, polls[i].count) << outputs[i];
    }
    const auto s = tap.stats();
    EXPECT_EQ(s.opens, 1u) << "the line was idle between the polls, never gone";
    EXPECT_EQ(s.read_errors, 0u);
    EXPECT_EQ(s.sniffer.blocks, 4u);
    EXPECT_GE(s.sniffer.requests, 4u);
    EXPECT_GT(s.bytes_in, 0u);
    // Never a byte from the tap's port onto the line.
    EXPECT_EQ(line.port_stats("tap").bytes_from_port, 0u);
    EXPECT_GT(line.port_stats("tap").bytes_to_port, 0u);
    EXPECT_GT(line.port_stats("mbpoll").bytes_from_port, 0u);
}

// An idle line is waited on, not reopened; a line that goes away is reopened with backoff and
// listened to again once it is back.
TEST(RtuTapLine, AnIdleLineIsWaitedOnAndAVanishedOneReopenedWithBackoff) {
    test::ModbusTempDir dir;
    test::LineSimulator line(dir.file(""), 19200);
    const auto tap_port = line.add_port("tap");
    line.start();
    boost::asio::io_context io;
    test::BlockLog sink;
    RtuTapOptions options;
    options.name = "quiet-line";
    options.device = tap_port;
    options.format = {19200, SerialParity::none, 8, 1};
    RtuTap tap(io, options, sink);
    tap.start();
    test::run_for(io, 1000ms);
    EXPECT_EQ(tap.stats().opens, 1u);
    EXPECT_EQ(tap.stats().read_errors, 0u);
    EXPECT_TRUE(tap.stats().connected);

    line.recreate_port("tap", 1000ms);
    // Back after a second; the next attempt comes at most the backoff's cap (5 s) later.
    ASSERT_TRUE(test::run_until(io, [&] { return tap.stats().opens >= 2; }, 10s));
    const auto s = tap.stats();
    // Full jitter draws each wait from [0, ceiling], the ceiling doubling from 200 ms: a handful of
    // attempts in those seconds. Without the backoff a line that fails at once was reopened
    // thousands of times a second.
    EXPECT_LE(s.opens + s.open_failures, 30u);
    EXPECT_EQ(s.read_errors, 1u) << "the one failure that closed the line";
    EXPECT_TRUE(s.connected);
    test::run_for(io, 500ms);
    EXPECT_EQ(tap.stats().opens, s.opens) << "idle again, and waited on";
    tap.stop();
}

}  // namespace
}  // namespace outpost::ingest
