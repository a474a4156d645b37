#include "outpost/ingest/modbus/rtu_sniffer.hpp"

#include <algorithm>
#include <cstring>

#include "outpost/ingest/modbus/crc16.hpp"
#include "outpost/ingest/modbus/rtu_framer.hpp"

namespace outpost::ingest {

void RtuSniffer::consume(std::size_t n) noexcept {
    n = std::min(n, size_);
    std::memmove(buffer_.data(), buffer_.data() + n, size_ - n);
    size_ -= n;
}

void RtuSniffer::end_partial(std::int64_t timestamp_ns, FrameDirection direction, ModbusSink& sink) {
    if (size_ == 0) return;
    ++stats_.incomplete;
    // Skip the byte that started the partial frame and look again: a whole frame may follow it.
    while (size_ > 0) {
        ++stats_.noise_bytes;
        consume(1);
        parse(timestamp_ns, direction, sink);
    }
}

void RtuSniffer::idle(std::int64_t now_ns, ModbusSink& sink) {
    if (size_ > 0 && now_ns - last_byte_ns_ >= options_.frame_gap_ns) end_partial(last_byte_ns_, FrameDirection::unknown, sink);
}

void RtuSniffer::feed(std::int64_t timestamp_ns, std::span<const std::uint8_t> bytes, ModbusSink& sink) {
    if (bytes.empty()) return;
    if (size_ > 0 && timestamp_ns - last_byte_ns_ >= options_.frame_gap_ns) {
        end_partial(last_byte_ns_, FrameDirection::unknown, sink);
    }
    last_byte_ns_ = timestamp_ns;
    while (!bytes.empty()) {
        const std::size_t take = std::min(bytes.size(), capacity - size_);
        std::memcpy(buffer_.data() + size_, bytes.data(), take);
        size_ += take;
        bytes = bytes.subspan(take);
        parse(timestamp_ns, FrameDirection::unknown, sink);
    }
}

void RtuSniffer::feed_frame(std::int64_t timestamp_ns, std::span<const std::uint8_t> frame, FrameDirection direction,
                            ModbusSink& sink) {
    end_partial(last_byte_ns_, FrameDirection::unknown, sink);
    last_byte_ns_ = timestamp_ns;
    frame = frame.first(std::min(frame.size(), capacity));
    std::memcpy(buffer_.data(), frame.data(), frame.size());
    size_ = frame.size();
    parse(timestamp_ns, direction, sink);
    end_partial(timestamp_ns, direction, sink);
}

RtuSniffer::Match RtuSniffer::try_response(std::int64_t timestamp_ns, ModbusSink& sink) {
    if (!pending_) return Match::no;
    if (timestamp_ns - request_ns_ > options_.response_timeout_ns) {
        pending_ = false;
        ++stats_.unanswered;
        return Match::no;
    }
    if (size_ < 1) return Match::need_more;
    if (buffer_[0] != request_.unit) return Match::no;
    if (size_ < 2) return Match::need_more;
    const std::uint8_t fc = request_.function();
    if (buffer_[1] != fc && buffer_[1] != (fc | 0x80u)) return Match::no;
    const std::size_t len = rtu_response_length({buffer_.data(), size_});
    if (len == 0) return Match::need_more;
    if (len == SIZE_MAX) return Match::no;
    if (size_ < len) return Match::need_more;
    const std::span<const std::uint8_t> frame(buffer_.data(), len);
    if (!modbus_crc_ok(frame)) return Match::no;
    const auto pdu = decode_read_response(request_, frame.subspan(1, len - 3));
    pending_ = false;
    if (pdu.status == PduStatus::malformed) {
        ++stats_.mismatched;
    } else {
        ++stats_.responses;
        if (pdu.status == PduStatus::exception) {
            ++stats_.exceptions;
        } else if (make_block(request_, pdu.data, options_.bus, timestamp_ns, block_)) {
            ++stats_.blocks;
            consume(len);
            sink.on_modbus(block_);
            return Match::yes;
        }
    }
    consume(len);
    return Match::yes;
}

RtuSniffer::Match RtuSniffer::try_request(std::int64_t timestamp_ns) {
    if (size_ >= 2 && (buffer_[1] < 1 || buffer_[1] > 4)) return Match::no;
    if (size_ < RtuFramer::request_size) return Match::need_more;
    const std::span<const std::uint8_t> frame(buffer_.data(), RtuFramer::request_size);
    ModbusRead read;
    if (!modbus_crc_ok(frame) || !decode_read_request(frame[0], frame.subspan(1, 5), read)) return Match::no;
    if (pending_) ++stats_.unanswered;
    request_ = read;
    request_ns_ = timestamp_ns;
    pending_ = true;
    ++stats_.requests;
    consume(RtuFramer::request_size);
    return Match::yes;
}

RtuSniffer::Match RtuSniffer::try_unpaired() {
    const std::size_t len = rtu_response_length({buffer_.data(), size_});
    if (len == 0) return Match::need_more;
    if (len == SIZE_MAX) return Match::no;
    if (size_ < len) return Match::need_more;
    if (!modbus_crc_ok({buffer_.data(), len})) return Match::no;
    ++stats_.unpaired;
    consume(len);
    return Match::yes;
}

void RtuSniffer::parse(std::int64_t timestamp_ns, FrameDirection direction, ModbusSink& sink) {
    while (size_ > 0) {
        Match response = Match::no;
        Match request = Match::no;
        if (direction != FrameDirection::request) {
            response = try_response(timestamp_ns, sink);
            if (response == Match::yes) continue;
        }
        if (direction != FrameDirection::response) {
            request = try_request(timestamp_ns);
            if (request == Match::yes) continue;
        }
        if (direction != FrameDirection::request) {
            if (try_unpaired() == Match::yes) continue;
        }
        // A response nobody asked for is only counted when it is already whole: waiting for one
        // (its length read from what may be garbage) would hold up the frames behind it.
        const bool could_grow = response == Match::need_more || request == Match::need_more;
        if (could_grow && size_ < capacity / 2) return;  // wait for more bytes (a frame is at most 256)
        // Nothing can start here: skip one byte and look again.
        ++stats_.noise_bytes;
        consume(1);
    }
}

}  // namespace outpost::ingest
