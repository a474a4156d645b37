#include "outpost/outbox/seq_set.hpp"

#include <gtest/gtest.h>

#include <random>
#include <set>

using outpost::outbox::SeqSet;

// Random inserts and erases, clustered like a drain's numbers and scattered, against std::set:
// every answer the same, and the table shrinks back when it empties.
TEST(SeqSet, AgreesWithAnOrderedSetUnderRandomInsertsAndErases) {
    std::mt19937_64 rng(7);
    SeqSet s;
    std::set<std::uint64_t> ref;
    for (int round = 0; round < 200'000; ++round) {
        const std::uint64_t seq = rng() % 4 == 0 ? rng() : 1'000'000 + rng() % 50'000;
        if (rng() % 3 == 0) {
            EXPECT_EQ(s.erase(seq), ref.erase(seq));
        } else {
            EXPECT_EQ(s.insert(seq), ref.insert(seq).second);
        }
        if (round % 1000 == 0) {
            for (int k = 0; k < 50; ++k) {
                const std::uint64_t probe = 1'000'000 + rng() % 50'000;
                ASSERT_EQ(s.count(probe), ref.count(probe)) << probe;
            }
        }
    }
    EXPECT_EQ(s.size(), ref.size());
    for (const auto seq : ref) ASSERT_EQ(s.count(seq), 1u);
    for (const auto seq : ref) s.erase(seq);
    EXPECT_TRUE(s.empty());
    EXPECT_LE(s.capacity(), 128u) << "an emptied set gives its memory back";
    EXPECT_TRUE(s.insert(0));
    EXPECT_FALSE(s.insert(0));
    EXPECT_EQ(s.count(0), 1u);
    EXPECT_EQ(s.erase(0), 1u);
    EXPECT_TRUE(s.empty());
}
