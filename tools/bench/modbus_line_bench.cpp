// Line efficiency of the Modbus RTU master: polls per second achieved through the simulated
// RS-485 line (tests/ingest/modbus_support/line_simulator) against the physical bound for the
// same requests: request and response bytes at the line's character time, the device's
// turnaround (end of request -> start of response) and the master's t3.5 before each request.
// Two simulated slaves are polled in turn, as fast as the line allows, so the gap between one
// device's response and the next device's request is measured too.
//   modbus_line_bench [ROUNDS] [SECONDS_PER_RUN] [REGISTERS]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "modbus_support/line_simulator.hpp"
#include "outpost/core/log.hpp"
#include "outpost/ingest/modbus/rtu_master.hpp"

namespace {

using namespace std::chrono_literals;
using namespace outpost;

struct Count : ingest::ModbusSink {
    std::uint64_t blocks = 0;
    void on_modbus(const core::ModbusBlock&) override { ++blocks; }
};

struct Run {
    double polls_per_s = 0;
    double bound_per_s = 0;
    std::uint64_t failures = 0;
};

Run run_once(unsigned baud, std::chrono::milliseconds seconds, std::uint16_t registers) {
    char tmpl[] = "/tmp/outpost-modbus-bench-XXXXXX";
    const std::string dir = ::mkdtemp(tmpl);
    Run result;
    {
        test::LineSimulator line(dir, baud, 10);  // 8N1: 10 bits per character
        const auto path = line.add_port("master");
        line.add_slave({1});
        line.add_slave({2});
        line.start();

        boost::asio::io_context io;
        Count sink;
        ingest::RtuLineOptions options;
        options.name = "bench";
        options.device = path;
        options.format = {baud, ingest::SerialParity::none, 8, 1};
        for (const std::uint8_t unit : {std::uint8_t{1}, std::uint8_t{2}}) {
            ingest::ModbusDeviceOptions d;
            d.name = "unit" + std::to_string(unit);
            d.limits.unit = unit;
            d.response_timeout = 200ms;
            d.ranges = {{core::ModbusTable::holding_registers, 0, registers, 1ms}};  // always due: saturate the line
            options.devices.push_back(d);
        }
        ingest::RtuMaster master(io, options, sink);
        master.start();
        io.run_for(500ms);  // warm up: open, first polls
        const auto blocks0 = sink.blocks;
        const auto t0 = std::chrono::steady_clock::now();
        io.run_for(seconds);
        const auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        result.polls_per_s = static_cast<double>(sink.blocks - blocks0) / elapsed;
        const auto s = master.stats().counters;
        result.failures = s.timeouts + s.crc_errors + s.truncated + s.malformed + s.wrong_unit;
        master.stop();
        io.run_for(10ms);
        line.stop();

        const auto request = 8.0;
        const auto response = 5.0 + 2.0 * registers;
        const double per_poll = (request + response) * std::chrono::duration<double>(line.char_time()).count() +
                                std::chrono::duration<double>(line.t35()).count() * 2;  // turnaround (= t3.5) + t3.5
        result.bound_per_s = 1.0 / per_poll;
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
    return result;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
    const int rounds = argc > 1 ? std::atoi(argv[1]) : 5;
    const auto seconds = std::chrono::milliseconds(argc > 2 ? static_cast<long>(std::atof(argv[2]) * 1000) : 4000);
    const auto registers = static_cast<std::uint16_t>(argc > 3 ? std::atoi(argv[3]) : 10);
    core::set_log_level(core::LogLevel::warn);
    const unsigned bauds[] = {9600, 115200};
    std::vector<double> polls[2];
    double bound[2] = {0, 0};
    std::uint64_t failures[2] = {0, 0};
    for (int r = 0; r < rounds; ++r) {
        // Alternate the order each round so drift in the machine's load hits both alike.
        for (int k = 0; k < 2; ++k) {
            const int i = (r % 2 == 0) ? k : 1 - k;
            const auto run = run_once(bauds[i], seconds, registers);
            polls[i].push_back(run.polls_per_s);
            bound[i] = run.bound_per_s;
            failures[i] += run.failures;
            std::printf("round %d  %6u baud: %8.2f polls/s (bound %.2f, ratio %.3f)\n", r + 1, bauds[i], run.polls_per_s,
                        run.bound_per_s, run.polls_per_s / run.bound_per_s);
            std::fflush(stdout);
        }
    }
    int status = 0;
    std::printf("\nFC 3, %u registers, 2 devices polled in turn, 8N1, turnaround t3.5, %d rounds of %.1f s\n",
                static_cast<unsigned>(registers), rounds, std::chrono::duration<double>(seconds).count());
    for (int i = 0; i < 2; ++i) {
        const double med = median(polls[i]);
        const auto [lo, hi] = std::minmax_element(polls[i].begin(), polls[i].end());
        const double ratio = med / bound[i];
        std::printf("%6u baud: median %8.2f polls/s (min %.2f, max %.2f), physical bound %8.2f, ratio %.3f (target >= 0.9) %s; failed transactions %llu\n",
                    bauds[i], med, *lo, *hi, bound[i], ratio, ratio >= 0.9 ? "MET" : "NOT MET",
                    static_cast<unsigned long long>(failures[i]));
        if (ratio < 0.9) status = 1;
    }
    return status;
}
