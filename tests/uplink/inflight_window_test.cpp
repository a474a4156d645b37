#include "outpost/uplink/inflight_window.hpp"

#include <algorithm>
#include <iterator>
#include <map>
#include <random>

#include <gtest/gtest.h>

using outpost::uplink::InflightWindow;

TEST(InflightWindow, TracksRoomAndReleasesByPacketId) {
    InflightWindow w(3);
    EXPECT_EQ(w.room(), 3u);
    w.add(1, 100, 5);
    w.add(2, 101, 9);
    EXPECT_EQ(w.room(), 1u);
    const auto e = w.release(2);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->seq, 101u);
    EXPECT_EQ(e->priority, 9);
    EXPECT_FALSE(w.release(2)) << "a second ack for the same packet id is ignored";
    EXPECT_FALSE(w.release(77)) << "an ack from an earlier connection is ignored";
    EXPECT_FALSE(w.release(0));
    EXPECT_FALSE(w.release(70000));
    EXPECT_EQ(w.size(), 1u);
}

TEST(InflightWindow, ClearForgetsEverythingAfterADisconnect) {
    InflightWindow w(10);
    for (int mid = 1; mid <= 10; ++mid) w.add(mid, static_cast<std::uint64_t>(mid) * 10, 1);
    EXPECT_EQ(w.room(), 0u);
    w.clear();
    EXPECT_TRUE(w.empty());
    EXPECT_FALSE(w.release(5));
}

TEST(InflightWindow, PacketIdsWrapAround) {
    InflightWindow w(2);
    w.add(65535, 1, 0);
    w.add(1, 2, 0);
    EXPECT_EQ(w.release(65535)->seq, 1u);
    EXPECT_EQ(w.release(1)->seq, 2u);
}

TEST(InflightWindow, CollidingPacketIdsAreKeptApartAndReleasedInAnyOrder) {
    // 256 in flight: a 512-slot table, so ids 512 apart start at the same slot.
    InflightWindow w(256);
    for (int k = 0; k < 100; ++k) w.add(7 + 512 * k, 1000 + static_cast<std::uint64_t>(k), 3, 10);
    for (int k = 0; k < 100; k += 2) EXPECT_EQ(w.release(7 + 512 * k)->seq, 1000u + static_cast<std::uint64_t>(k));
    for (int k = 1; k < 100; k += 2) EXPECT_EQ(w.release(7 + 512 * k)->seq, 1000u + static_cast<std::uint64_t>(k));
    EXPECT_TRUE(w.empty());
}

TEST(InflightWindow, AgreesWithAMapOverAMillionRandomAddsAndAcks) {
    InflightWindow w(256);
    std::map<int, std::uint64_t> model;
    std::mt19937 rng(42);
    int next_mid = 1;
    std::uint64_t seq = 1;
    for (int step = 0; step < 1'000'000; ++step) {
        if (model.size() < 256 && (rng() % 3 != 0 || model.empty())) {
            // libmosquitto hands out ids in turn, skipping 0, and wraps at 65535.
            w.add(next_mid, seq, static_cast<std::uint8_t>(seq % 10), static_cast<std::uint32_t>(seq));
            model[next_mid] = seq++;
            next_mid = next_mid == 65535 ? 1 : next_mid + 1;
        } else {
            // Acks mostly in order, sometimes out of it, sometimes for an id not in flight.
            auto it = model.begin();
            std::advance(it, static_cast<long>(rng() % std::min<std::size_t>(model.size(), 4)));
            const int mid = rng() % 50 == 0 ? static_cast<int>(rng() % 65535) + 1 : it->first;
            const auto got = w.release(mid);
            const auto want = model.find(mid);
            ASSERT_EQ(got.has_value(), want != model.end()) << "step " << step << " mid " << mid;
            if (got) {
                ASSERT_EQ(got->seq, want->second);
                ASSERT_EQ(got->stored_bytes, static_cast<std::uint32_t>(want->second));
                model.erase(want);
            }
        }
        ASSERT_EQ(w.size(), model.size());
    }
}

TEST(InflightWindow, MoreInFlightThanTheWindowStillWorks) {
    InflightWindow w(4);
    for (int mid = 1; mid <= 1000; ++mid) w.add(mid, static_cast<std::uint64_t>(mid), 0);
    EXPECT_EQ(w.size(), 1000u);
    for (int mid = 1000; mid >= 1; --mid) ASSERT_EQ(w.release(mid)->seq, static_cast<std::uint64_t>(mid));
    EXPECT_TRUE(w.empty());
}
