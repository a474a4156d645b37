#pragma once
// A strict reader for the CBOR items (RFC 8949) the compact batch is made of: integers, text,
// definite-length arrays, null and floats. Anything else (byte strings, maps, tags, indefinite
// lengths, reserved values) is a wrong type for it. Sans-I/O over a view it does not own; never
// throws; every length is checked against the bytes that are left before it is believed.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace outpost::uplink {

// RFC 3629: no overlong form, no surrogate, nothing above U+10FFFF (what Python's strict codec accepts).
bool valid_utf8(std::string_view text) noexcept;

class CborReader {
public:
    enum class Kind { unsigned_integer, negative_integer, text, array, null, floating, other, end };

    explicit CborReader(std::string_view in) noexcept : in_(in) {}

    std::size_t remaining() const noexcept { return in_.size() - pos_; }
    std::size_t position() const noexcept { return pos_; }
    // What the next item is, without reading it (`other` also for a damaged or truncated head).
    Kind peek() const noexcept;

    // Each reads one item of its kind and is false, having read nothing, for anything else.
    bool read_unsigned(std::uint64_t& value) noexcept;
    // An integer of either sign: the value is `argument`, or -1 - `argument` when `negative`.
    bool read_integer(bool& negative, std::uint64_t& argument) noexcept;
    // A text string, valid UTF-8; `text` points into the input.
    bool read_text(std::string_view& text) noexcept;
    // An array's head; `count` is at most remaining() (each item takes a byte at least).
    bool read_array(std::uint64_t& count) noexcept;
    bool read_null() noexcept;
    // A half, single or double precision float, widened exactly to a double.
    bool read_float(double& value) noexcept;

private:
    struct Head {
        std::uint8_t major = 0;
        std::uint8_t info = 0;
        std::uint64_t argument = 0;
        std::size_t size = 0;  // bytes of the head
    };
    bool head(Head& h) const noexcept;

    std::string_view in_;
    std::size_t pos_ = 0;
};

}  // namespace outpost::uplink
