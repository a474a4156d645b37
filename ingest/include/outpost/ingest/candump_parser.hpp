#pragma once
// Parser for one line of a `candump -l` log (Sans-I/O):
//   (1700000000.123456) can0 123#DEADBEEF         classic CAN, 11-bit id
//   (1700000000.123456) can0 18FF50E5#0102        29-bit id (8 hex digits)
//   (1700000000.123456) can0 123#R  / 123#R3      remote frame (optional DLC)
//   (1700000000.123456) can0 123##1DEADBEEF       CAN FD, flags nibble after ##
//   (1700000000.123456) can0 123#1122334455667788_9   classic with len8_dlc suffix
// Error frames are 8-digit ids with CAN_ERR_FLAG (0x20000000) set.
#include <string_view>

#include "outpost/core/can_frame.hpp"

namespace outpost::ingest {

enum class CandumpLineKind { frame, blank, malformed };

struct CandumpLine {
    CandumpLineKind kind = CandumpLineKind::malformed;
    std::string_view interface;   // points into the parsed line
    const char* error = nullptr;  // static text saying what is wrong, when malformed
};

// Parses `line` (without its newline) into `frame`. Never throws; any input is safe.
CandumpLine parse_candump_line(std::string_view line, core::CanFrame& frame) noexcept;

}  // namespace outpost::ingest
