#include "outpost/ingest/ingest_gate.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "outpost/ingest/candump_replay.hpp"

using namespace outpost::ingest;

TEST(IngestGate, AnOpenGateResumesAtOnceAShutOneWhenItOpensInOrder) {
    boost::asio::io_context io;
    IngestGate gate(io);
    std::vector<int> order;
    EXPECT_TRUE(gate.is_open());
    gate.wait([&] { order.push_back(0); });
    io.run();
    EXPECT_EQ(order, std::vector<int>{0}) << "posted, not run inside wait()";
    gate.shut();
    gate.shut();
    EXPECT_EQ(gate.shuts(), 1u) << "shutting a shut gate is not another shut";
    gate.wait([&] { order.push_back(1); });
    gate.wait([&] { order.push_back(2); });
    io.restart();
    io.run();
    EXPECT_EQ(order.size(), 1u) << "nothing resumes while the gate is shut";
    EXPECT_EQ(gate.waiting(), 2u);
    gate.open();
    EXPECT_EQ(order.size(), 1u) << "opening posts; the sources run on the io thread's next turns";
    io.restart();
    io.run();
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
    EXPECT_EQ(gate.waiting(), 0u);
}

namespace {

// Shuts the gate after every `every` frames, as the gateway does when the writer falls behind.
struct ShuttingSink : FrameSink {
    IngestGate& gate;
    int every;
    std::vector<std::uint8_t> seen;
    ShuttingSink(IngestGate& g, int n) : gate(g), every(n) {}
    void on_frame(const outpost::core::CanFrame& f) override {
        seen.push_back(f.data[0]);
        if (seen.size() % static_cast<std::size_t>(every) == 0) gate.shut();
    }
};

}  // namespace

// A replay held at the gate hands in nothing more, and once it opens goes on with the next line:
// no frame skipped or handed twice, and its resume offset is where it stopped.
TEST(IngestGate, AHeldReplayGoesOnWhereItStopped) {
    const std::string path = testing::TempDir() + "/gated.log";
    {
        std::ofstream out(path);
        for (int i = 0; i < 250; ++i) {
            out << "(1700000000." << 100000 + i << ") can0 100#" << std::hex << (i < 16 ? "0" : "") << i << std::dec
                << "\n";
        }
    }
    boost::asio::io_context io;
    IngestGate gate(io);
    ShuttingSink sink(gate, 100);
    CandumpReplay replay(io, {.path = path, .bus_name = "bms", .speed = 0}, sink);
    replay.set_gate(&gate);
    bool done = false;
    replay.start([&] { done = true; });
    io.run();
    ASSERT_EQ(sink.seen.size(), 100u) << "held after the frame that shut the gate";
    EXPECT_FALSE(done);
    const auto held_at = replay.resume_offset();
    const std::size_t line = std::string("(1700000000.100000) can0 100#00\n").size();
    EXPECT_EQ(held_at, 100u * line) << "the next frame is the 101st";
    for (int round = 0; round < 2; ++round) {
        gate.open();
        io.restart();
        io.run();
    }
    ASSERT_EQ(sink.seen.size(), 250u);
    EXPECT_TRUE(done);
    for (std::size_t i = 0; i < sink.seen.size(); ++i) ASSERT_EQ(sink.seen[i], static_cast<std::uint8_t>(i)) << i;
    EXPECT_EQ(gate.shuts(), 2u);
}
