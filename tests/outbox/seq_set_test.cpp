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
    EXPECT_LE(s.capacity(), 16u) << "an emptied set gives its memory back";
    EXPECT_TRUE(s.insert(0));
    EXPECT_FALSE(s.insert(0));
    EXPECT_EQ(s.count(0), 1u);
    EXPECT_EQ(s.erase(0), 1u);
    EXPECT_TRUE(s.empty());
}

// A drain's numbers are dense: 64 of them share one slot, and the set stays small however many
// acknowledgements wait for a commit. Scattered numbers take a slot each.
TEST(SeqSet, DenseNumbersShareSlots) {
    SeqSet s;
    for (std::uint64_t seq = 5'000'000'017; seq < 5'000'131'089; ++seq) ASSERT_TRUE(s.insert(seq));
    EXPECT_EQ(s.size(), 131'072u);
    // 2,049 blocks of 64 in at most half the slots: 8,192 of 16 bytes (128 KiB, against 2 MiB
    // for one number a slot).
    EXPECT_LE(s.capacity(), 8192u);
    EXPECT_EQ(s.count(5'000'000'016), 0u);
    EXPECT_EQ(s.count(5'000'000'017), 1u);
    EXPECT_EQ(s.count(5'000'131'088), 1u);
    EXPECT_EQ(s.count(5'000'131'089), 0u);
    for (std::uint64_t seq = 5'000'000'017; seq < 5'000'131'089; seq += 2) ASSERT_EQ(s.erase(seq), 1u);
    EXPECT_EQ(s.size(), 65'536u);
    EXPECT_EQ(s.erase(5'000'000'017), 0u);
    EXPECT_EQ(s.count(5'000'000'018), 1u);
    SeqSet scattered;
    for (std::uint64_t i = 0; i < 1000; ++i) scattered.insert(i * 64 + (i % 64));
    EXPECT_EQ(scattered.size(), 1000u);
    EXPECT_GE(scattered.capacity(), 2000u);
    EXPECT_TRUE(scattered.insert(std::uint64_t{0} - 1)) << "the highest number has its block too";
    EXPECT_EQ(scattered.count(std::uint64_t{0} - 1), 1u);
    EXPECT_EQ(scattered.count(std::uint64_t{0} - 2), 0u);
}
