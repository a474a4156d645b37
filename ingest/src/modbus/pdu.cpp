#include "outpost/ingest/modbus/pdu.hpp"

#include <algorithm>

namespace outpost::ingest {

const char* to_string(ModbusException code) noexcept {
    switch (code) {
        case ModbusException::illegal_function: return "illegal_function";
        case ModbusException::illegal_data_address: return "illegal_data_address";
        case ModbusException::illegal_data_value: return "illegal_data_value";
        case ModbusException::server_device_failure: return "server_device_failure";
        case ModbusException::acknowledge: return "acknowledge";
        case ModbusException::server_device_busy: return "server_device_busy";
        case ModbusException::negative_acknowledge: return "negative_acknowledge";
        case ModbusException::memory_parity_error: return "memory_parity_error";
        case ModbusException::gateway_path_unavailable: return "gateway_path_unavailable";
        case ModbusException::gateway_target_failed: return "gateway_target_failed";
    }
    return "unknown";
}

namespace {
bool is_read_function(std::uint8_t fc) noexcept { return fc >= 1 && fc <= 4; }
}  // namespace

bool is_valid(const ModbusRead& read) noexcept {
    return read.unit >= 1 && read.unit <= 247 && is_read_function(read.function()) && read.count >= 1 &&
           read.count <= modbus_read_limit(read.table) &&
           static_cast<std::uint32_t>(read.address) + read.count <= 0x10000u;
}

std::array<std::uint8_t, modbus_read_request_pdu_size> encode_read_request(const ModbusRead& read) noexcept {
    return {read.function(), static_cast<std::uint8_t>(read.address >> 8), static_cast<std::uint8_t>(read.address & 0xFF),
            static_cast<std::uint8_t>(read.count >> 8), static_cast<std::uint8_t>(read.count & 0xFF)};
}

bool decode_read_request(std::uint8_t unit, std::span<const std::uint8_t> pdu, ModbusRead& out) noexcept {
    if (pdu.size() != modbus_read_request_pdu_size || !is_read_function(pdu[0])) return false;
    ModbusRead read;
    read.unit = unit;
    read.table = static_cast<core::ModbusTable>(pdu[0]);
    read.address = read_be16(&pdu[1]);
    read.count = read_be16(&pdu[3]);
    if (!is_valid(read)) return false;
    out = read;
    return true;
}

ReadResponse decode_read_response(const ModbusRead& request, std::span<const std::uint8_t> pdu) noexcept {
    ReadResponse r;
    if (pdu.empty()) {
        r.error = "empty PDU";
        return r;
    }
    const std::uint8_t fc = request.function();
    if (pdu[0] == (fc | 0x80u)) {
        if (pdu.size() != 2) {
            r.error = "exception response is not 2 bytes";
            return r;
        }
        r.status = PduStatus::exception;
        r.exception = static_cast<ModbusException>(pdu[1]);
        return r;
    }
    if (pdu[0] != fc) {
        r.error = "function code does not match the request";
        return r;
    }
    if (pdu.size() < 2) {
        r.error = "response has no byte count";
        return r;
    }
    const std::size_t expected = modbus_data_bytes(request.table, request.count);
    if (pdu[1] != expected) {
        r.error = "byte count does not match the requested quantity";
        return r;
    }
    if (pdu.size() != 2 + expected) {
        r.error = "PDU length does not match its byte count";
        return r;
    }
    r.status = PduStatus::ok;
    r.data = pdu.subspan(2);
    return r;
}

std::size_t encode_read_response(core::ModbusTable table, std::span<const std::uint8_t> data,
                                 std::span<std::uint8_t> out) noexcept {
    if (data.size() > core::ModbusBlock::max_data || out.size() < data.size() + 2) return 0;
    out[0] = static_cast<std::uint8_t>(table);
    out[1] = static_cast<std::uint8_t>(data.size());
    std::copy(data.begin(), data.end(), out.begin() + 2);
    return data.size() + 2;
}

std::size_t encode_exception_response(std::uint8_t function, ModbusException code, std::span<std::uint8_t> out) noexcept {
    if (out.size() < 2) return 0;
    out[0] = static_cast<std::uint8_t>(function | 0x80u);
    out[1] = static_cast<std::uint8_t>(code);
    return 2;
}

bool make_block(const ModbusRead& read, std::span<const std::uint8_t> data, std::uint16_t bus,
                std::int64_t timestamp_ns, core::ModbusBlock& block) noexcept {
    if (data.size() > core::ModbusBlock::max_data) return false;
    block.bus = bus;
    block.unit = read.unit;
    block.table = read.table;
    block.address = read.address;
    block.count = read.count;
    std::copy(data.begin(), data.end(), block.data.begin());
    block.data_len = static_cast<std::uint8_t>(data.size());
    block.timestamp_ns = timestamp_ns;
    return true;
}

}  // namespace outpost::ingest
