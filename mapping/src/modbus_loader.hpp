#pragma once
// Loader internals: the "modbus" section of a mapping file (devices, their registers, CSV imports).
#include <string>

#include <nlohmann/json.hpp>

#include "outpost/core/config_error.hpp"
#include "outpost/mapping/mapping.hpp"
#include "outpost/mapping/mapping_loader.hpp"
#include "rule_settings.hpp"

namespace outpost::mapping {

// Reads `section` (the value of "modbus" in `file`) into mapping.modbus, reporting every problem
// with its JSON path (or CSV file and line).
void load_modbus_section(const nlohmann::json& section, const std::string& file, const MappingContext& context,
                         const RuleDefaults& file_defaults, core::ConfigIssues& issues, Mapping& mapping);

}  // namespace outpost::mapping
