#pragma once
#include "outpost/core/modbus_block.hpp"

namespace outpost::ingest {

// Where a Modbus master (or a listen-only tap) hands the data of each successful read.
// Called on the io_context thread; must not block.
class ModbusSink {
public:
    virtual ~ModbusSink() = default;
    virtual void on_modbus(const core::ModbusBlock& block) = 0;
};

}  // namespace outpost::ingest
