// The audit fed with batches (uplink/payload_formats.md): every reading of a batch counts with its
// own (gw, ep, seq), whatever the format and compression, beside one-message readings.
#include "audit/payload_decoder.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "audit/sequence_audit.hpp"
#include "outpost/uplink/compression.hpp"
#include "report_lookup.hpp"

using namespace outpost::audit;
using nlohmann::json;
using outpost::uplink::Compression;

namespace {

enum class Form { json, cbor };

// A batch of readings seqs (each with ts = 1700000000 + seq seconds) on site/<gw>/batch.
std::string batch(Form form, const std::string& gw, std::uint64_t ep, const std::vector<std::uint64_t>& seqs,
                  Compression c = Compression::none) {
    std::string plain;
    if (form == Form::json) {
        json readings = json::array();
        for (const auto s : seqs) {
            readings.push_back({{"seq", s}, {"t", "v"}, {"ts", 1700000000 + s}, {"value", 52}, {"unit", "V"}});
        }
        plain = json{{"gw", gw}, {"ep", ep}, {"batch", readings}}.dump();
    } else {
        json readings = json::array();
        std::uint64_t previous = seqs.front();
        for (const auto s : seqs) {
            const auto dseq = static_cast<std::int64_t>(s - previous);
            readings.push_back(json::array({dseq, dseq * 1000000, 0, 523}));
            previous = s;
        }
        const auto ts0 = (1700000000 + seqs.front()) * 1000000;
        const auto bytes = json::to_cbor(
            json::array({"ob1", gw, ep, seqs.front(), ts0, json::array({json::array({"v", "V", 1})}), readings}));
        plain.assign(bytes.begin(), bytes.end());
    }
    std::string out;
    EXPECT_TRUE(outpost::uplink::compress(c, plain, out));
    return out;
}

std::string single(const std::string& gw, std::uint64_t ep, std::uint64_t seq) {
    return json{{"gw", gw}, {"ep", ep}, {"seq", seq}, {"ts", 1700000000.5}, {"value", 52.3}}.dump();
}

}  // namespace

TEST(BatchPayload, EveryFormatAndCompressionGivesOneItemPerReading) {
    for (const auto form : {Form::json, Form::cbor}) {
        for (const auto c : {Compression::none, Compression::zstd, Compression::zlib}) {
            SCOPED_TRACE(std::string(form == Form::json ? "json " : "cbor ") + outpost::uplink::to_string(c));
            const auto d = decode_payload("site/gw/batch", batch(form, "gw", 7, {10, 11, 13}, c));
            ASSERT_EQ(d.kind, PayloadKind::sequenced) << d.problem;
            EXPECT_TRUE(d.batch);
            EXPECT_EQ(d.gw, "gw");
            EXPECT_EQ(d.problem, "");
            ASSERT_EQ(d.items.size(), 3u);
            EXPECT_EQ(d.items[2].gw, "gw");
            EXPECT_EQ(d.items[2].ep, 7u);
            EXPECT_EQ(d.items[2].seq, 13u);
            ASSERT_TRUE(d.items[2].ts);
            EXPECT_DOUBLE_EQ(*d.items[2].ts, 1700000013.0);
            EXPECT_FALSE(d.items[2].loss);
        }
    }
    // The one-message form is still itself.
    const auto d = decode_payload("site/gw/v", single("gw", 7, 5));
    ASSERT_EQ(d.kind, PayloadKind::sequenced);
    EXPECT_FALSE(d.batch);
    ASSERT_EQ(d.items.size(), 1u);
    EXPECT_EQ(d.items[0].seq, 5u);
}

TEST(BatchPayload, GapsAndDuplicatesAcrossBatches) {
    SequenceAudit audit;
    const auto feed = [&](const std::string& payload) {
        audit.feed(Arrival{std::nullopt, "site/gw/batch", payload, std::nullopt});
    };
    feed(batch(Form::cbor, "gw", 3, {1, 2, 3, 4}, Compression::zstd));
    feed(batch(Form::json, "gw", 3, {4, 5, 8}));  // 4 again; 6..7 missing
    feed(batch(Form::cbor, "gw", 3, {9, 10}, Compression::zlib));
    feed(batch(Form::cbor, "gw", 3, {9, 10}, Compression::zlib));  // a whole batch again
    feed(batch(Form::json, "gw", 3, {12}, Compression::zstd));     // 11 missing
    const auto r = audit.report();
    const auto& g = gateway(r, "gw");
    EXPECT_EQ(g.messages, 5u);
    EXPECT_EQ(g.readings, 12u);
    EXPECT_EQ(g.distinct_readings, 9u);
    EXPECT_EQ(g.duplicates, 3u);
    EXPECT_EQ(g.largest_duplicate_run, 2u);
    EXPECT_EQ(g.most_copies, 2u);
    EXPECT_EQ(g.malformed, 0u);
    ASSERT_EQ(g.gaps.size(), 2u);
    EXPECT_EQ(g.gaps[0].missing, (SeqRange{6, 7}));
    EXPECT_EQ(g.gaps[1].missing, (SeqRange{11, 11}));
    EXPECT_EQ(g.missing, 3u);
    EXPECT_EQ(g.unexplained_missing, 3u);
    EXPECT_FALSE(r.complete());
    ASSERT_EQ(g.sequences.size(), 1u);
    EXPECT_EQ(g.sequences[0].first_seq, 1u);
    EXPECT_EQ(g.sequences[0].last_seq, 12u);
}

