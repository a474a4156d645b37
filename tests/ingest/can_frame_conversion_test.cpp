#include "outpost/ingest/can/frame_conversion.hpp"

#include <linux/can/error.h>

#include <gtest/gtest.h>

using namespace outpost::ingest;
using outpost::core::CanFrame;

namespace {

canfd_frame raw_frame(canid_t id, std::initializer_list<std::uint8_t> data) {
    canfd_frame raw{};
    raw.can_id = id;
    raw.len = static_cast<std::uint8_t>(data.size());
    std::copy(data.begin(), data.end(), raw.data);
    return raw;
}

}  // namespace

TEST(FrameConversion, ClassicStandardFrame) {
    const auto raw = raw_frame(0x123, {0xDE, 0xAD, 0xBE, 0xEF});
    CanFrame f;
    ASSERT_TRUE(from_kernel(raw, CAN_MTU, f));
    EXPECT_EQ(f.id, 0x123u);
    EXPECT_FALSE(f.extended);
    EXPECT_FALSE(f.fd);
    EXPECT_FALSE(f.remote);
    EXPECT_FALSE(f.error);
    ASSERT_EQ(f.len, 4);
    EXPECT_EQ(f.data[0], 0xDE);
    EXPECT_EQ(f.data[3], 0xEF);
    EXPECT_EQ(f.data[4], 0);
}

TEST(FrameConversion, ExtendedRemoteAndFdFrames) {
    CanFrame f;
    ASSERT_TRUE(from_kernel(raw_frame(0x18FEF1A3 | CAN_EFF_FLAG, {1, 2}), CAN_MTU, f));
    EXPECT_TRUE(f.extended);
    EXPECT_EQ(f.id, 0x18FEF1A3u);

    ASSERT_TRUE(from_kernel(raw_frame(0x7FF | CAN_RTR_FLAG, {}), CAN_MTU, f));
    EXPECT_TRUE(f.remote);
    EXPECT_EQ(f.id, 0x7FFu);

    auto fd = raw_frame(0x100, {});
    fd.len = 64;
    fd.flags = CANFD_BRS;
    for (int i = 0; i < 64; ++i) fd.data[i] = static_cast<std::uint8_t>(i);
    ASSERT_TRUE(from_kernel(fd, CANFD_MTU, f));
    EXPECT_TRUE(f.fd);
    EXPECT_EQ(f.len, 64);
    EXPECT_EQ(f.fd_flags, CANFD_BRS);
    EXPECT_EQ(f.data[63], 63);
}

TEST(FrameConversion, ErrorFramesKeepTheirClassBits) {
    CanFrame f;
    ASSERT_TRUE(from_kernel(raw_frame(CAN_ERR_FLAG | CAN_ERR_CRTL | CAN_ERR_CNT, {0, CAN_ERR_CRTL_RX_PASSIVE, 0, 0, 0, 0, 5, 130}),
                            CAN_MTU, f));
    EXPECT_TRUE(f.error);
    EXPECT_FALSE(f.extended);
    EXPECT_EQ(f.id, CAN_ERR_CRTL | CAN_ERR_CNT);
    EXPECT_EQ(f.data[1], CAN_ERR_CRTL_RX_PASSIVE);
    EXPECT_EQ(f.data[7], 130);
}

TEST(FrameConversion, SizesOtherThanAFrameAreRefusedAndLengthsClamped) {
    CanFrame f;
    f.id = 42;
    EXPECT_FALSE(from_kernel(raw_frame(0x1, {1}), 0, f));
    EXPECT_FALSE(from_kernel(raw_frame(0x1, {1}), CAN_MTU - 1, f));
    EXPECT_FALSE(from_kernel(raw_frame(0x1, {1}), CANFD_MTU + 1, f));
    EXPECT_EQ(f.id, 42u) << "left alone";
    auto raw = raw_frame(0x1, {});
    raw.len = 15;  // a classic frame claiming more than 8 bytes
    ASSERT_TRUE(from_kernel(raw, CAN_MTU, f));
    EXPECT_EQ(f.len, 8);
    raw.len = 200;
    ASSERT_TRUE(from_kernel(raw, CANFD_MTU, f));
    EXPECT_EQ(f.len, 64);
}

TEST(FrameConversion, RoundTrip) {
    for (const bool fd : {false, true}) {
        for (const bool extended : {false, true}) {
            CanFrame in;
            in.id = extended ? 0x1ABCDEF0 : 0x555;
            in.extended = extended;
            in.fd = fd;
            in.fd_flags = fd ? CANFD_BRS | CANFD_ESI : 0;
            in.len = fd ? 48 : 8;
            for (int i = 0; i < in.len; ++i) in.data[i] = static_cast<std::uint8_t>(0xA0 + i);
            canfd_frame raw{};
            const auto size = to_kernel(in, raw);
            EXPECT_EQ(size, fd ? CANFD_MTU : CAN_MTU);
            CanFrame out;
            ASSERT_TRUE(from_kernel(raw, size, out));
            EXPECT_EQ(out.id, in.id);
            EXPECT_EQ(out.extended, in.extended);
            EXPECT_EQ(out.fd, in.fd);
            EXPECT_EQ(out.fd_flags, in.fd_flags);
            EXPECT_EQ(out.len, in.len);
            EXPECT_EQ(out.data, in.data);
        }
    }
}

TEST(FrameConversion, KernelFilters) {
    const auto standard = to_kernel(CanIdFilter{0x123, 0x7FF, false});
    EXPECT_EQ(standard.can_id, 0x123u);
    EXPECT_EQ(standard.can_mask, 0x7FFu | CAN_EFF_FLAG | CAN_RTR_FLAG) << "EFF in the mask: standard ids only, no RTR";
    const auto pgn = to_kernel(CanIdFilter{0x18FEF1A3, 0x3FFFF00, true});
    EXPECT_EQ(pgn.can_id, 0x00FEF100u | CAN_EFF_FLAG);
    EXPECT_EQ(pgn.can_mask, 0x3FFFF00u | CAN_EFF_FLAG | CAN_RTR_FLAG);
    FilterPlan plan;
    plan.mode = FilterMode::exact;
    plan.filters = {{1, 0x7FF, false}, {2, 0x7FF, false}};
    EXPECT_EQ(to_kernel(plan).size(), 2u);
    EXPECT_EQ(kernel_filter_max, std::size_t{CAN_RAW_FILTER_MAX});
}
