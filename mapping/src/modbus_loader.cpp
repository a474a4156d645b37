#include "modbus_loader.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <numeric>
#include <set>
#include <tuple>

#include "outpost/core/json_reader.hpp"
#include "outpost/mapping/register_csv.hpp"

namespace outpost::mapping {
namespace {

// Where a register was defined, for problems found once the whole device is known.
struct Origin {
    std::string file;
    std::string path;  // JSON path of the register, or "line N" of a CSV register list
    bool csv = false;
    bool sound = true;  // its place and encoding passed their own checks: worth comparing with others
};

void report(core::ConfigIssues& issues, const Origin& origin, std::string_view field, std::string message) {
    if (origin.csv) {
        issues.add(origin.file, origin.path, std::move(message));
    } else {
        issues.add(origin.file, origin.path + "/" + std::string(field), std::move(message));
    }
}

std::map<std::string, std::string> placeholders(const MappingContext& context, const ModbusDeviceRule& device,
                                                const std::string& register_name) {
    const auto bus = device.bus < context.bus_names.size() ? context.bus_names[device.bus] : std::string("?");
    return {{"gateway", context.gateway_id}, {"bus", bus},
            {"device", device.name},        {"message", device.name},
            {"register", register_name},    {"signal", register_name},
            {"unit_id", std::to_string(device.unit)}};
}

// Publishing settings of a register, from `r` over `defaults`: topic, priority, QoS, retain, rate,
// poll_ms, unit, decimals, min/max, value table. The same for JSON registers and CSV overrides.
void read_register_settings(core::JsonReader& r, RegisterRule& reg, const RuleDefaults& defaults,
                            const MappingContext& context, const ModbusDeviceRule& device) {
    const RuleDefaults own = read_defaults(r, defaults);
    reg.poll_ms = r.integer("poll_ms", reg.poll_ms, 1, 86'400'000);
    reg.unit = read_unit(r, reg.unit);
    if (r.has("decimals")) reg.decimals = static_cast<int>(r.require_integer("decimals", -1, 9).value_or(reg.decimals));
    if (r.has("min")) reg.minimum = r.require_number("min");
    if (r.has("max")) reg.maximum = r.require_number("max");
    if (reg.minimum && reg.maximum && *reg.minimum > *reg.maximum) r.issue("max", "is below min");
    read_value_names(r, reg.value_names);
    if (reg.spec.type == RegisterType::string) {
        if (r.has("min") || r.has("max")) r.issue(r.has("min") ? "min" : "max", "a string has no range");
        if (r.has("values")) r.issue("values", "a string has no value table");
    }
    reg.priority = own.priority;
    reg.qos = own.qos;
    reg.retain = own.retain;
    reg.rate = own.rate;
    reg.topic = render_or_report(r, own.topic, placeholders(context, device, reg.name));
}

int auto_decimals(const RegisterSpec& spec) {
    const bool floating = spec.type == RegisterType::f32 || spec.type == RegisterType::f64;
    return decimals_for(spec.factor, spec.offset, floating && spec.bit < 0);
}

// `placed` tells whether the register's own place and encoding had no problem (then it is worth
// comparing with the others for overlaps).
RegisterRule read_register(core::JsonReader& r, const RuleDefaults& defaults, const MappingContext& context,
                           const ModbusDeviceRule& device, core::ConfigIssues& issues, bool& placed) {
    const auto before = issues.size();
    RegisterRule reg;
    reg.name = r.require_string("name").value_or("");
    reg.poll_ms = device.poll_ms;
    auto& spec = reg.spec;
    if (const auto table = r.require_string("table")) {
        if (const auto t = parse_table(*table)) spec.table = *t;
        else r.issue("table", unknown_table_message(*table));
    }
    spec.address = static_cast<std::uint16_t>(r.require_id("address", 0, 65535).value_or(0));
    spec.type = core::is_bit_table(spec.table) ? RegisterType::boolean : RegisterType::u16;
    if (r.has("type")) {
        if (const auto type = r.require_string("type")) {
            if (const auto t = parse_register_type(*type)) spec.type = *t;
            else r.issue("type", unknown_type_message(*type));
        }
    }
    if (r.has("word_order")) {
        if (const auto order = r.require_string("word_order")) {
            if (const auto o = parse_word_order(*order)) spec.order = *o;
            else r.issue("word_order", unknown_word_order_message(*order));
        }
    }
    if (r.has("bit")) {
        if (const auto bit = r.require_integer("bit", 0, 63)) spec.bit = static_cast<std::int8_t>(*bit);
    }
    spec.length = static_cast<std::uint16_t>(r.integer("length", 0, 0, 65535));
    spec.factor = r.number("factor", 1.0);
    spec.offset = r.number("offset", 0.0);
    reg.description = r.string("description", "");
    for (const auto& problem : check_register_spec(spec)) r.issue(problem.field, problem.message);
    placed = issues.size() == before;
    reg.decimals = auto_decimals(spec);
    read_register_settings(r, reg, defaults, context, device);
    r.finish();
    return reg;
}

// "import": {"csv": "x.csv", "registers": "*" | ["a", ...], "overrides": {"a": {...}},
//            "table": "holding", "address_offset": -1}
void import_csv(core::JsonReader& r, const std::string& mapping_file, const RuleDefaults& defaults,
                const MappingContext& context, core::ConfigIssues& issues, ModbusDeviceRule& device,
                std::vector<Origin>& origins) {
    const auto csv_name = r.require_string("csv").value_or("");
    RegisterCsvOptions options;
    if (r.has("table")) {
        if (const auto table = r.require_string("table")) {
            if (const auto t = parse_table(*table)) options.default_table = *t;
            else r.issue("table", unknown_table_message(*table));
        }
    }
    options.address_offset = r.integer("address_offset", 0, -65535, 65535);
    const auto* selection = r.member("registers");
    const auto* overrides = r.member("overrides");
    if (csv_name.empty()) {
        r.finish();
        return;
    }
    const std::filesystem::path path = std::filesystem::path(csv_name).is_absolute()
                                           ? std::filesystem::path(csv_name)
                                           : std::filesystem::path(mapping_file).parent_path() / csv_name;
    const auto csv = read_register_csv(path.string(), options);
    for (const auto& e : csv.errors) {
        if (e.line == 0) {
            r.issue("csv", path.string() + ": " + e.message);
        } else {
            issues.add(path.string(), "line " + std::to_string(e.line),
                       e.column.empty() ? e.message : "column " + e.column + ": " + e.message);
        }
    }
    std::vector<std::string> names;
    names.reserve(csv.registers.size());
    for (const auto& c : csv.registers) names.push_back(c.name);
    const auto unknown = [&](const std::string& name) {
        const auto hint = closest(name, names);
        return "no register \"" + name + "\" in " + path.filename().string() +
               (hint.empty() ? std::string() : " (did you mean \"" + hint + "\"?)");
    };

    bool all = !selection;
    std::set<std::string> chosen;
    if (selection) {
        if (selection->is_string() && selection->get<std::string>() == "*") {
            all = true;
        } else if (selection->is_array()) {
            for (std::size_t i = 0; i < selection->size(); ++i) {
                const auto& n = (*selection)[i];
                const auto where = r.path_of("registers") + "/" + std::to_string(i);
                if (!n.is_string()) {
                    issues.add(r.file(), where, "expected a register name");
                } else if (!csv.find(n.get<std::string>())) {
                    // A row with a problem is already reported against the CSV; do not report it twice.
                    if (csv.errors.empty()) issues.add(r.file(), where, unknown(n.get<std::string>()));
                } else {
                    chosen.insert(n.get<std::string>());
                }
            }
        } else {
            r.issue("registers", "expected \"*\" or a list of register names");
        }
    }
    std::map<std::string, const nlohmann::json*> settings;
    if (overrides) {
        if (!overrides->is_object()) {
            r.issue("overrides", "expected an object of register name -> settings");
        } else {
            for (const auto& [name, value] : overrides->items()) {
                const auto where = r.path_of("overrides") + "/" + name;
                if (!csv.find(name)) {
                    if (csv.errors.empty()) issues.add(r.file(), where, unknown(name));
                } else if (!all && !chosen.count(name)) {
                    issues.add(r.file(), where, "\"" + name + "\" is not among the imported \"registers\"");
                } else {
                    settings[name] = &value;
                }
            }
        }
    }
    r.finish();

    static const nlohmann::json empty = nlohmann::json::object();
    for (const auto& c : csv.registers) {
        if (!all && !chosen.count(c.name)) continue;
        RegisterRule reg;
        reg.name = c.name;
        reg.spec = c.spec;
        reg.unit = c.unit;
        reg.description = c.description;
        reg.minimum = c.minimum;
        reg.maximum = c.maximum;
        reg.poll_ms = device.poll_ms;
        reg.decimals = auto_decimals(c.spec);
        const auto it = settings.find(c.name);
        const bool has_override = it != settings.end();
        // Overrides report at their JSON path; a topic problem without one at the import.
        core::JsonReader o(has_override ? *it->second : empty, r.file(),
                           has_override ? r.path_of("overrides") + "/" + c.name : r.path(), issues);
        read_register_settings(o, reg, defaults, context, device);
        o.finish();
        device.registers.push_back(std::move(reg));
        // The parser keeps only rows whose place and encoding passed its checks.
        origins.push_back({path.string(), "line " + std::to_string(c.line), true, true});
    }
}

// Problems only the whole device shows: duplicate names, overlapping registers, values that do
// not fit one request under the device's limit.
void check_device(const ModbusDeviceRule& device, const std::vector<Origin>& origins, core::ConfigIssues& issues) {
    const auto& regs = device.registers;
    std::map<std::string, std::size_t> names;
    for (std::size_t i = 0; i < regs.size(); ++i) {
        if (regs[i].name.empty()) continue;
        const auto [it, inserted] = names.emplace(regs[i].name, i);
        if (!inserted) {
            const auto& first = origins[it->second];
            report(issues, origins[i], "name",
                   "another register of device \"" + device.name + "\" is named \"" + regs[i].name + "\" (" +
                       (first.csv ? first.file + " " : std::string()) + first.path + ")");
        }
        const auto count = register_count(regs[i].spec);
        if (!core::is_bit_table(regs[i].spec.table) && count > device.max_registers) {
            report(issues, origins[i], regs[i].spec.type == RegisterType::string ? "length" : "type",
                   "\"" + regs[i].name + "\" needs " + std::to_string(count) +
                       " registers but the device reads at most " + std::to_string(device.max_registers) +
                       " per request (max_registers)");
        }
    }
    // Overlaps: whole values must not share registers; bit fields may share a register with
    // anything, but two of them must not read the same bit of the same value.
    std::vector<std::size_t> order(regs.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return std::tie(regs[a].spec.table, regs[a].spec.address) < std::tie(regs[b].spec.table, regs[b].spec.address);
    });
    const auto describe = [&](std::size_t i) {
        const auto& s = regs[i].spec;
        const auto count = register_count(s);
        return "\"" + regs[i].name + "\" (" + table_name(s.table) + " " + std::to_string(s.address) +
               (count > 1 ? ".." + std::to_string(s.address + count - 1) : std::string()) + ")";
    };
    constexpr std::size_t none = static_cast<std::size_t>(-1);
    std::size_t owner = none;  // the whole value reaching furthest so far in this table
    std::uint32_t owner_end = 0;
    std::set<std::tuple<int, std::uint16_t, RegisterType, WordOrder, int>> bits;
    for (const auto i : order) {
        if (!origins[i].sound) continue;
        const auto& s = regs[i].spec;
        if (owner != none && regs[owner].spec.table != s.table) owner = none;
        if (s.bit >= 0) {
            if (!bits.insert({static_cast<int>(s.table), s.address, s.type, s.order, s.bit}).second) {
                report(issues, origins[i], "bit",
                       describe(i) + " reads the same bit " + std::to_string(s.bit) + " as another register");
            }
            continue;
        }
        const std::uint32_t end = std::uint32_t{s.address} + register_count(s);
        if (owner != none && s.address < owner_end) {
            report(issues, origins[i], "address", describe(i) + " overlaps " + describe(owner));
        }
        if (owner == none || end > owner_end) {
            owner = i;
            owner_end = end;
        }
    }
}

ModbusDeviceRule read_device(core::JsonReader& d, const std::string& file, const MappingContext& context,
                             const RuleDefaults& file_defaults, core::ConfigIssues& issues) {
    ModbusDeviceRule device;
    device.name = d.require_string("name").value_or("");
    if (const auto bus = d.require_string("bus")) {
        const auto it = std::find(context.bus_names.begin(), context.bus_names.end(), *bus);
        if (it == context.bus_names.end()) {
            const auto hint = closest(*bus, context.bus_names);
            d.issue("bus", "no bus named \"" + *bus + "\" in the site configuration" +
                               (hint.empty() ? std::string() : " (did you mean \"" + hint + "\"?)"));
        } else {
            device.bus = static_cast<std::uint16_t>(it - context.bus_names.begin());
        }
    }
    if (const auto unit = d.require_integer("unit", 0, 255)) {
        if (*unit == 0) {
            d.issue("unit", "0 is the broadcast address, which never answers; a device has a unit id 1..247 "
                            "(or 255, common for Modbus TCP)");
        } else if (*unit > 247 && *unit < 255) {
            d.issue("unit", std::to_string(*unit) + " is reserved; a device has a unit id 1..247 (or 255)");
        }
        device.unit = static_cast<std::uint8_t>(*unit);
    }
    device.response_timeout_ms = d.integer("response_timeout_ms", device.response_timeout_ms, 10, 60'000);
    device.max_registers = static_cast<std::uint16_t>(d.integer("max_registers", device.max_registers, 1, 125));
    device.max_bits = static_cast<std::uint16_t>(d.integer("max_bits", device.max_bits, 1, 2000));
    device.max_gap = static_cast<std::uint16_t>(d.integer("max_gap", device.max_gap, 0, 124));
    device.max_gap_bits = static_cast<std::uint16_t>(d.integer("max_gap_bits", device.max_gap_bits, 0, 1999));
    device.allow_gaps = d.boolean("allow_gaps", device.allow_gaps);
    device.retries = static_cast<int>(d.integer("retries", device.retries, 0, 10));
    device.poll_ms = d.integer("poll_ms", device.poll_ms, 1, 86'400'000);
    RuleDefaults defaults = file_defaults;
    if (auto dd = d.child("defaults")) {
        defaults = read_defaults(*dd, file_defaults);
        dd->finish();
    }
    std::vector<Origin> origins;
    const auto issues_before = issues.size();
    if (const auto* registers = d.array("registers", !d.has("import"))) {
        for (std::size_t i = 0; i < registers->size(); ++i) {
            const auto path = d.path_of("registers") + "/" + std::to_string(i);
            core::JsonReader r((*registers)[i], file, path, issues);
            bool placed = true;
            device.registers.push_back(read_register(r, defaults, context, device, issues, placed));
            origins.push_back({file, path, false, placed});
        }
    }
    if (auto import = d.child("import")) {
        import_csv(*import, file, defaults, context, issues, device, origins);
    }
    // Said only when nothing else explains it (an unreadable CSV already does).
    if (device.registers.empty() && (d.has("registers") || d.has("import")) && issues.size() == issues_before) {
        d.issue("", "device \"" + device.name + "\" has no registers to read");
    }
    d.finish();
    check_device(device, origins, issues);
    return device;
}

}  // namespace

void load_modbus_section(const nlohmann::json& section, const std::string& file, const MappingContext& context,
                         const RuleDefaults& file_defaults, core::ConfigIssues& issues, Mapping& mapping) {
    if (!section.is_array()) {
        issues.add(file, "/modbus", "expected an array of devices");
        return;
    }
    std::map<std::string, std::size_t> names;
    std::map<std::pair<std::uint16_t, std::uint8_t>, std::size_t> units;
    for (std::size_t i = 0; i < section.size(); ++i) {
        const auto path = "/modbus/" + std::to_string(i);
        core::JsonReader d(section[i], file, path, issues);
        auto device = read_device(d, file, context, file_defaults, issues);
        if (!d.valid()) continue;
        if (!device.name.empty()) {
            const auto [it, inserted] = names.emplace(device.name, i);
            if (!inserted) {
                issues.add(file, path + "/name",
                           "another device (/modbus/" + std::to_string(it->second) + ") is named \"" + device.name + "\"");
            }
        }
        const auto [it, inserted] = units.emplace(std::pair{device.bus, device.unit}, i);
        if (!inserted && device.unit != 0) {
            issues.add(file, path + "/unit",
                       "another device (/modbus/" + std::to_string(it->second) + ") has unit id " +
                           std::to_string(device.unit) + " on this bus");
        }
        mapping.modbus.push_back(std::move(device));
    }
}

}  // namespace outpost::mapping
