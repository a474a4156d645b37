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
Mapping load_mapping_file(const std::string& file, const MappingContext& context, core::ConfigIssues& issues);

}  // namespace outpost::mapping
