#include "outpost/app/reload_plan.hpp"

#include <gtest/gtest.h>

using namespace outpost;
using namespace outpost::app;

namespace {

SiteConfig site() {
    SiteConfig s;
    s.gateway_id = "gw";
    s.broker.host = "broker";
    s.outbox.path = "/var/lib/outpost/outbox.db";
    BusConfig replay;
    replay.name = "bms";
    replay.type = BusType::candump_replay;
    replay.replay.path = "/logs/bms.log";
    BusConfig tcp;
    tcp.name = "pcs";
    tcp.type = BusType::modbus_tcp;
    tcp.tcp.host = "10.0.0.5";
    ingest::ModbusDeviceOptions device;
    device.name = "inverter";
    device.ranges.push_back({core::ModbusTable::holding_registers, 0, 10, std::chrono::milliseconds(1000)});
    tcp.tcp.devices.push_back(device);
    s.buses = {replay, tcp};
    return s;
}

}  // namespace

TEST(ReloadPlan, NothingChangedNothingToDo) {
    const auto p = plan_reload(site(), site());
    EXPECT_FALSE(p.refused);
    EXPECT_TRUE(p.needs_restart.empty());
    EXPECT_TRUE(p.live_changes.empty());
    EXPECT_TRUE(p.stop_buses.empty());
    EXPECT_TRUE(p.start_buses.empty());
}

TEST(ReloadPlan, APollRateChangeRestartsOnlyThatBus) {
    auto next = site();
    next.buses[1].tcp.devices[0].ranges[0].period = std::chrono::milliseconds(250);
    const auto p = plan_reload(site(), next);
    EXPECT_EQ(p.stop_buses, std::vector<std::string>{"pcs"});
    EXPECT_EQ(p.start_buses, std::vector<std::string>{"pcs"});
}

TEST(ReloadPlan, AddedRemovedDisabledAndMovedBuses) {
    auto next = site();
    next.buses[0].enabled = false;  // bms: stopped, not started
    BusConfig can;
    can.name = "can0";
    can.type = BusType::socketcan;
    next.buses.insert(next.buses.begin(), can);  // pcs moves from index 1 to 2: frames carry the index
    const auto p = plan_reload(site(), next);
    EXPECT_EQ(p.stop_buses, (std::vector<std::string>{"bms", "pcs"}));
    EXPECT_EQ(p.start_buses, (std::vector<std::string>{"can0", "pcs"}));
}

TEST(ReloadPlan, BrokerAndOutboxNeedARestartCommitAndStatsAreLive) {
    auto next = site();
    next.broker.port = 8883;
    next.broker.birth_members = R"("config_digest":"changed")";  // changes with every edit: not a broker setting
    next.outbox.path = "/elsewhere.db";
    next.outbox.max_rows = 5;
    next.commit_interval = std::chrono::milliseconds(1000);
    next.stats_interval = std::chrono::seconds(60);
    const auto p = plan_reload(site(), next);
    EXPECT_FALSE(p.refused);
    EXPECT_EQ(p.needs_restart, (std::vector<std::string>{"broker", "outbox/path", "outbox/max_rows"}));
    auto alternate = site();
    alternate.broker.alternates.push_back({"backup", 1883, std::nullopt});
    EXPECT_EQ(plan_reload(site(), alternate).needs_restart, std::vector<std::string>{"broker"});
    auto link = site();
    link.broker.batch.enabled = true;
    link.outbox.ttl[3] = std::chrono::seconds(60);
    EXPECT_EQ(plan_reload(site(), link).needs_restart, (std::vector<std::string>{"link", "outbox/ttl_s"}));
    auto budget = site();
    budget.broker.budget.daily_bytes = 1000;
    EXPECT_EQ(plan_reload(site(), budget).needs_restart, std::vector<std::string>{"link"});
    auto quiet = site();
    quiet.broker.birth_members = R"("config_digest":"changed")";
    EXPECT_TRUE(plan_reload(site(), quiet).needs_restart.empty());
    EXPECT_EQ(p.live_changes, (std::vector<std::string>{"outbox/commit_interval_ms", "stats_interval_s"}));
    EXPECT_TRUE(p.stop_buses.empty());
}

TEST(ReloadPlan, AnotherGatewayIdIsRefusedWhole) {
    auto next = site();
    next.gateway_id = "other";
    next.broker.port = 8883;
    const auto p = plan_reload(site(), next);
    EXPECT_TRUE(p.refused);
    EXPECT_NE(p.refusal.find("gateway_id"), std::string::npos);
    EXPECT_TRUE(p.needs_restart.empty());
}
