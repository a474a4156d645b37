// The audit core fed with transcripts: (receive time, topic, payload) in, the report out.
#include "audit/sequence_audit.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <sstream>

#include "report_lookup.hpp"

using namespace outpost::audit;

namespace {

std::string reading(const std::string& gw, std::uint64_t ep, std::uint64_t seq, double ts = 1700000000.0) {
    return R"({"gw":")" + gw + R"(","ep":)" + std::to_string(ep) + R"(,"seq":)" + std::to_string(seq) + R"(,"ts":)" +
           std::to_string(ts) + R"(,"value":52.3,"unit":"V"})";
}

std::string loss(const std::string& gw, std::uint64_t ep, std::uint64_t seq, std::uint64_t first, std::uint64_t last,
                 const std::string& reason = "evicted_quota", std::uint64_t count = 0) {
    if (count == 0) count = last - first + 1;
    return R"({"gw":")" + gw + R"(","ep":)" + std::to_string(ep) + R"(,"seq":)" + std::to_string(seq) +
           R"(,"ts":1700000001.5,"loss":{"reason":")" + reason + R"(","priority":2,"count":)" + std::to_string(count) +
           R"(,"first_seq":)" + std::to_string(first) + R"(,"last_seq":)" + std::to_string(last) + "}}";
}

struct Transcript {
    SequenceAudit audit;
    void operator()(const std::string& topic, const std::string& payload, std::optional<double> received = {}) {
        audit.feed(Arrival{received, topic, payload, std::nullopt});
    }
    // Readings first..last of gw/ep on one topic.
    void readings(const std::string& gw, std::uint64_t ep, std::uint64_t first, std::uint64_t last,
                  const std::string& topic = "site/t") {
        for (auto s = first; s <= last; ++s) (*this)(topic, reading(gw, ep, s));
    }
    AuditReport report() const { return audit.report(); }
};

}  // namespace

TEST(SequenceAudit, AnUnbrokenStreamOnTwoTopicsIsComplete) {
    Transcript t;
    for (std::uint64_t s = 1; s <= 100; ++s) t(s % 2 ? "site/gw/a" : "site/gw/b", reading("gw", 7, s));
    const auto r = t.report();
    ASSERT_EQ(r.gateways.size(), 1u);
    const auto& g = r.gateways[0];
    EXPECT_EQ(g.messages, 100u);
    EXPECT_EQ(g.readings, 100u);
    EXPECT_EQ(g.distinct_readings, 100u);
    EXPECT_EQ(g.duplicates, 0u);
    EXPECT_EQ(g.out_of_order, 0u);
    EXPECT_TRUE(g.gaps.empty());
    ASSERT_EQ(g.sequences.size(), 1u);
    EXPECT_EQ(g.sequences[0].first_seq, 1u);
    EXPECT_EQ(g.sequences[0].last_seq, 100u);
    EXPECT_EQ(g.sequences[0].epochs, std::vector<std::uint64_t>{7});
    EXPECT_TRUE(r.complete());
    EXPECT_FALSE(g.latency) << "no receive times";
}

TEST(SequenceAudit, GapsAreReportedAsRangesAndMakeTheReportIncomplete) {
    Transcript t;
    for (const std::uint64_t s : {1u, 2u, 3u, 5u, 6u, 9u, 10u}) t("site/t", reading("gw", 1, s));
    const auto r = t.report();
    const auto& g = gateway(r, "gw");
    ASSERT_EQ(g.gaps.size(), 2u);
    EXPECT_EQ(g.gaps[0].missing, (SeqRange{4, 4}));
    EXPECT_EQ(g.gaps[1].missing, (SeqRange{7, 8}));
    EXPECT_EQ(g.gaps[1].unexplained, (std::vector<SeqRange>{{7, 8}}));
    EXPECT_EQ(g.missing, 3u);
    EXPECT_EQ(g.unexplained_missing, 3u);
    EXPECT_EQ(g.unexplained_gaps(), 2u);
    EXPECT_FALSE(r.complete());
}

