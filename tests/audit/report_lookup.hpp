#pragma once
// For the audit's tests: one gateway's part of a report, by its id.
#include <stdexcept>
#include <string>

#include "audit/audit_report.hpp"

namespace outpost::audit {

inline const GatewayReport& gateway(const AuditReport& r, const std::string& gw) {
    for (const auto& g : r.gateways) {
        if (g.gw == gw) return g;
    }
    throw std::runtime_error("no gateway " + gw);
}

}  // namespace outpost::audit
