#pragma once
// Bytes on the link, measured on the MQTT connection's own socket (TCP_INFO): TCP payload sent
// (retransmissions included: they are paid for too) and received, and segments each way, summed
// over every connection. TLS records and MQTT headers are in the payload; IP and TCP headers are
// counted per segment. Linux only; on a socket without TCP_INFO the counts stay where they are.
#include <cstdint>

namespace outpost::uplink {

// IPv4 (20) and TCP with the timestamp option (32): what each segment adds on the wire.
constexpr std::uint64_t tcp_ip_header_bytes = 52;

struct LinkCounters {
    std::uint64_t bytes_sent = 0;
    std::uint64_t bytes_received = 0;
    std::uint64_t segments_sent = 0;
    std::uint64_t segments_received = 0;
    std::uint64_t wire_bytes() const noexcept {
        return bytes_sent + bytes_received + (segments_sent + segments_received) * tcp_ip_header_bytes;
    }
};

class LinkMeter {
public:
    // A new connection's socket: its counters start from zero.
    void attach(int fd) noexcept;
    // Adds what the socket did since the last sample.
    void sample() noexcept;
    // Samples a last time and forgets the socket (before it is closed).
    void detach() noexcept;
    const LinkCounters& total() const noexcept { return total_; }

private:
    int fd_ = -1;
    LinkCounters seen_{};  // the attached socket's counters at the last sample
    LinkCounters total_{};
};

}  // namespace outpost::uplink