TEST(SequenceAudit, DuplicatesTheirLongestRunAndMostCopies) {
    Transcript t;
    t.readings("gw", 1, 1, 5);
    t.readings("gw", 1, 3, 5);  // a resend after a reconnect: a run of 3
    t.readings("gw", 1, 6, 6);
    t.readings("gw", 1, 2, 2);  // 2 again, twice: three copies in all
    t.readings("gw", 1, 2, 2);
    const auto r = t.report();
    const auto& g = gateway(r, "gw");
    EXPECT_EQ(g.readings, 11u);
    EXPECT_EQ(g.distinct_readings, 6u);
    EXPECT_EQ(g.duplicates, 5u);
    EXPECT_EQ(g.largest_duplicate_run, 3u);
    EXPECT_EQ(g.most_copies, 3u);
    EXPECT_EQ(g.out_of_order, 0u) << "duplicates are not out-of-order arrivals";
    EXPECT_TRUE(g.gaps.empty());
    EXPECT_TRUE(r.complete());
}

TEST(SequenceAudit, OutOfOrderCountsWithinATopicNotAcrossTopics) {
    Transcript t;
    t("site/high", reading("gw", 1, 2));
    t("site/low", reading("gw", 1, 1));  // another priority may come later: legitimate
    t("site/high", reading("gw", 1, 5));
    t("site/high", reading("gw", 1, 3));  // FIFO broken within a topic
    t("site/high", reading("gw", 1, 4));  // still below 5
    t("site/high", reading("gw", 1, 6));
    const auto& g = gateway(t.report(), "gw");
    EXPECT_EQ(g.out_of_order, 2u);
    EXPECT_TRUE(g.gaps.empty());
}

TEST(SequenceAudit, ALossRecordExplainsAGapItCovers) {
    Transcript t;
    t.readings("gw", 1, 1, 4);
    t.readings("gw", 1, 106, 110);
    t("outpost/gw/loss", loss("gw", 1, 105, 5, 104));  // a loss record holds a seq of its own
    const auto r = t.report();
    const auto& g = gateway(r, "gw");
    EXPECT_EQ(g.loss_records, 1u);
    EXPECT_EQ(g.distinct_readings, 9u);
    ASSERT_EQ(g.gaps.size(), 1u);
    EXPECT_EQ(g.gaps[0].missing, (SeqRange{5, 104}));
    EXPECT_TRUE(g.gaps[0].unexplained.empty());
    EXPECT_EQ(g.missing, 100u);
    EXPECT_EQ(g.unexplained_missing, 0u);
    EXPECT_EQ(g.losses.at("evicted_quota").records, 1u);
    EXPECT_EQ(g.losses.at("evicted_quota").count, 100u);
    EXPECT_TRUE(r.complete());
}

TEST(SequenceAudit, ALossRecordThatCoversPartOfAGapLeavesTheRestUnexplained) {
    Transcript t;
    t.readings("gw", 1, 1, 4);
    t("outpost/gw/loss", loss("gw", 1, 105, 5, 50, "expired_ttl"));
    t.readings("gw", 1, 106, 110);
    const auto r = t.report();
    const auto& g = gateway(r, "gw");
    ASSERT_EQ(g.gaps.size(), 1u);
    EXPECT_EQ(g.gaps[0].missing, (SeqRange{5, 104}));
    EXPECT_EQ(g.gaps[0].unexplained, (std::vector<SeqRange>{{51, 104}}));
    EXPECT_EQ(g.unexplained_missing, 54u);
    EXPECT_FALSE(r.complete());
}

TEST(SequenceAudit, ALossRangeMayCoverSeqsThatArrivedAndCountMayBeAnUpperBound) {
    Transcript t;
    t.readings("gw", 1, 1, 10);
    t.readings("gw", 1, 13, 20);
    // rolled_back: count is an upper bound, the range includes 9..10 and 13 that did arrive.
    t("outpost/gw/loss", loss("gw", 1, 21, 9, 13, "rolled_back", 5));
    const auto r = t.report();
    EXPECT_TRUE(r.complete());
    EXPECT_EQ(gateway(r, "gw").missing, 2u);
}

TEST(SequenceAudit, ALossRecordOfAnotherGatewayExplainsNothing) {
    Transcript t;
    t.readings("a", 1, 1, 3);
    t.readings("a", 1, 6, 6);
    t.readings("b", 1, 1, 1);
    t("outpost/b/loss", loss("b", 1, 2, 4, 5));
    const auto r = t.report();
    EXPECT_EQ(gateway(r, "a").unexplained_missing, 2u);
    EXPECT_EQ(gateway(r, "b").unexplained_missing, 0u);
    EXPECT_FALSE(r.complete());
}

