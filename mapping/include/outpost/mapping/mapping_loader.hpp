#pragma once
// Loads a mapping file (JSON) into a Mapping, collecting every problem with its JSON path.
#include <string>
#include <vector>

#include "outpost/core/config_error.hpp"
#include "outpost/mapping/mapping.hpp"

namespace outpost::mapping {

struct MappingContext {
    std::string gateway_id;              // for {gateway} in topics
    std::vector<std::string> bus_names;  // the site's buses, in order; rules name them
};

// Adds problems to `issues` (never throws for content); the result is usable only if none were added.
// Sections: "defaults", "can", "dbc" (imports DBC files), "modbus" (devices and registers, with
// CSV register lists imported; see modbus_rule.hpp and register_csv.hpp). Relative DBC and CSV
// paths are relative to the mapping file.
Mapping load_mapping_file(const std::string& file, const MappingContext& context, core::ConfigIssues& issues);

// Appends the rules of `from` (loaded from `file`) to `into`, reporting at `file`'s JSON paths any
// Modbus device whose name or (bus, unit id) a file merged before already uses. A site with
// several mapping files merges them with this in order.
void merge_mapping(Mapping& into, Mapping from, const std::string& file, core::ConfigIssues& issues);

}  // namespace outpost::mapping
