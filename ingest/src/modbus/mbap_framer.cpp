#include "outpost/ingest/modbus/mbap_framer.hpp"

#include <algorithm>

namespace outpost::ingest {

std::span<const std::uint8_t> MbapFramer::begin(const ModbusRead& read) noexcept {
    read_ = read;
    tid_ = next_tid_++;
    request_[0] = static_cast<std::uint8_t>(tid_ >> 8);
    request_[1] = static_cast<std::uint8_t>(tid_ & 0xFF);
    request_[2] = 0;
    request_[3] = 0;
    request_[4] = 0;
    request_[5] = 1 + modbus_read_request_pdu_size;
    request_[6] = read.unit;
    const auto pdu = encode_read_request(read);
    std::copy(pdu.begin(), pdu.end(), request_.begin() + header_size);
    size_ = 0;
    expected_ = 0;
    complete_ = false;
    started_ = true;
    desync_ = nullptr;
    return request_;
}

std::size_t MbapFramer::feed(std::span<const std::uint8_t> bytes) noexcept {
    std::size_t used = 0;
    while (!complete_ && used < bytes.size()) {
        const std::size_t want = expected_ ? expected_ - size_ : header_size - size_;
        const std::size_t take = std::min(want, bytes.size() - used);
        std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(used), take, buffer_.begin() + static_cast<std::ptrdiff_t>(size_));
        size_ += take;
        used += take;
        if (expected_ == 0 && size_ == header_size) {
            const std::uint16_t protocol = read_be16(&buffer_[2]);
            const std::uint16_t length = read_be16(&buffer_[4]);
            if (protocol != 0) {
                desync_ = "protocol id is not 0";
            } else if (length < 2 || length > 1 + modbus_max_pdu_size) {
                desync_ = "length field out of range";
            }
            if (desync_) {
                complete_ = true;
                break;
            }
            expected_ = header_size - 1 + length;
        }
        if (expected_ != 0 && size_ == expected_) {
            if (!started_ || read_be16(&buffer_[0]) != tid_) {
                // An answer to a transaction we gave up on (or unsolicited): drop it, keep waiting.
                ++stale_;
                size_ = 0;
                expected_ = 0;
                continue;
            }
            complete_ = true;
        }
    }
    return used;
}

MbapResult MbapFramer::result() const noexcept {
    MbapResult r;
    if (!complete_) return expire();
    r.unit = buffer_[6];
    if (desync_) {
        r.outcome = ModbusOutcome::malformed;
        r.desync = true;
        r.error = desync_;
        return r;
    }
    if (buffer_[6] != read_.unit) {
        r.outcome = ModbusOutcome::wrong_unit;
        return r;
    }
    const auto pdu = decode_read_response(read_, std::span<const std::uint8_t>(buffer_.data() + header_size, size_ - header_size));
    switch (pdu.status) {
        case PduStatus::ok:
            r.outcome = ModbusOutcome::ok;
            r.data = pdu.data;
            break;
        case PduStatus::exception:
            r.outcome = ModbusOutcome::exception;
            r.exception = pdu.exception;
            break;
        case PduStatus::malformed:
            r.outcome = ModbusOutcome::malformed;
            r.error = pdu.error;
            break;
    }
    return r;
}

MbapResult MbapFramer::expire() const noexcept {
    MbapResult r;
    if (size_ == 0) {
        r.outcome = ModbusOutcome::timeout;
    } else {
        r.outcome = ModbusOutcome::truncated;
        r.error = "the response stopped before its end";
        r.desync = true;  // the rest may still arrive and would be misread as a new header
    }
    return r;
}

}  // namespace outpost::ingest
