#include "line_simulator.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <optional>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "frames.hpp"
#include "modbus_values.hpp"

namespace outpost::test {

using namespace std::chrono_literals;

struct LineSimulator::Port {
    std::string name;
    std::string link;
    int master = -1;
    int slave = -1;
    SimPortStats stats;
    bool close_requested = false;
    clock::time_point reopen_at = clock::time_point::max();
};

struct LineSimulator::Slave {
    SimSlave config;
    std::deque<SimFault> faults;
    std::vector<std::uint8_t> frame;
    clock::time_point last_at{};
    std::uint64_t answered = 0;
};

LineSimulator::LineSimulator(std::string dir, unsigned baud, unsigned bits_per_char)
    : dir_(std::move(dir)),
      char_time_(std::chrono::nanoseconds(1'000'000'000LL * bits_per_char / baud)),
      t35_(baud > 19200 ? std::chrono::nanoseconds(1'750'000) : std::chrono::nanoseconds(3'500'000'000LL * bits_per_char / baud)) {}

LineSimulator::~LineSimulator() {
    stop();
    for (auto& p : ports_) close_pty(*p);
}

void LineSimulator::open_pty(Port& port) {
    const int m = ::posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (m < 0 || ::grantpt(m) != 0 || ::unlockpt(m) != 0) throw std::runtime_error("cannot create a pty");
    const char* name = ::ptsname(m);
    if (!name) throw std::runtime_error("ptsname failed");
    const std::string slave_path = name;
    // Keep the slave side open ourselves: the pty lives as long as the simulator wants it to,
    // whoever opens and closes it.
    const int s = ::open(slave_path.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0) throw std::runtime_error("cannot open " + slave_path);
    termios tio{};
    ::tcgetattr(s, &tio);
    ::cfmakeraw(&tio);
    ::tcsetattr(s, TCSANOW, &tio);
    port.master = m;
    port.slave = s;
    const std::string tmp = port.link + ".new";
    ::unlink(tmp.c_str());
    if (::symlink(slave_path.c_str(), tmp.c_str()) != 0 || ::rename(tmp.c_str(), port.link.c_str()) != 0) {
        throw std::runtime_error("cannot link " + port.link);
    }
}

void LineSimulator::close_pty(Port& port) {
    if (port.master >= 0) ::close(port.master);
    if (port.slave >= 0) ::close(port.slave);
    port.master = port.slave = -1;
    ::unlink(port.link.c_str());
}

std::string LineSimulator::add_port(const std::string& name) {
    auto p = std::make_unique<Port>();
    p->name = name;
    p->link = (std::filesystem::path(dir_) / name).string();
    open_pty(*p);
    ports_.push_back(std::move(p));
    return ports_.back()->link;
}

void LineSimulator::add_slave(const SimSlave& slave) {
    auto s = std::make_unique<Slave>();
    s->config = slave;
    if (s->config.turnaround.count() == 0) {
        s->config.turnaround = std::chrono::duration_cast<std::chrono::microseconds>(t35_);
    }
    slaves_.push_back(std::move(s));
}

void LineSimulator::start() {
    stop_ = false;
    thread_ = std::thread([this] { run(); });
}

void LineSimulator::stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
}

void LineSimulator::inject(std::uint8_t unit, SimFault fault) {
    std::lock_guard lock(mutex_);
    for (auto& s : slaves_) {
        if (s->config.unit == unit) s->faults.push_back(fault);
    }
}

void LineSimulator::set_silent(std::uint8_t unit, bool silent) {
    std::lock_guard lock(mutex_);
    for (auto& s : slaves_) {
        if (s->config.unit == unit) s->config.silent = silent;
    }
}

void LineSimulator::recreate_port(const std::string& name, std::chrono::milliseconds gone_for) {
    std::lock_guard lock(mutex_);
    for (auto& p : ports_) {
        if (p->name == name) {
            p->close_requested = true;
            p->reopen_at = clock::now() + gone_for;
        }
    }
}

SimPortStats LineSimulator::port_stats(const std::string& name) const {
    std::lock_guard lock(mutex_);
    for (const auto& p : ports_) {
        if (p->name == name) return p->stats;
    }
    return {};
}

std::uint64_t LineSimulator::requests_answered(std::uint8_t unit) const {
    std::lock_guard lock(mutex_);
    std::uint64_t n = 0;
    for (const auto& s : slaves_) {
        if (s->config.unit == unit) n += s->answered;
    }
    return n;
}

std::uint64_t LineSimulator::faults_applied() const {
    std::lock_guard lock(mutex_);
    return faults_applied_;
}

void LineSimulator::transmit(int from, const std::uint8_t* bytes, std::size_t n, clock::time_point earliest) {
    for (std::size_t i = 0; i < n; ++i) {
        const auto start = std::max(bus_free_, earliest);
        bus_free_ = start + char_time_;
        bus_.push_back({bus_free_, bytes[i], from});
    }
}

void LineSimulator::slave_receive(Slave& s, std::uint8_t byte, clock::time_point at) {
    // A frame starts after silence (the time between the end of one byte and the end of the
    // next, less the byte's own time): 90% of t3.5 allows for rounding.
    const auto silence = at - s.last_at - char_time_;
    if (silence >= t35_ * 9 / 10) s.frame.clear();
    s.last_at = at;
    if (s.frame.size() < 300) s.frame.push_back(byte);
    if (s.frame.size() != 8 || s.frame[0] != s.config.unit || !ingest::modbus_crc_ok(s.frame)) return;
    const std::uint8_t fc = s.frame[1];
    if (fc < 1 || fc > 4) return;
    const auto address = static_cast<std::uint32_t>(s.frame[2] << 8 | s.frame[3]);
    const auto count = static_cast<std::uint32_t>(s.frame[4] << 8 | s.frame[5]);
    const auto table = static_cast<core::ModbusTable>(fc);

    std::optional<SimFault> fault;
    {
        std::lock_guard lock(mutex_);
        if (s.config.silent) return;
        if (!s.faults.empty()) {
            fault = s.faults.front();
            s.faults.pop_front();
            ++faults_applied_;
        }
        if (!fault) ++s.answered;
    }
    Bytes body{s.config.unit, fc};
    const bool bits = core::is_bit_table(table);
    if (count == 0 || count > (bits ? 2000u : 125u) || address + count > s.config.size) {
        body = {s.config.unit, static_cast<std::uint8_t>(fc | 0x80), 0x02};
    } else if (bits) {
        Bytes data((count + 7) / 8, 0);
        for (std::uint32_t i = 0; i < count; ++i) {
            if (bit_value(table, s.config.unit, address + i)) data[i / 8] = static_cast<std::uint8_t>(data[i / 8] | 1u << (i % 8));
        }
        body.push_back(static_cast<std::uint8_t>(data.size()));
        body.insert(body.end(), data.begin(), data.end());
    } else {
        body.push_back(static_cast<std::uint8_t>(2 * count));
        for (std::uint32_t i = 0; i < count; ++i) {
            const auto v = register_value(table, s.config.unit, address + i);
            body.push_back(static_cast<std::uint8_t>(v >> 8));
            body.push_back(static_cast<std::uint8_t>(v & 0xFF));
        }
    }
    Bytes out = with_crc(body);
    if (fault) {
        switch (*fault) {
            case SimFault::silent: return;
            case SimFault::garbage: out = {0xFF, 0x00, 0x13, 0x37, 0xAA, 0x55, 0x00, 0xFF}; break;
            case SimFault::truncated: out.resize(out.size() / 2); break;
            case SimFault::bad_crc: out.back() ^= 0x5A; break;
            case SimFault::wrong_unit:
                body[0] = static_cast<std::uint8_t>(s.config.unit + 1);
                out = with_crc(body);
                break;
            case SimFault::exception: out = with_crc({s.config.unit, static_cast<std::uint8_t>(fc | 0x80), 0x04}); break;
        }
    }
    std::size_t index = 0;
    for (; index < slaves_.size(); ++index) {
        if (slaves_[index].get() == &s) break;
    }
    transmit(-1 - static_cast<int>(index), out.data(), out.size(), at + s.config.turnaround);
}

void LineSimulator::run() {
    ::prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);  // wake up on time: byte timing is the point
    std::vector<pollfd> fds;
    std::vector<std::size_t> fd_port;
    std::vector<Bytes> outgoing(ports_.size());
    std::array<std::uint8_t, 512> buffer{};
    while (!stop_) {
        auto now = clock::now();
        {
            std::lock_guard lock(mutex_);
            for (auto& p : ports_) {
                if (p->close_requested) {
                    close_pty(*p);
                    p->close_requested = false;
                }
                if (p->reopen_at <= now) {
                    open_pty(*p);
                    p->reopen_at = clock::time_point::max();
                }
            }
        }
        // Bytes whose last bit has gone out reach everyone else now.
        for (auto& o : outgoing) o.clear();
        while (!bus_.empty() && bus_.front().at <= now) {
            const Pending p = bus_.front();
            bus_.pop_front();
            if (now - p.at > t35_ / 2) late_deliveries_.fetch_add(1);
            for (std::size_t i = 0; i < ports_.size(); ++i) {
                if (static_cast<int>(i) != p.from && ports_[i]->master >= 0) outgoing[i].push_back(p.byte);
            }
            for (std::size_t i = 0; i < slaves_.size(); ++i) {
                if (-1 - static_cast<int>(i) != p.from) slave_receive(*slaves_[i], p.byte, p.at);
            }
        }
        for (std::size_t i = 0; i < ports_.size(); ++i) {
            if (outgoing[i].empty()) continue;
            const ssize_t w = ::write(ports_[i]->master, outgoing[i].data(), outgoing[i].size());
            std::lock_guard lock(mutex_);
            const auto written = w > 0 ? static_cast<std::size_t>(w) : 0;
            ports_[i]->stats.bytes_to_port += written;
            ports_[i]->stats.dropped_to_port += outgoing[i].size() - written;
        }
        // Sleep until the next byte is due (or something is written to a port).
        fds.clear();
        fd_port.clear();
        for (std::size_t i = 0; i < ports_.size(); ++i) {
            if (ports_[i]->master < 0) continue;
            fds.push_back({ports_[i]->master, POLLIN, 0});
            fd_port.push_back(i);
        }
        now = clock::now();
        auto wait = std::chrono::nanoseconds(20ms);
        if (!bus_.empty()) wait = std::min(wait, std::chrono::duration_cast<std::chrono::nanoseconds>(bus_.front().at - now));
        if (wait.count() < 0) wait = std::chrono::nanoseconds(0);
        const timespec ts{static_cast<time_t>(wait.count() / 1'000'000'000), static_cast<long>(wait.count() % 1'000'000'000)};
        const int ready = ::ppoll(fds.data(), fds.size(), &ts, nullptr);
        if (ready <= 0) continue;
        now = clock::now();
        for (std::size_t k = 0; k < fds.size(); ++k) {
            if (!(fds[k].revents & POLLIN)) continue;
            Port& port = *ports_[fd_port[k]];
            const ssize_t n = ::read(port.master, buffer.data(), buffer.size());
            if (n <= 0) continue;
            {
                std::lock_guard lock(mutex_);
                port.stats.bytes_from_port += static_cast<std::uint64_t>(n);
            }
            transmit(static_cast<int>(fd_port[k]), buffer.data(), static_cast<std::size_t>(n), now);
        }
    }
}

}  // namespace outpost::test