TEST(SequenceAudit, ANewEpochThatContinuesTheNumbersIsOneSequenceAndTheGapBetweenCounts) {
    Transcript t;
    t.readings("gw", 100, 1, 10);
    t.readings("gw", 200, 13, 20);  // the store could not prove continuity; numbers go on
    auto r = t.report();
    auto g = gateway(r, "gw");
    ASSERT_EQ(g.sequences.size(), 1u);
    EXPECT_EQ(g.sequences[0].epochs, (std::vector<std::uint64_t>{100, 200}));
    EXPECT_EQ(g.sequences[0].first_seq, 1u);
    EXPECT_EQ(g.sequences[0].last_seq, 20u);
    ASSERT_EQ(g.gaps.size(), 1u);
    EXPECT_EQ(g.gaps[0].missing, (SeqRange{11, 12}));
    EXPECT_FALSE(r.complete());
    // The new epoch's loss record (a quarantined store) names the old numbers: explained.
    t("outpost/gw/loss", loss("gw", 200, 21, 11, 12, "quarantined", 10));
    EXPECT_TRUE(t.report().complete());
}

TEST(SequenceAudit, ANewEpochThatRestartsLowerIsANewSequence) {
    Transcript t;
    t.readings("gw", 100, 1, 50);
    t("outpost/gw/loss", loss("gw", 100, 51, 3, 4));
    t.readings("gw", 300, 1, 2);  // the store was lost entirely: numbering starts again
    t.readings("gw", 300, 5, 8);
    const auto r = t.report();
    const auto& g = gateway(r, "gw");
    ASSERT_EQ(g.sequences.size(), 2u);
    EXPECT_EQ(g.sequences[0].epochs, std::vector<std::uint64_t>{100});
    EXPECT_EQ(g.sequences[0].last_seq, 51u);
    EXPECT_EQ(g.sequences[1].epochs, std::vector<std::uint64_t>{300});
    EXPECT_EQ(g.duplicates, 0u) << "(gw, ep, seq) names a reading: same seq, other epoch, other reading";
    // The loss record of the first sequence does not explain the second's gap with the same numbers.
    ASSERT_EQ(g.gaps.size(), 1u);
    EXPECT_EQ(g.gaps[0].sequence, 1u);
    EXPECT_EQ(g.gaps[0].unexplained, (std::vector<SeqRange>{{3, 4}}));
    EXPECT_FALSE(r.complete());
}

TEST(SequenceAudit, MalformedPayloadsAreCountedNotFatal) {
    Transcript t;
    t.readings("gw", 1, 1, 2);
    t("x", "not json at all");
    t("x", "");
    t("x", "[1,2]");
    t("x", R"({"seq":3})");                                      // no gw
    t("x", R"({"gw":"gw","ep":1,"seq":-1})");                    // negative
    t("x", R"({"gw":"gw","ep":1,"seq":1.5})");                   // fraction
    t("x", R"({"gw":"gw","ep":1,"seq":"3"})");                   // string
    t("x", R"({"gw":"gw","ep":1,"seq":18446744073709551616})");  // 2^64: too big
    t("x", R"({"gw":"gw","ep":-4,"seq":3})");                    // bad epoch
    // A loss record without a range is malformed but holds its place in the sequence: seq 3.
    t("x", R"({"gw":"gw","ep":1,"seq":3,"loss":{"reason":"x"}})");
    t("x", R"({"gw":"gw","ep":1,"seq":3,"ts":1.0,)");  // cut short
    t.readings("gw", 1, 4, 4);
    const auto r = t.report();
    EXPECT_EQ(r.messages, 14u);
    EXPECT_EQ(r.unattributed, 5u);
    const auto& g = gateway(r, "gw");
    EXPECT_EQ(g.malformed, 6u);
    EXPECT_EQ(g.messages, 9u);
    EXPECT_EQ(g.distinct_readings, 3u);
    EXPECT_EQ(g.loss_records, 1u);
    EXPECT_TRUE(g.gaps.empty());
    EXPECT_TRUE(r.complete());
}

TEST(SequenceAudit, SeqValuesAtTheTopOfTheSixtyFourBitRange) {
    constexpr auto top = std::numeric_limits<std::uint64_t>::max();
    Transcript t;
    t("t", reading("gw", 4294967295u, top - 3));
    t("t", reading("gw", 4294967295u, top));
    t("t", reading("gw", 4294967295u, top - 2));
    const auto r = t.report();
    const auto& g = gateway(r, "gw");
    ASSERT_EQ(g.gaps.size(), 1u);
    EXPECT_EQ(g.gaps[0].missing, (SeqRange{top - 1, top - 1}));
    EXPECT_EQ(g.out_of_order, 1u);
    EXPECT_EQ(g.sequences[0].last_seq, top);
    // and a gap of nearly the whole range
    Transcript wide;
    wide("t", reading("gw", 1, 0));
    wide("t", reading("gw", 1, top));
    EXPECT_EQ(gateway(wide.report(), "gw").missing, top - 1);
}

