#include "outpost/ingest/can/receive_control.hpp"

#include <netinet/in.h>

#include <cstring>
#include <type_traits>

#include <gtest/gtest.h>

#include "outpost/ingest/can/drop_counter.hpp"

using namespace outpost::ingest;

namespace {

// Fills `buffer` the way the kernel does for SO_TIMESTAMP and SO_RXQ_OVFL.
msghdr control_message(ControlBuffer& buffer, const timeval* tv, const std::uint32_t* dropped) {
    std::memset(&buffer, 0, sizeof buffer);
    msghdr msg{};
    msg.msg_control = buffer.bytes;
    msg.msg_controllen = sizeof buffer.bytes;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    std::size_t used = 0;
    if (tv) {
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SO_TIMESTAMP;
        c->cmsg_len = CMSG_LEN(sizeof *tv);
        std::memcpy(CMSG_DATA(c), tv, sizeof *tv);
        used += CMSG_SPACE(sizeof *tv);
        c = CMSG_NXTHDR(&msg, c);
    }
    if (dropped) {
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SO_RXQ_OVFL;
        c->cmsg_len = CMSG_LEN(sizeof *dropped);
        std::memcpy(CMSG_DATA(c), dropped, sizeof *dropped);
        used += CMSG_SPACE(sizeof *dropped);
    }
    msg.msg_controllen = used;
    return msg;
}

}  // namespace

TEST(ReceiveControl, TheBufferIsAlignedForCmsghdrAndHoldsBothMessages) {
    EXPECT_EQ(alignof(ControlBuffer) % alignof(cmsghdr), 0u);
    EXPECT_GE(sizeof(ControlBuffer), CMSG_SPACE(sizeof(timeval)) + CMSG_SPACE(sizeof(std::uint32_t)));
    ControlBuffer buffers[3];
    for (auto& b : buffers) EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.bytes) % alignof(cmsghdr), 0u);
}

TEST(ReceiveControl, TimestampAndDropCounter) {
    ControlBuffer buffer;
    const timeval tv{1700000000, 123456};
    const std::uint32_t dropped = 42;
    auto msg = control_message(buffer, &tv, &dropped);
    const auto c = parse_control(msg);
    ASSERT_TRUE(c.timestamp_ns);
    EXPECT_EQ(*c.timestamp_ns, 1700000000123456000);
    ASSERT_TRUE(c.drop_counter);
    EXPECT_EQ(*c.drop_counter, 42u);
}

TEST(ReceiveControl, EitherMayBeMissing) {
    ControlBuffer buffer;
    const std::uint32_t dropped = 7;
    auto only_drops = control_message(buffer, nullptr, &dropped);
    auto c = parse_control(only_drops);
    EXPECT_FALSE(c.timestamp_ns);
    EXPECT_EQ(c.drop_counter.value_or(0), 7u);
    auto none = control_message(buffer, nullptr, nullptr);
    c = parse_control(none);
    EXPECT_FALSE(c.timestamp_ns);
    EXPECT_FALSE(c.drop_counter);
}

TEST(ReceiveControl, OtherLevelsAndTruncatedPayloadsAreIgnored) {
    ControlBuffer buffer;
    const timeval tv{1, 0};
    auto msg = control_message(buffer, &tv, nullptr);
    auto* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = IPPROTO_IP;
    EXPECT_FALSE(parse_control(msg).timestamp_ns);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_len = CMSG_LEN(sizeof(tv) - 1);
    EXPECT_FALSE(parse_control(msg).timestamp_ns);
}

TEST(DropCounter, TotalsAcrossWrapAndReopen) {
    DropCounter d;
    EXPECT_EQ(d.update(0), 0u);
    EXPECT_EQ(d.update(10), 10u);
    EXPECT_EQ(d.update(10), 0u);
    EXPECT_EQ(d.update(0xFFFFFFF0u), 0xFFFFFFE6u);
    EXPECT_EQ(d.update(5), 21u) << "the 32-bit counter wrapped";
    d.reset();  // a new socket counts from 0 again
    EXPECT_EQ(d.update(3), 3u);
    EXPECT_EQ(d.total(), std::uint64_t{10} + 0xFFFFFFE6u + 21u + 3u);
}
