#include "outpost/ingest/modbus/modbus_outcome.hpp"

namespace outpost::ingest {

const char* to_string(ModbusOutcome outcome) noexcept {
    switch (outcome) {
        case ModbusOutcome::ok: return "ok";
        case ModbusOutcome::exception: return "exception";
        case ModbusOutcome::timeout: return "timeout";
        case ModbusOutcome::truncated: return "truncated";
        case ModbusOutcome::crc_error: return "crc_error";
        case ModbusOutcome::wrong_unit: return "wrong_unit";
        case ModbusOutcome::malformed: return "malformed";
        case ModbusOutcome::io_error: return "io_error";
    }
    return "unknown";
}

}  // namespace outpost::ingest
