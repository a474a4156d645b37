#include "outpost/ingest/candump_parser.hpp"

#include <cstdint>

namespace outpost::ingest {
namespace {

constexpr std::uint32_t err_flag = 0x20000000U;
constexpr std::uint32_t rtr_flag = 0x40000000U;
constexpr std::uint32_t eff_flag = 0x80000000U;

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool valid_fd_length(std::size_t n) noexcept {
    return n <= 8 || n == 12 || n == 16 || n == 20 || n == 24 || n == 32 || n == 48 || n == 64;
}

CandumpLine fail(const char* why) noexcept {
    return {CandumpLineKind::malformed, {}, why};
}

// "(seconds.fraction)" -> nanoseconds since the epoch.
bool parse_timestamp(std::string_view t, std::int64_t& ns) noexcept {
    if (t.size() < 3 || t.front() != '(' || t.back() != ')') return false;
    t = t.substr(1, t.size() - 2);
    const auto dot = t.find('.');
    if (dot == std::string_view::npos || dot == 0 || dot > 10) return false;
    std::int64_t secs = 0;
    for (char c : t.substr(0, dot)) {
        if (c < '0' || c > '9') return false;
        secs = secs * 10 + (c - '0');
    }
    // Nanoseconds since the epoch fit 64 bits up to ~9.2e9 s (the year 2262).
    if (secs > 9'000'000'000) return false;
    const auto frac = t.substr(dot + 1);
    if (frac.empty() || frac.size() > 9) return false;
    std::int64_t sub = 0;
    for (char c : frac) {
        if (c < '0' || c > '9') return false;
        sub = sub * 10 + (c - '0');
    }
    for (std::size_t i = frac.size(); i < 9; ++i) sub *= 10;
    ns = secs * 1'000'000'000 + sub;
    return true;
}

}  // namespace

CandumpLine parse_candump_line(std::string_view line, core::CanFrame& frame) noexcept {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty()) return {CandumpLineKind::blank, {}, nullptr};

    const auto sp1 = line.find(' ');
    if (sp1 == std::string_view::npos) return fail("expected '(timestamp) interface frame'");
    const auto sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos) return fail("expected '(timestamp) interface frame'");
    const auto ts = line.substr(0, sp1);
    const auto iface = line.substr(sp1 + 1, sp2 - sp1 - 1);
    auto text = line.substr(sp2 + 1);
    // candump -l may append a direction flag (" R" / " T"); anything else is junk.
    if (const auto sp3 = text.find(' '); sp3 != std::string_view::npos) {
        const auto rest = text.substr(sp3 + 1);
        if (rest != "R" && rest != "T") return fail("unexpected text after the frame");
        text = text.substr(0, sp3);
    }

    core::CanFrame f{};
    if (!parse_timestamp(ts, f.timestamp_ns)) return fail("bad timestamp, expected (seconds.microseconds)");
    if (iface.empty() || iface.size() > 15) return fail("bad interface name");

    const auto hash = text.find('#');
    if (hash == std::string_view::npos) return fail("no '#' between id and data");
    const auto id_text = text.substr(0, hash);
    if (id_text.size() != 3 && id_text.size() != 8) return fail("id must be 3 (standard) or 8 (extended) hex digits");
    std::uint32_t raw_id = 0;
    for (char c : id_text) {
        const int v = hex_value(c);
        if (v < 0) return fail("id is not hexadecimal");
        raw_id = (raw_id << 4) | static_cast<std::uint32_t>(v);
    }
    if (id_text.size() == 3) {
        if (raw_id > 0x7FF) return fail("standard id above 0x7FF");
        f.id = raw_id;
    } else {
        f.error = (raw_id & err_flag) != 0;
        if (raw_id & (rtr_flag | eff_flag)) return fail("flag bits set in an extended id");
        f.id = raw_id & 0x1FFFFFFFU;
        f.extended = !f.error;
    }

    auto data = text.substr(hash + 1);
    if (!data.empty() && data.front() == '#') {
        // CAN FD: one hex digit of flags, then data.
        f.fd = true;
        data.remove_prefix(1);
        if (data.empty()) return fail("CAN FD frame without its flags digit");
        const int flags = hex_value(data.front());
        if (flags < 0) return fail("CAN FD flags digit is not hexadecimal");
        f.fd_flags = static_cast<std::uint8_t>(flags);
        data.remove_prefix(1);
    } else if (!data.empty() && (data.front() == 'R' || data.front() == 'r')) {
        f.remote = true;
        data.remove_prefix(1);
        if (data.size() == 1) {
            const int dlc = hex_value(data.front());
            if (dlc < 0 || dlc > 8) return fail("remote frame DLC must be 0..8");
            f.len = static_cast<std::uint8_t>(dlc);
        } else if (!data.empty()) {
            return fail("junk after remote frame marker");
        }
        frame = f;
        return {CandumpLineKind::frame, iface, nullptr};
    }

    if (!f.fd) {
        // Classic CAN may carry a len8_dlc suffix "_X" (DLC 9..F on an 8-byte frame).
        if (const auto us = data.find('_'); us != std::string_view::npos) {
            const auto dlc = data.substr(us + 1);
            if (dlc.size() != 1 || hex_value(dlc.front()) < 9) return fail("bad len8_dlc suffix");
            data = data.substr(0, us);
            if (data.size() != 16) return fail("len8_dlc suffix on a frame that is not 8 bytes long");
        }
    }
    std::size_t n = 0;
    for (std::size_t i = 0; i < data.size();) {
        if (data[i] == '.') {  // candump accepts '.' between bytes
            ++i;
            continue;
        }
        if (i + 1 >= data.size()) return fail("odd number of hex digits in data");
        const int hi = hex_value(data[i]);
        const int lo = hex_value(data[i + 1]);
        if (hi < 0 || lo < 0) return fail("data is not hexadecimal");
        if (n >= (f.fd ? core::CanFrame::max_data : 8)) {
            return fail(f.fd ? "CAN FD data longer than 64 bytes" : "classic CAN data longer than 8 bytes");
        }
        f.data[n++] = static_cast<std::uint8_t>((hi << 4) | lo);
        i += 2;
    }
    if (f.fd && !valid_fd_length(n)) return fail("CAN FD data length is not a valid DLC length");
    f.len = static_cast<std::uint8_t>(n);
    frame = f;
    return {CandumpLineKind::frame, iface, nullptr};
}

}  // namespace outpost::ingest
