#pragma once
// How one Modbus transaction ended, as a value: what the framers report and the counters count.
#include <cstdint>

namespace outpost::ingest {

enum class ModbusOutcome : std::uint8_t {
    ok,          // a valid response with data
    exception,   // a valid exception response (the device is alive but refused)
    timeout,     // no byte of a response before the deadline
    truncated,   // some bytes, then silence before the frame was complete
    crc_error,   // a complete frame whose CRC is wrong
    wrong_unit,  // a complete, valid frame from another unit id
    malformed,   // a complete frame that does not answer the request (function, byte count, length, garbage)
    io_error,    // the port or connection failed during the transaction
};
const char* to_string(ModbusOutcome outcome) noexcept;

}  // namespace outpost::ingest
