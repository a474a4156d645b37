#pragma once
// Does a frame's length fit its message (Sans-I/O)? A length mismatch usually means another node
// with the same id, another firmware, or a corrupt frame: decoding half a frame would publish
// readings nobody sent, so such a frame is rejected whole unless the message accepts short frames.
#include <cstddef>
#include <optional>

namespace outpost::mapping {

enum class FrameLength {
    ok,
    short_accepted,  // shorter than the message, which accepts short frames: decode what is inside
    too_short,
    too_long,
};
const char* to_string(FrameLength verdict) noexcept;

// The data length a CAN FD frame carrying `bytes` has on the wire (0..8, 12, 16, 20, 24, 32, 48, 64).
std::size_t fd_padded_length(std::size_t bytes) noexcept;

// `declared`: the message's length, if it has one; `needed`: the bytes its signals need;
// `len`/`fd`: the frame's. With a declared length the frame must have exactly that many bytes
// (a CAN FD frame may be padded to the next FD length); without one it must hold every signal.
FrameLength check_frame_length(std::optional<std::size_t> declared, std::size_t needed, bool accept_short,
                               std::size_t len, bool fd) noexcept;

}  // namespace outpost::mapping