TEST(SequenceAudit, StatusAndHealthAreCountedButAreNotReadings) {
    Transcript t;
    t("outpost/gw/status", R"({"gw":"gw","state":"online","version":"0.1.0"})");
    t.readings("gw", 1, 1, 3);
    t("outpost/gw/health", R"({"gw":"gw","outbox_rows":12,"losses":0})");
    t("outpost/gw/status", R"({"gw":"gw","state":"offline"})");
    t("outpost/quiet/status", R"({"gw":"quiet","state":"online"})");
    const auto r = t.report();
    const auto& g = gateway(r, "gw");
    EXPECT_EQ(g.messages, 6u);
    EXPECT_EQ(g.status_messages, 2u);
    EXPECT_EQ(g.health_messages, 1u);
    EXPECT_EQ(g.last_status, "offline");
    EXPECT_EQ(g.distinct_readings, 3u);
    const auto& quiet = gateway(r, "quiet");
    EXPECT_EQ(quiet.distinct_readings, 0u);
    EXPECT_EQ(quiet.last_status, "online");
    EXPECT_TRUE(quiet.sequences.empty());
    EXPECT_TRUE(r.complete());
}

TEST(SequenceAudit, LatencyPercentilesFromFirstArrivalsOfReadings) {
    Transcript t;
    const double ts = 1700000000.0;
    // Latencies 10 ms, 20 ms, ... 1000 ms.
    for (std::uint64_t s = 1; s <= 100; ++s) t("t", reading("gw", 1, s, ts), ts + 0.01 * static_cast<double>(s));
    t("t", reading("gw", 1, 1, ts), ts + 50.0);                     // a duplicate: not a latency sample
    t("outpost/gw/loss", loss("gw", 1, 101, 200, 300), ts + 60.0);  // a loss record: neither
    const auto& g = gateway(t.report(), "gw");
    ASSERT_TRUE(g.latency);
    EXPECT_EQ(g.latency->samples, 100u);
    EXPECT_NEAR(g.latency->p50, 0.50, 1e-6);
    EXPECT_NEAR(g.latency->p95, 0.95, 1e-6);
    EXPECT_NEAR(g.latency->p99, 0.99, 1e-6);
    EXPECT_NEAR(g.latency->max, 1.00, 1e-6);
    EXPECT_NEAR(g.latency->min, 0.01, 1e-6);
}

TEST(SequenceAudit, UserPropertiesThatDisagreeWithThePayloadAreCounted) {
    SequenceAudit audit;
    const auto payload = reading("gw", 7, 12);
    audit.feed(Arrival{std::nullopt, "t", payload, UserProperties{"gw", "7", "12"}});
    const auto payload2 = reading("gw", 7, 13);
    audit.feed(Arrival{std::nullopt, "t", payload2, UserProperties{"gw", "7", "99"}});
    const auto& g = gateway(audit.report(), "gw");
    EXPECT_EQ(g.property_mismatches, 1u);
    EXPECT_EQ(g.distinct_readings, 2u) << "the payload is the source of truth";
}

TEST(SequenceAudit, JsonAndTextReportsSayWhatIsUnexplained) {
    Transcript t;
    t.readings("bess-01", 7345, 1, 4);
    t("outpost/bess-01/loss", loss("bess-01", 7345, 105, 5, 50));
    t.readings("bess-01", 7345, 106, 106);
    const auto r = t.report();
    const auto j = to_json(r);
    EXPECT_EQ(j["complete"], false);
    const auto& g = j["gateways"]["bess-01"];
    EXPECT_EQ(g["distinct_readings"], 5);
    EXPECT_EQ(g["loss_records"], 1);
    ASSERT_EQ(g["unexplained_gaps"].size(), 1u);
    EXPECT_EQ(g["unexplained_gaps"][0]["first"], 51);
    EXPECT_EQ(g["unexplained_gaps"][0]["last"], 104);
    EXPECT_EQ(g["gaps"][0]["explained"], false);
    std::ostringstream text;
    write_text(text, r);
    EXPECT_NE(text.str().find("5..104: UNEXPLAINED in part: 51..104"), std::string::npos) << text.str();
    EXPECT_NE(text.str().find("unexplained gaps in 1 of 1 gateway(s)"), std::string::npos) << text.str();
}
