#pragma once
// A simulated RS-485 line for the tests and the benchmark: several pseudo-terminals joined like
// one bus, and simulated Modbus RTU slaves on it. Every byte put on the bus by anyone (a program
// writing to one of the ptys, or a simulated slave) occupies the bus for one character time at
// the configured baud rate and reaches every other participant when its last bit would have; one
// transmitter at a time (a byte that finds the bus busy waits, as if the sender had waited).
//
// A simulated slave answers FC 1..4 reads for its unit id with the values of modbus_values.hpp,
// after its turnaround time (end of the request -> start of the response). Like a real slave it
// only takes a request that began after at least t3.5 of silence, so a master that does not keep
// the inter-frame gap gets no answer. Faults can be queued per slave (garbage, a truncated frame,
// a wrong CRC, another unit id, an exception, silence) and ports can be closed and created again
// at the same path. The simulator runs its own thread; the public functions are thread-safe.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace outpost::test {

enum class SimFault : std::uint8_t { garbage, truncated, bad_crc, wrong_unit, exception, silent };

struct SimSlave {
    std::uint8_t unit = 1;
    std::chrono::microseconds turnaround{0};  // 0: t3.5 of the line (a real slave's end-of-frame detection)
    bool silent = false;                       // never answers (a dead device)
    std::uint32_t size = 10000;                // addresses it holds; reads beyond get illegal_data_address
};

struct SimPortStats {
    std::uint64_t bytes_from_port = 0;  // bytes the program on this port put on the bus
    std::uint64_t bytes_to_port = 0;
    std::uint64_t dropped_to_port = 0;  // the program did not read fast enough
};

class LineSimulator {
public:
    // `bits_per_char`: 10 for 8N1, 11 for 8E1.
    LineSimulator(std::string dir, unsigned baud, unsigned bits_per_char = 10);
    ~LineSimulator();
    LineSimulator(const LineSimulator&) = delete;
    LineSimulator& operator=(const LineSimulator&) = delete;

    // A pty on the bus; returns the path (a symlink in `dir`) a program opens. Before start().
    std::string add_port(const std::string& name);
    // A simulated slave on the bus. Before start().
    void add_slave(const SimSlave& slave);
    void start();
    void stop();

    // The next response of `unit` comes out wrong in the given way.
    void inject(std::uint8_t unit, SimFault fault);
    // Makes `unit` silent (or alive again).
    void set_silent(std::uint8_t unit, bool silent);
    // Closes the port's pty (its program reads EIO), removes the link, and after `gone_for` creates a
    // new pty at the same path.
    void recreate_port(const std::string& name, std::chrono::milliseconds gone_for);

    SimPortStats port_stats(const std::string& name) const;
    std::uint64_t requests_answered(std::uint8_t unit) const;
    std::uint64_t faults_applied() const;
    // Bytes the simulator handed on more than half of t3.5 after their time, because its thread
    // was not scheduled (a loaded machine): a receiver may have seen a gap inside a frame that the
    // simulated line never had, and count a fault that was the simulator's. Checks of exact fault
    // counts hold only while this stays the same.
    std::uint64_t late_deliveries() const noexcept { return late_deliveries_.load(); }
    std::chrono::nanoseconds char_time() const noexcept { return char_time_; }
    std::chrono::nanoseconds t35() const noexcept { return t35_; }

private:
    using clock = std::chrono::steady_clock;
    struct Port;
    struct Slave;
    struct Pending {
        clock::time_point at;  // when the byte's last bit has gone out
        std::uint8_t byte;
        int from;              // port index, or -1 - slave index
    };

    void run();
    void open_pty(Port& port);
    void close_pty(Port& port);
    void transmit(int from, const std::uint8_t* bytes, std::size_t n, clock::time_point earliest);
    void deliver(const Pending& p);
    void slave_receive(Slave& s, std::uint8_t byte, clock::time_point at);

    std::string dir_;
    std::chrono::nanoseconds char_time_;
    std::chrono::nanoseconds t35_;
    std::vector<std::unique_ptr<Port>> ports_;
    std::vector<std::unique_ptr<Slave>> slaves_;
    std::deque<Pending> bus_;  // bytes on the wire, in order
    clock::time_point bus_free_{};
    mutable std::mutex mutex_;  // guards faults, silence, stats, recreate requests
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::uint64_t faults_applied_ = 0;
    std::atomic<std::uint64_t> late_deliveries_{0};
};

}  // namespace outpost::test
