#include "outpost/ingest/can/bus_state.hpp"

#include <linux/can.h>
#include <linux/can/error.h>

#include <gtest/gtest.h>

using namespace outpost::ingest;
using outpost::core::CanFrame;

namespace {

CanFrame error_frame(std::uint32_t classes, std::uint8_t controller = 0, std::uint8_t tx_errors = 0,
                     std::uint8_t rx_errors = 0) {
    CanFrame f;
    f.error = true;
    f.id = classes;
    f.len = CAN_ERR_DLC;
    f.data[1] = controller;
    f.data[6] = tx_errors;
    f.data[7] = rx_errors;
    return f;
}

BusState to(const std::optional<BusStateChange>& c) { return c ? c->to : BusState::down; }

}  // namespace

TEST(BusStateMachine, OpenThenTheWholeWayDownAndBack) {
    BusStateMachine m;
    EXPECT_EQ(m.state(), BusState::down);
    auto c = m.on_open();
    ASSERT_TRUE(c);
    EXPECT_EQ(c->from, BusState::down);
    EXPECT_EQ(c->to, BusState::error_active);

    EXPECT_EQ(to(m.on_error_frame(error_frame(CAN_ERR_CRTL, CAN_ERR_CRTL_TX_WARNING))), BusState::error_warning);
    EXPECT_EQ(to(m.on_error_frame(error_frame(CAN_ERR_CRTL, CAN_ERR_CRTL_RX_PASSIVE))), BusState::error_passive);
    c = m.on_error_frame(error_frame(CAN_ERR_BUSOFF));
    ASSERT_TRUE(c);
    EXPECT_EQ(c->from, BusState::error_passive);
    EXPECT_EQ(c->to, BusState::bus_off);
    EXPECT_STREQ(c->reason, "bus-off error frame");
    c = m.on_error_frame(error_frame(CAN_ERR_RESTARTED));
    ASSERT_TRUE(c);
    EXPECT_EQ(c->to, BusState::error_active);
    EXPECT_STREQ(c->reason, "controller restarted");

    const auto& n = m.counters();
    EXPECT_EQ(n.error_frames, 4u);
    EXPECT_EQ(n.error_warning, 1u);
    EXPECT_EQ(n.error_passive, 1u);
    EXPECT_EQ(n.bus_off, 1u);
    EXPECT_EQ(n.restarted, 1u);

    c = m.on_down();
    ASSERT_TRUE(c);
    EXPECT_EQ(c->to, BusState::down);
    EXPECT_FALSE(m.on_down()) << "no change, nothing to report";
}

TEST(BusStateMachine, RepeatedErrorFramesAreCountedButChangeNothing) {
    BusStateMachine m;
    m.on_open();
    EXPECT_TRUE(m.on_error_frame(error_frame(CAN_ERR_CRTL, CAN_ERR_CRTL_RX_PASSIVE)));
    EXPECT_FALSE(m.on_error_frame(error_frame(CAN_ERR_CRTL, CAN_ERR_CRTL_TX_PASSIVE)));
    EXPECT_EQ(m.counters().error_passive, 2u);
    EXPECT_EQ(m.counters().error_frames, 2u);
    EXPECT_FALSE(m.on_error_frame(error_frame(CAN_ERR_TX_TIMEOUT))) << "other classes are counted only";
    EXPECT_EQ(m.counters().error_frames, 3u);
    EXPECT_EQ(m.state(), BusState::error_passive);
}

TEST(BusStateMachine, BusOffTakesPrecedenceInOneFrame) {
    BusStateMachine m;
    m.on_open();
    EXPECT_EQ(to(m.on_error_frame(error_frame(CAN_ERR_BUSOFF | CAN_ERR_CRTL, CAN_ERR_CRTL_TX_PASSIVE))), BusState::bus_off);
    EXPECT_EQ(m.counters().error_passive, 0u);
}

TEST(BusStateMachine, TheWayBackToErrorActive) {
    BusStateMachine m;
    m.on_open();
    // The kernel reports the way back (can_change_state: CAN_ERR_CRTL_ACTIVE).
    m.on_error_frame(error_frame(CAN_ERR_CRTL, CAN_ERR_CRTL_RX_WARNING));
    auto c = m.on_error_frame(error_frame(CAN_ERR_CRTL, CAN_ERR_CRTL_ACTIVE));
    ASSERT_TRUE(c);
    EXPECT_EQ(c->to, BusState::error_active);
    // Drivers that only report their counters: back once both are below 96.
    m.on_error_frame(error_frame(CAN_ERR_CRTL, CAN_ERR_CRTL_TX_PASSIVE));
    EXPECT_FALSE(m.on_error_frame(error_frame(CAN_ERR_CNT, 0, 130, 0)));
    EXPECT_FALSE(m.on_error_frame(error_frame(CAN_ERR_CNT, 0, 20, 96)));
    EXPECT_EQ(to(m.on_error_frame(error_frame(CAN_ERR_CNT, 0, 95, 3))), BusState::error_active);
    // Counters never raise the state by themselves (the controller frames say that).
    EXPECT_FALSE(m.on_error_frame(error_frame(CAN_ERR_CNT, 0, 200, 200)));
    EXPECT_EQ(m.state(), BusState::error_active);
}

TEST(BusStateMachine, DataFramesEndBusOffOnly) {
    BusStateMachine m;
    EXPECT_FALSE(m.on_data_frame()) << "down stays down until the socket opens";
    m.on_open();
    EXPECT_FALSE(m.on_data_frame());
    m.on_error_frame(error_frame(CAN_ERR_CRTL, CAN_ERR_CRTL_RX_PASSIVE));
    EXPECT_FALSE(m.on_data_frame()) << "an error-passive controller still receives";
    EXPECT_EQ(m.state(), BusState::error_passive);
    m.on_error_frame(error_frame(CAN_ERR_BUSOFF));
    const auto c = m.on_data_frame();
    ASSERT_TRUE(c);
    EXPECT_EQ(c->to, BusState::error_active);
    EXPECT_STREQ(c->reason, "frames flowing again");
}

TEST(BusStateMachine, ShortErrorFramesReadAsZeros) {
    BusStateMachine m;
    m.on_open();
    auto f = error_frame(CAN_ERR_CRTL, CAN_ERR_CRTL_RX_PASSIVE);
    f.len = 1;  // data[1] not delivered
    EXPECT_FALSE(m.on_error_frame(f));
    EXPECT_EQ(m.state(), BusState::error_active);
}

TEST(BusStateMachine, Names) {
    EXPECT_STREQ(to_string(BusState::down), "down");
    EXPECT_STREQ(to_string(BusState::error_active), "error_active");
    EXPECT_STREQ(to_string(BusState::error_warning), "error_warning");
    EXPECT_STREQ(to_string(BusState::error_passive), "error_passive");
    EXPECT_STREQ(to_string(BusState::bus_off), "bus_off");
}
