// `outpost decode`: a dry run of the mapping over captured CAN or Modbus traffic.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "command_options.hpp"
#include "outpost/app/commands.hpp"
#include "outpost/app/site_config.hpp"
#include "outpost/core/bounded_read.hpp"
#include "outpost/ingest/candump_parser.hpp"
#include "outpost/ingest/modbus/pdu.hpp"
#include "outpost/ingest/modbus/rtu_sniffer.hpp"
#include "outpost/ingest/modbus/transcript_parser.hpp"
#include "outpost/mapping/json_body.hpp"
#include "outpost/mapping/mapper.hpp"
#include "outpost/mapping/modbus_mapper.hpp"

namespace outpost::app {
namespace {

std::string format_id(std::uint32_t id, bool extended) {
    char buf[16];
    std::snprintf(buf, sizeof buf, extended ? "%08X" : "%03X", static_cast<unsigned>(id));
    return buf;
}

// "[0|65000]", as a DBC writes a range; an open end reads "-inf" or "inf".
std::string format_range(const mapping::SignalRule& signal) {
    std::string out = "[";
    if (signal.minimum) mapping::append_json_number(out, *signal.minimum, -1);
    else out += "-inf";
    out += "|";
    if (signal.maximum) mapping::append_json_number(out, *signal.maximum, -1);
    else out += "inf";
    return out + "]";
}

void print_reading(const mapping::Reading& r) {
    std::string value;
    mapping::append_json_number(value, r.value, r.signal->decimals);
    std::cout << "    " << r.signal->topic << " = " << value;
    if (!r.signal->unit.empty()) std::cout << " " << r.signal->unit;
    if (!r.signal->value_names.empty() && std::fabs(r.value) < 9.2e18 && std::round(r.value) == r.value) {
        const auto n = r.signal->value_names.find(static_cast<std::int64_t>(r.value));
        if (n != r.signal->value_names.end()) std::cout << " (" << n->second << ")";
    }
    std::cout << "  [priority " << int{r.signal->priority} << ", qos " << int{r.signal->qos}
              << (r.signal->retain ? ", retain" : "") << "]";
    if (r.out_of_range) {
        std::cout << "  out of range " << format_range(*r.signal)
                  << (r.signal->publish_out_of_range ? ", published with \"out_of_range\":true" : ": dropped");
    }
    if (r.out_of_range && !r.signal->publish_out_of_range) {
        // dropped: rate control was never asked
    } else if (!r.published) {
        std::cout << "  held back by rate control";
    }
    std::cout << "\n";
}

void print_mismatch(const mapping::LengthMismatch& m) {
    std::cout << "    " << m.message->name << ": ";
    if (m.declared) {
        std::cout << "length mismatch: " << m.length << " bytes, the message has " << m.expected;
    } else {
        std::cout << "length mismatch: " << m.length << " bytes, its signals need " << m.expected;
    }
    std::cout << "; frame rejected";
    if (m.length < m.expected) std::cout << " (\"accept_short_frames\": true takes short frames)";
    std::cout << "\n";
}

int decode_candump(const Options& o, const SiteConfig& site) {
    std::uint16_t bus = 0;
    if (const auto it = o.values.find("--bus"); it != o.values.end()) {
        const auto b = std::find_if(site.buses.begin(), site.buses.end(), [&](const BusConfig& x) { return x.name == it->second; });
        if (b == site.buses.end()) return usage("no bus named " + it->second + " in " + site.file);
        bus = static_cast<std::uint16_t>(b - site.buses.begin());
    }
    // Bounded: a capture naming /dev/zero, or one endless line, cannot grow memory.
    core::BoundedLineReader in;
    std::string open_error;
    if (in.open(o.values.at("--candump"), open_error)) {
        std::cerr << "outpost: " << open_error << "\n";
        return exit_startup;
    }
    mapping::Mapper mapper(site.mapping);
    std::vector<core::Message> messages;
    mapping::MapTrace trace;
    std::string line;
    std::uint64_t malformed = 0, published = 0, held = 0;
    for (;;) {
        const auto status = in.next(line);
        if (status == core::BoundedLineReader::Status::end) break;
        if (status == core::BoundedLineReader::Status::error) {
            std::cerr << "outpost: cannot read " << o.values.at("--candump") << ": " << in.error().message() << "\n";
            return exit_startup;
        }
        if (status == core::BoundedLineReader::Status::too_long) {
            ++malformed;
            std::cout << "line " << in.line_number() << ": malformed: " << in.last_length()
                      << " bytes, longer than the " << in.max_line_bytes() << " a candump line may have\n";
            continue;
        }
        core::CanFrame frame;
        const auto parsed = ingest::parse_candump_line(line, frame);
        if (parsed.kind == ingest::CandumpLineKind::blank) continue;
        if (parsed.kind == ingest::CandumpLineKind::malformed) {
            ++malformed;
            std::cout << "line " << in.line_number() << ": malformed: " << parsed.error << "\n";
            continue;
        }
        frame.bus = bus;
        messages.clear();
        mapper.map(frame, messages, trace);
        if (trace.readings.empty() && trace.mismatches.empty() && trace.short_accepted.empty()) continue;
        std::cout << line << "\n";
        for (const auto& m : trace.mismatches) print_mismatch(m);
        for (const auto* rule : trace.short_accepted) {
            std::cout << "    " << rule->name << ": short frame (" << int{frame.len} << " bytes) accepted; only the signals inside it are decoded\n";
        }
        for (const auto& r : trace.readings) {
            print_reading(r);
            if (r.published) ++published;
            else if (!r.out_of_range || r.signal->publish_out_of_range) ++held;
        }
    }
    const auto& st = mapper.stats();
    std::cout << "\n" << st.frames << " frames: " << published << " readings published, " << held
              << " held back by rate control, " << st.length_mismatches << " length mismatches, " << st.decode_errors
              << " decode errors, " << st.out_of_range << " out of range, " << st.error_frames << " error frames, "
              << malformed << " malformed lines";
    if (st.short_frames) std::cout << ", " << st.short_frames << " short frames accepted";
    std::cout << "\n";
    const auto by_rule = mapper.length_mismatches_by_rule();
    if (st.length_mismatches) {
        std::cout << "length mismatches by message:";
        for (std::size_t i = 0; i < by_rule.size(); ++i) {
            if (!by_rule[i]) continue;
            const auto& rule = site.mapping.can[i];
            std::cout << " " << rule.name << " (" << by_rule[i] << ")";
        }
        std::cout << "\n";
    }
    if (!mapper.unmapped_ids().empty()) {
        std::vector<std::pair<std::uint32_t, std::uint64_t>> ids(mapper.unmapped_ids().begin(), mapper.unmapped_ids().end());
        std::sort(ids.begin(), ids.end());
        std::cout << "ids no rule maps (" << st.unmapped_frames << " frames):";
        for (const auto& [id, count] : ids) {
            std::cout << " " << format_id(id & 0x7FFFFFFFu, (id & 0x80000000u) != 0) << " (" << count << ")";
        }
        std::cout << "\n";
    }
    return exit_ok;
}

bool is_modbus(BusType type) {
    return type == BusType::modbus_rtu || type == BusType::modbus_tcp || type == BusType::modbus_rtu_over_tcp;
}

// Collects what the sniffer pairs from one transcript line, so it is printed under that line.
class BlockCollector : public ingest::ModbusSink {
public:
    void on_modbus(const core::ModbusBlock& block) override { blocks.push_back(block); }
    std::vector<core::ModbusBlock> blocks;
};

std::string format_value(const mapping::ModbusReading& r) {
    std::string out;
    if (r.reg->spec.type == mapping::RegisterType::string) {
        mapping::append_json_string(out, r.text);
    } else if (!mapping::append_json_number(out, r.value, r.reg->decimals)) {
        out = std::to_string(r.value);
    }
    if (!r.reg->unit.empty()) out += " " + r.reg->unit;
    if (r.reg->spec.type != mapping::RegisterType::string) {
        if (const auto* name = mapping::value_name(r.reg->value_names, r.value)) out += " (" + *name + ")";
    }
    return out;
}

// An exception response's code, from a frame [unit, function | 0x80, code, crc, crc].
std::optional<ingest::ModbusException> exception_in(std::span<const std::uint8_t> frame) {
    if (frame.size() != 5 || (frame[1] & 0x80) == 0) return std::nullopt;
    return static_cast<ingest::ModbusException>(frame[2]);
}

int decode_modbus(const Options& o, const SiteConfig& site) {
    std::size_t bus = site.buses.size();
    if (const auto it = o.values.find("--bus"); it != o.values.end()) {
        const auto b = std::find_if(site.buses.begin(), site.buses.end(), [&](const BusConfig& x) { return x.name == it->second; });
        if (b == site.buses.end()) return usage("no bus named " + it->second + " in " + site.file);
        if (!is_modbus(b->type)) return usage("bus " + it->second + " is not a Modbus bus");
        bus = static_cast<std::size_t>(b - site.buses.begin());
    } else {
        const auto b = std::find_if(site.buses.begin(), site.buses.end(), [](const BusConfig& x) { return is_modbus(x.type); });
        if (b == site.buses.end()) return usage("no Modbus bus in " + site.file + " (decode --modbus maps onto one)");
        bus = static_cast<std::size_t>(b - site.buses.begin());
    }
    const auto& path = o.values.at("--modbus");
    core::BoundedLineReader in;
    std::string open_error;
    if (in.open(path, open_error)) {
        std::cerr << "outpost: " << open_error << "\n";
        return exit_startup;
    }
    // Pair a response with its request as long as the slowest device on the bus may take.
    ingest::RtuSnifferOptions sniffer_options;
    sniffer_options.bus = static_cast<std::uint16_t>(bus);
    std::int64_t timeout_ms = 1000;
    for (const auto& d : site.mapping.modbus) {
        if (d.bus == bus) timeout_ms = std::max(timeout_ms, d.response_timeout_ms);
    }
    sniffer_options.response_timeout_ns = timeout_ms * 1'000'000;
    ingest::RtuSniffer sniffer(sniffer_options);
    mapping::ModbusMapper mapper(site.mapping.modbus);
    BlockCollector sink;
    std::vector<core::Message> messages;
    std::vector<mapping::ModbusReading> readings;
    std::uint64_t published = 0, held = 0;

    auto print_blocks = [&](const std::string& line) {
        bool line_printed = false;
        for (const auto& block : sink.blocks) {
            messages.clear();
            readings.clear();
            mapper.map(block, messages, &readings);
            if (readings.empty()) continue;
            if (!line_printed) std::cout << line << "\n";
            line_printed = true;
            const auto* device = readings.front().device;
            std::cout << "  " << device->name << " (unit " << int{block.unit} << " on " << site.buses[bus].name << "), "
                      << mapping::table_name(block.table) << " " << block.address;
            if (block.count > 1) std::cout << ".." << (block.address + block.count - 1);
            std::cout << ":\n";
            for (const auto& r : readings) {
                std::cout << "    " << r.reg->name << " = " << format_value(r) << "  -> " << r.reg->topic << "  [priority "
                          << int{r.reg->priority} << ", qos " << int{r.reg->qos} << (r.reg->retain ? ", retain" : "")
                          << "]";
                if (!r.published) std::cout << "  held back by rate control";
                std::cout << "\n";
                (r.published ? published : held) += 1;
            }
        }
        sink.blocks.clear();
    };

    std::string line;
    std::uint64_t line_no = 0, frames = 0, malformed = 0;
    std::int64_t last_ns = 0;
    for (;;) {
        const auto status = in.next(line);
        if (status == core::BoundedLineReader::Status::end) break;
        if (status == core::BoundedLineReader::Status::error) {
            std::cerr << "outpost: cannot read " << path << ": " << in.error().message() << "\n";
            return exit_startup;
        }
        line_no = in.line_number();
        if (status == core::BoundedLineReader::Status::too_long) {
            ++malformed;
            std::cout << "line " << line_no << ": malformed: " << in.last_length() << " bytes, longer than the "
                      << in.max_line_bytes() << " a transcript line may have\n";
            continue;
        }
        if (!line.empty() && line.back() == '\r') line.pop_back();
        ingest::TranscriptFrame frame;
        const auto parsed = ingest::parse_transcript_line(line, frame);
        if (parsed.kind == ingest::TranscriptLineKind::blank) continue;
        if (parsed.kind == ingest::TranscriptLineKind::malformed) {
            ++malformed;
            std::cout << "line " << line_no << ": malformed: " << parsed.error << "\n";
            continue;
        }
        ++frames;
        last_ns = frame.timestamp_ns;
        const auto exceptions = sniffer.stats().exceptions;
        sniffer.feed_frame(frame.timestamp_ns, frame.frame(), frame.direction, sink);
        if (sniffer.stats().exceptions != exceptions) {
            const auto code = exception_in(frame.frame());
            std::cout << line << "\n    exception response from unit " << int{frame.bytes[0]} << ": "
                      << (code ? ingest::to_string(*code) : "unknown") << "\n";
        }
        print_blocks(line);
    }
    // Whatever is still pending ends with the transcript.
    sniffer.idle(last_ns + sniffer_options.response_timeout_ns + 1, sink);
    print_blocks("(end of transcript)");

    const auto& st = mapper.stats();
    const auto& ss = sniffer.stats();
    // A request still waiting at the end of the transcript was not answered either.
    const auto unanswered = ss.unanswered + (sniffer.awaiting_response() ? 1 : 0);
    std::cout << "\n" << frames << " frames (" << ss.requests << " requests, " << ss.responses << " responses, "
              << ss.blocks << " blocks): " << published << " readings published, " << held
              << " held back by rate control, " << st.decode_errors << " decode errors, " << st.out_of_range
              << " out of range, " << ss.exceptions << " exception responses, " << unanswered
              << " unanswered requests, " << ss.unpaired << " unpaired responses, " << ss.noise_bytes
              << " noise bytes, " << malformed << " malformed lines\n";
    if (!mapper.unmapped_units().empty()) {
        std::vector<std::pair<std::uint32_t, std::uint64_t>> units(mapper.unmapped_units().begin(),
                                                                   mapper.unmapped_units().end());
        std::sort(units.begin(), units.end());
        std::cout << "unit ids no device maps (" << st.unmapped_blocks << " blocks):";
        for (const auto& [key, count] : units) std::cout << " " << (key & 0xFFu) << " (" << count << ")";
        std::cout << "\n";
    }
    return exit_ok;
}

}  // namespace

int decode(const Options& o) {
    const bool candump = o.values.count("--candump") != 0;
    const bool modbus = o.values.count("--modbus") != 0;
    if (candump == modbus) return usage("decode needs either --candump LOG or --modbus TRANSCRIPT");
    const auto site = load_site_config(o.values.at("--config"));
    return candump ? decode_candump(o, site) : decode_modbus(o, site);
}

}  // namespace outpost::app
