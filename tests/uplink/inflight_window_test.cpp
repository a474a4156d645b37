#include "outpost/uplink/inflight_window.hpp"

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