TEST(BatchPayload, ABatchOverlappingOneMessageReadingsCountsTheirDuplicates) {
    SequenceAudit audit;
    const auto one = single("gw", 1, 5);
    audit.feed(Arrival{std::nullopt, "site/gw/urgent", one, std::nullopt});
    const auto b = batch(Form::cbor, "gw", 1, {3, 4, 5, 6});
    audit.feed(Arrival{std::nullopt, "site/gw/batch", b, std::nullopt});
    const auto last = single("gw", 1, 6);
    audit.feed(Arrival{std::nullopt, "site/gw/urgent", last, std::nullopt});
    const auto r = audit.report();
    const auto& g = gateway(r, "gw");
    EXPECT_EQ(g.messages, 3u);
    EXPECT_EQ(g.readings, 6u);
    EXPECT_EQ(g.distinct_readings, 4u);
    EXPECT_EQ(g.duplicates, 2u);
    EXPECT_EQ(g.out_of_order, 0u) << "different topics";
    EXPECT_TRUE(g.gaps.empty());
    EXPECT_TRUE(r.complete());
}

TEST(BatchPayload, AMalformedBatchIsCountedAsMalformedAgainstItsGateway) {
    SequenceAudit audit;
    const auto feed = [&](const std::string& payload, const char* topic = "site/gw/batch") {
        audit.feed(Arrival{std::nullopt, topic, payload, std::nullopt});
    };
    feed(batch(Form::cbor, "gw", 1, {1, 2}));
    // Key index out of range: the gw is readable, the batch is not.
    const auto bad_key = json::to_cbor(json::array({"ob1", "gw", 1, 3, 0, json::array({json::array({"v", nullptr, 0})}),
                                                    json::array({json::array({0, 0, 1, 5})})}));
    feed(std::string(bad_key.begin(), bad_key.end()));
    // A JSON batch whose second reading has no seq.
    feed(R"({"gw":"gw","ep":1,"batch":[{"seq":3,"t":"v","ts":1.5,"value":1},{"t":"v","ts":1.5,"value":1}]})");
    // Truncated: the compressed stream ends early (no gw can be read).
    const auto whole = batch(Form::json, "gw", 1, {3, 4}, Compression::zstd);
    feed(whole.substr(0, whole.size() - 3));
    // A batch on a topic with a single level has no group.
    feed(batch(Form::json, "gw", 1, {3}), "batch");
    feed(batch(Form::json, "gw", 1, {3, 4}));
    const auto r = audit.report();
    EXPECT_EQ(r.messages, 6u);
    EXPECT_EQ(r.unattributed, 1u);
    EXPECT_EQ(r.last_unattributed_problem,
              "batch: a damaged or truncated zstd stream, or one that inflates beyond 16 MiB");
    const auto& g = gateway(r, "gw");
    EXPECT_EQ(g.malformed, 3u);
    EXPECT_EQ(g.last_problem,
              "batch: the batch topic has no level to take off (its readings' topics start with its group)");
    EXPECT_EQ(g.distinct_readings, 4u);
    EXPECT_TRUE(g.gaps.empty());
    // The first refusal's words, through the decoder.
    EXPECT_EQ(decode_payload("site/gw/batch", std::string(bad_key.begin(), bad_key.end())).problem,
              "batch: reading 1: key 1 is out of range (1 keys)");
}

TEST(BatchPayload, UserPropertiesOfABatchAreCheckedForGwAndEpOnly) {
    SequenceAudit audit;
    const auto b = batch(Form::cbor, "gw", 7, {1, 2, 3});
    audit.feed(Arrival{std::nullopt, "site/gw/batch", b, UserProperties{"gw", "7", "1"}});
    const auto other = batch(Form::cbor, "gw", 7, {4, 5});
    audit.feed(Arrival{std::nullopt, "site/gw/batch", other, UserProperties{"gw", "8", std::nullopt}});
    const auto& g = gateway(audit.report(), "gw");
    EXPECT_EQ(g.property_mismatches, 2u) << "each reading of the second batch, for its ep";
    EXPECT_EQ(g.distinct_readings, 5u);
}

TEST(BatchPayload, LatencyUsesEachReadingsOwnTimestamp) {
    SequenceAudit audit;
    const auto b = batch(Form::cbor, "gw", 7, {1, 2, 3}, Compression::zlib);
    audit.feed(Arrival{1700000004.5, "site/gw/batch", b, std::nullopt});
    const auto& g = gateway(audit.report(), "gw");
    ASSERT_TRUE(g.latency);
    EXPECT_EQ(g.latency->samples, 3u);
    EXPECT_NEAR(g.latency->max, 3.5, 1e-6);
    EXPECT_NEAR(g.latency->min, 1.5, 1e-6);
}
