#pragma once
// Feeds a mosquitto_sub capture (see capture_line.hpp) to the audit, line by line. The thin I/O
// shell around parse_capture_line and SequenceAudit: a bad line is counted, never fatal.
#include <istream>

#include "sequence_audit.hpp"

namespace outpost::audit {

void read_capture(std::istream& in, SequenceAudit& audit);

}  // namespace outpost::audit
