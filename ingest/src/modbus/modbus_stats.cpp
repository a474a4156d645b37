#include "outpost/ingest/modbus/modbus_stats.hpp"

namespace outpost::ingest {

void ModbusCounters::count(ModbusOutcome outcome, ModbusException exception) noexcept {
    switch (outcome) {
        case ModbusOutcome::ok: ++responses; break;
        case ModbusOutcome::exception: {
            ++exceptions;
            const auto code = static_cast<std::size_t>(exception);
            ++exceptions_by_code[code < exceptions_by_code.size() ? code : 0];
            break;
        }
        case ModbusOutcome::timeout: ++timeouts; break;
        case ModbusOutcome::truncated: ++truncated; break;
        case ModbusOutcome::crc_error: ++crc_errors; break;
        case ModbusOutcome::wrong_unit: ++wrong_unit; break;
        case ModbusOutcome::malformed: ++malformed; break;
        case ModbusOutcome::io_error: ++io_errors; break;
    }
}

}  // namespace outpost::ingest
