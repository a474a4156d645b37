#pragma once
// Feeds a mosquitto_sub capture (see capture_line.hpp) to the audit, line by line. The thin I/O
// shell around parse_capture_line and SequenceAudit: a bad line is counted, never fatal, and a line
// is never held in memory beyond the limit (a capture is not trusted to be a capture).
#include <cstddef>
#include <istream>

#include "capture_line.hpp"
#include "sequence_audit.hpp"

namespace outpost::audit {

struct CaptureOptions {
    CaptureForm form = CaptureForm::text;
    // A longer line is skipped to its end and counted as unparsable (a hex line's payload is half this).
    std::size_t max_line_bytes = 1u << 20;
};

void read_capture(std::istream& in, SequenceAudit& audit, const CaptureOptions& options = {});

}  // namespace outpost::audit
