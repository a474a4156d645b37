#pragma once
// The two batch forms of payload_formats.md, each decoding one uncompressed document;
// batch_decoder.cpp inflates the payload and picks the form. Internal to the uplink library.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "outpost/uplink/batch_decoder.hpp"

namespace outpost::uplink {

// Where a form's decoder puts what it finds, and the checks both forms share: the readings'
// topics, the text budget, the count, and the problem in words.
class BatchOutput {
public:
    // `topic`: the batch's; its readings' topics start with its group (all of it but the last level).
    BatchOutput(std::string_view topic, std::vector<DecodedReading>& out, std::string& problem, std::string* gw);

    // The batch's gateway id, as soon as it is read (for the caller's `gw`).
    void gateway(std::string_view gw);
    // How many readings the batch announces: false beyond max_batch_readings or for none, and
    // when the topic has no group.
    bool expect(std::uint64_t count);
    // Completes `r`'s topic with `suffix` and keeps it; false when the text budget is spent.
    bool add(DecodedReading&& r, std::string_view suffix);

    // Always false, for `return out.fail(...)`.
    bool fail(std::string why);
    // The same about reading `index` (0-based; the words count from 1).
    bool fail_reading(std::size_t index, const std::string& why);

private:
    std::string_view group_;
    bool has_group_ = false;
    std::vector<DecodedReading>& out_;
    std::string& problem_;
    std::string* gw_;
    std::size_t text_ = 0;
};

// `{"gw":..,"ep":..,"batch":[{"seq":..,"t":..,"ts":..,"value":..,...},...]}`
bool decode_json_batch(std::string_view doc, BatchOutput& out);
// The 7-item CBOR array starting with "ob1".
bool decode_cbor_batch(std::string_view doc, BatchOutput& out);

}  // namespace outpost::uplink
