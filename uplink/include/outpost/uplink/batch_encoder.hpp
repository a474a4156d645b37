#pragma once
// Encodes a batch of stored readings into one MQTT payload, in one of the formats of
// uplink/payload_formats.md: batched JSON or the compact CBOR form, either of them optionally
// compressed. Sans-I/O: messages in, bytes out. Not thread-safe (it keeps scratch buffers).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "outpost/core/message.hpp"
#include "outpost/uplink/compression.hpp"

namespace outpost::uplink {

enum class Encoding { json, cbor };

struct BatchFormat {
    Encoding encoding = Encoding::json;
    Compression compression = Compression::none;
    int level = 0;  // compression level; 0: the library's default
};

// A stored body in the form the mapping writes (`"ts":S.UUUUUU,"value":V[,"unit":U][,"text":T]`),
// taken apart without copies. parse_reading_body() is false for any other form (extra members,
// escaped strings), which the compact encoding then leaves to one message per reading.
struct ReadingFields {
    std::int64_t ts_us = 0;
    std::string_view value;  // a number's text, or a text value without its quotes
    bool value_is_text = false;
    std::string_view unit;
    std::string_view text;
};
bool parse_reading_body(std::string_view body, ReadingFields& out);

class BatchEncoder {
public:
    explicit BatchEncoder(BatchFormat format) : format_(format) {}

    const BatchFormat& format() const noexcept { return format_; }
    // Whether a message with this topic suffix (its topic past the group and the '/') and body can
    // travel in a batch of this format.
    bool batchable(std::string_view suffix, std::string_view body) const;
    // Replaces `out` with the payload for `messages` (all batchable, one epoch, every topic
    // starting with the group and a '/': `group_length` is the group's length). If compression
    // fails (out of memory) the payload goes uncompressed: decoders tell that from its first byte.
    void encode(std::string_view gateway, std::uint32_t epoch, std::size_t group_length,
                const std::vector<core::StoredMessage>& messages, std::string& out);

private:
    void encode_json(std::string_view gateway, std::uint32_t epoch, std::size_t group_length,
                     const std::vector<core::StoredMessage>& messages, std::string& out) const;
    void encode_cbor(std::string_view gateway, std::uint32_t epoch, std::size_t group_length,
                     const std::vector<core::StoredMessage>& messages, std::string& out);

    BatchFormat format_;
    std::string plain_;  // the uncompressed payload, when compressing
    struct Key {
        std::string_view suffix;
        std::string_view unit;
        int decimals;
    };
    std::vector<Key> keys_;
    std::vector<std::size_t> key_of_;  // per message
    std::vector<ReadingFields> fields_;
};

}  // namespace outpost::uplink
