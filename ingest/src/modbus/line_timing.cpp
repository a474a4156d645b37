#include "outpost/ingest/modbus/line_timing.hpp"

namespace outpost::ingest {

const char* to_string(SerialParity parity) noexcept {
    switch (parity) {
        case SerialParity::none: return "none";
        case SerialParity::even: return "even";
        case SerialParity::odd: return "odd";
    }
    return "unknown";
}

}  // namespace outpost::ingest
