// Fuzz target: one batch payload (batched JSON or compact CBOR, compressed or not; see
// uplink/payload_formats.md). Any bytes must decode or be refused in words, never crash; what
// decodes keeps the decoder's promises (seq 1 and up, the topic under the group, numbers in
// canonical text). The same bytes compressed must decode to exactly the same, so the fuzzer's
// inputs also reach the decoders through both inflaters.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "outpost/uplink/batch_decoder.hpp"
#include "outpost/uplink/compression.hpp"

using namespace outpost::uplink;

namespace {

constexpr std::string_view topic = "site/gw/batch";

// "0", or -?(0|[1-9]d*)(.d*[1-9])? without "-0": what the decoder promises for a number.
bool canonical(std::string_view v) {
    if (!v.empty() && v[0] == '-') v.remove_prefix(1);
    const auto dot = v.find('.');
    const auto whole = v.substr(0, dot);
    if (whole.empty() || (whole.size() > 1 && whole[0] == '0')) return false;
    if (whole.find_first_not_of("0123456789") != std::string_view::npos) return false;
    if (dot == std::string_view::npos) return v.size() == whole.size();
    const auto fraction = v.substr(dot + 1);
    if (fraction.empty() || fraction.back() == '0') return false;
    return fraction.find_first_not_of("0123456789") == std::string_view::npos;
}

void check(bool ok, const std::vector<DecodedReading>& out, const std::string& problem, const std::string& gw) {
    if (!ok) {
        if (problem.empty() || !out.empty()) __builtin_trap();
        return;
    }
    if (!problem.empty() || out.empty() || out.size() > max_batch_readings || gw.empty()) __builtin_trap();
    for (const auto& r : out) {
        if (r.gw != gw || r.seq == 0 || r.topic.rfind("site/gw/", 0) != 0 || r.topic.size() == 8) __builtin_trap();
        if (!r.value_is_text && (r.value == "-0" || !canonical(r.value))) __builtin_trap();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view payload(reinterpret_cast<const char*>(data), size);
    std::vector<DecodedReading> out;
    std::string problem, gw;
    const bool ok = decode_batch(topic, payload, out, problem, &gw);
    check(ok, out, problem, gw);
    detect_format(payload);

    if (detect_compression(payload) != Compression::none) return 0;
    std::string z;
    if (!compress(size % 2 ? Compression::zlib : Compression::zstd, payload, z, 1)) return 0;
    std::vector<DecodedReading> again;
    std::string problem_again, gw_again;
    const bool ok_again = decode_batch(topic, z, again, problem_again, &gw_again);
    check(ok_again, again, problem_again, gw_again);
    if (ok_again != ok || again != out || gw_again != gw || problem_again != problem) __builtin_trap();
    return 0;
}
