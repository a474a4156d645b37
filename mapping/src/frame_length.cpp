#include "outpost/mapping/frame_length.hpp"

#include <array>

namespace outpost::mapping {

const char* to_string(FrameLength verdict) noexcept {
    switch (verdict) {
        case FrameLength::ok: return "ok";
        case FrameLength::short_accepted: return "short_accepted";
        case FrameLength::too_short: return "too_short";
        case FrameLength::too_long: return "too_long";
    }
    return "unknown";
}

std::size_t fd_padded_length(std::size_t bytes) noexcept {
    if (bytes <= 8) return bytes;
    for (const std::size_t n : std::array<std::size_t, 7>{12, 16, 20, 24, 32, 48, 64}) {
        if (bytes <= n) return n;
    }
    return bytes;
}

FrameLength check_frame_length(std::optional<std::size_t> declared, std::size_t needed, bool accept_short,
                               std::size_t len, bool fd) noexcept {
    if (!declared) {
        if (len >= needed) return FrameLength::ok;
        return accept_short ? FrameLength::short_accepted : FrameLength::too_short;
    }
    if (len == *declared || (fd && len == fd_padded_length(*declared))) return FrameLength::ok;
    if (len > *declared) return FrameLength::too_long;
    return accept_short ? FrameLength::short_accepted : FrameLength::too_short;
}

}  // namespace outpost::mapping
