// For tests/tools/outpost_decode_test.py: decodes `topic hex-payload` lines from stdin with
// uplink::decode_batch and prints one JSON line each: {"ok":true,"readings":[...]} with every
// member of DecodedReading, or {"ok":false,"problem":"..."}. The Python reference decoder must
// say the same of the same bytes.
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "outpost/uplink/batch_decoder.hpp"

namespace {

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

}  // namespace

int main() {
    std::string line;
    while (std::getline(std::cin, line)) {
        const auto space = line.rfind(' ');
        if (space == std::string::npos) return 2;
        std::string payload;
        for (std::size_t i = space + 1; i + 1 < line.size(); i += 2) {
            payload += static_cast<char>(hex_digit(line[i]) * 16 + hex_digit(line[i + 1]));
        }
        std::vector<outpost::uplink::DecodedReading> readings;
        std::string problem;
        nlohmann::json out;
        out["ok"] = outpost::uplink::decode_batch(line.substr(0, space), payload, readings, problem);
        if (!problem.empty()) out["problem"] = problem;
        auto& list = out["readings"] = nlohmann::json::array();
        for (const auto& r : readings) {
            list.push_back({{"gw", r.gw},
                            {"ep", r.ep},
                            {"seq", r.seq},
                            {"topic", r.topic},
                            {"ts_us", r.ts_us},
                            {"value", r.value},
                            {"value_is_text", r.value_is_text},
                            {"unit", r.unit},
                            {"text", r.text},
                            {"extra", r.extra}});
        }
        std::cout << out.dump() << "\n";
    }
    return 0;
}
