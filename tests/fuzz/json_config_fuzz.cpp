// Fuzz target: a configuration or mapping file's JSON. Any bytes must be parsed or reported as
// configuration problems (syntax, number overflow, duplicate keys, nesting, a root that is not an
// object), never crash, and the reader's accessors must cope with whatever document results.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "outpost/core/json_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace outpost::core;
    ConfigIssues issues;
    const auto json = parse_json_text({reinterpret_cast<const char*>(data), size}, "fuzz.json", issues);
    if (json.is_null()) {
        if (issues.empty()) __builtin_trap();  // a refused document always says why
        return 0;
    }
    if (!json.is_object()) __builtin_trap();
    JsonReader root(json, "fuzz.json", "", issues);
    root.integer("port", 1883, 1, 65535);
    root.require_id("id", 0, 0x1FFFFFFF);
    root.number("factor", 1.0);
    root.string("name", "");
    root.boolean("enabled", true);
    if (auto child = root.child("broker")) {
        child->choice("protocol", "mqtt5", {"mqtt5", "mqtt3.1.1"});
        child->finish();
    }
    if (const auto* list = root.array("buses", false)) {
        for (std::size_t i = 0; i < list->size(); ++i) {
            JsonReader r((*list)[i], "fuzz.json", "/buses/" + std::to_string(i), issues);
            r.require_integer("baud", 300, 4'000'000);
            r.finish();
        }
    }
    root.finish();
    return 0;
}
