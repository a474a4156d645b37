#include "outpost/ingest/modbus/rtu_framer.hpp"

#include <algorithm>
#include <cstdint>

#include "outpost/ingest/modbus/crc16.hpp"

namespace outpost::ingest {

std::size_t rtu_response_length(std::span<const std::uint8_t> head) noexcept {
    if (head.size() < 2) return 0;
    const std::uint8_t fc = head[1];
    if (fc & 0x80u) {
        const std::uint8_t base = fc & 0x7Fu;
        return base >= 1 && base <= 4 ? 5 : SIZE_MAX;  // unit, fc|0x80, code, CRC
    }
    if (fc < 1 || fc > 4) return SIZE_MAX;
    if (head.size() < 3) return 0;
    if (head[2] > core::ModbusBlock::max_data) return SIZE_MAX;  // no read response carries more than 250 bytes
    return 3u + head[2] + 2u;  // unit, fc, byte count, data, CRC: at most 255
}

std::span<const std::uint8_t> RtuFramer::begin(const ModbusRead& read) noexcept {
    read_ = read;
    request_[0] = read.unit;
    const auto pdu = encode_read_request(read);
    std::copy(pdu.begin(), pdu.end(), request_.begin() + 1);
    const std::uint16_t crc = modbus_crc16(std::span<const std::uint8_t>(request_.data(), 6));
    request_[6] = static_cast<std::uint8_t>(crc & 0xFF);
    request_[7] = static_cast<std::uint8_t>(crc >> 8);
    size_ = 0;
    expected_ = 0;
    complete_ = false;
    malformed_ = nullptr;
    return request_;
}

std::size_t RtuFramer::missing() const noexcept {
    if (complete_) return 0;
    if (expected_ == 0) return size_ < 2 ? 2 - size_ : 1;
    return expected_ - size_;
}

std::size_t RtuFramer::feed(std::span<const std::uint8_t> bytes) noexcept {
    std::size_t used = 0;
    while (!complete_ && used < bytes.size()) {
        const std::size_t want = expected_ ? expected_ - size_ : 1;
        const std::size_t take = std::min(want, bytes.size() - used);
        std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(used), take, buffer_.begin() + static_cast<std::ptrdiff_t>(size_));
        size_ += take;
        used += take;
        if (expected_ == 0) {
            const std::size_t len = rtu_response_length({buffer_.data(), size_});
            if (len == SIZE_MAX) {
                malformed_ = "function code no read response carries";
                complete_ = true;
            } else if (len != 0) {
                expected_ = len;
            }
        }
        if (expected_ != 0 && size_ == expected_) complete_ = true;
    }
    return used;
}

RtuResult RtuFramer::result() const noexcept {
    RtuResult r;
    r.unit = size_ > 0 ? buffer_[0] : 0;
    if (!complete_) return expire();
    if (malformed_) {
        r.outcome = ModbusOutcome::malformed;
        r.error = malformed_;
        return r;
    }
    const std::span<const std::uint8_t> frame(buffer_.data(), size_);
    if (!modbus_crc_ok(frame)) {
        r.outcome = ModbusOutcome::crc_error;
        return r;
    }
    if (frame[0] != read_.unit) {
        r.outcome = ModbusOutcome::wrong_unit;
        return r;
    }
    const auto pdu = decode_read_response(read_, frame.subspan(1, size_ - 3));
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

RtuResult RtuFramer::expire() const noexcept {
    RtuResult r;
    r.unit = size_ > 0 ? buffer_[0] : 0;
    if (size_ == 0) {
        r.outcome = ModbusOutcome::timeout;
    } else {
        r.outcome = ModbusOutcome::truncated;
        r.error = "the frame stopped before its end";
    }
    return r;
}

}  // namespace outpost::ingest
