#include "outpost/ingest/candump_replay.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

#include <boost/asio/io_context.hpp>

using namespace outpost::ingest;

namespace {

struct Collect : FrameSink {
    std::vector<outpost::core::CanFrame> frames;
    std::vector<std::chrono::steady_clock::time_point> at;
    void on_frame(const outpost::core::CanFrame& f) override {
        frames.push_back(f);
        at.push_back(std::chrono::steady_clock::now());
    }
};

std::string write_log(const std::string& name, const std::string& text) {
    const std::string path = testing::TempDir() + "/" + name;
    std::ofstream(path) << text;
    return path;
}

}  // namespace

TEST(CandumpReplay, MalformedLinesAreCountedWithLineNumbersAndReplayGoesOn) {
    const auto path = write_log("bad.log",
                                "(1700000000.000000) can0 100#01\n"
                                "(1700000000.001000) can0 100#02\n"
                                "(1700000000.002000) can0 1x0#03\n"
                                "\n"
                                "(1700000000.003000) can1 100#04\n"
                                "(1700000000.004000) can0 100#05\n"
                                "(1700000000.005000) can0 100#0");  // truncated last line
    boost::asio::io_context io;
    Collect sink;
    CandumpReplay replay(io, {.path = path, .bus_name = "bms", .bus = 3, .speed = 0, .interface = "can0"}, sink);
    bool done = false;
    testing::internal::CaptureStderr();
    replay.start([&] { done = true; });
    io.run();
    const std::string log = testing::internal::GetCapturedStderr();
    EXPECT_TRUE(done);
    ASSERT_EQ(sink.frames.size(), 3u);
    EXPECT_EQ(sink.frames[2].data[0], 0x05);
    EXPECT_EQ(sink.frames[0].bus, 3);
    EXPECT_EQ(replay.stats().lines, 7u);
    EXPECT_EQ(replay.stats().malformed, 2u);
    EXPECT_EQ(replay.stats().other_interface, 1u);
    EXPECT_NE(log.find("\"line\":3"), std::string::npos) << log;
    EXPECT_NE(log.find("\"line\":7"), std::string::npos) << log;
}

TEST(CandumpReplay, PacedReplayKeepsTheRecordedSpacing) {
    // Four frames 100 ms apart replayed at 2x: the last arrives ~150 ms after the first.
    const auto path = write_log("paced.log",
                                "(10.000000) can0 100#01\n(10.100000) can0 100#02\n"
                                "(10.200000) can0 100#03\n(10.300000) can0 100#04\n");
    boost::asio::io_context io;
    Collect sink;
    CandumpReplay replay(io, {.path = path, .speed = 2.0, .restamp = false}, sink);
    replay.start([] {});
    io.run();
    ASSERT_EQ(sink.frames.size(), 4u);
    const auto span = std::chrono::duration_cast<std::chrono::milliseconds>(sink.at[3] - sink.at[0]).count();
    EXPECT_GE(span, 140);
    EXPECT_LT(span, 400);
    EXPECT_EQ(sink.frames[3].timestamp_ns, 10'300'000'000);  // not restamped
}

TEST(CandumpReplay, MissingFileIsAStartUpError) {
    boost::asio::io_context io;
    Collect sink;
    EXPECT_THROW(CandumpReplay(io, {.path = "/nonexistent/x.log"}, sink), std::system_error);
}

// A 200 MB line used to take 271 MB: it is skipped in bounded memory, counted, logged, and the
// frames around it still arrive, with resume offsets that account for every byte.
TEST(CandumpReplay, AnOverlongLineIsSkippedAndCounted) {
    const std::string huge(8u << 20, '7');
    const auto path = write_log("long.log", "(1.000000) can0 100#01\n(1.000001) can0 100#" + huge +
                                                "\n(1.000002) can0 100#03\n");
    boost::asio::io_context io;
    Collect sink;
    CandumpReplay replay(io, {.path = path, .bus_name = "bms", .speed = 0}, sink);
    testing::internal::CaptureStderr();
    replay.start([] {});
    io.run();
    const std::string log = testing::internal::GetCapturedStderr();
    ASSERT_EQ(sink.frames.size(), 2u);
    EXPECT_EQ(sink.frames[1].data[0], 0x03);
    EXPECT_EQ(replay.stats().lines, 3u);
    EXPECT_EQ(replay.stats().malformed, 1u);
    EXPECT_EQ(replay.stats().too_long, 1u);
    EXPECT_EQ(replay.resume_offset(), 23u + 20u + huge.size() + 1u + 23u);
    EXPECT_NE(log.find("replay.line_too_long"), std::string::npos) << log;
    EXPECT_NE(log.find("\"line\":2"), std::string::npos) << log;
    EXPECT_NE(log.find("\"length\":" + std::to_string(20 + huge.size())), std::string::npos) << log;
}

TEST(CandumpReplay, EndlessSourcesAreRefusedAtOpen) {
    boost::asio::io_context io;
    Collect sink;
    try {
        CandumpReplay replay(io, {.path = "/dev/zero", .speed = 0}, sink);
        FAIL() << "expected a system_error";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), std::errc::invalid_argument);
        EXPECT_NE(std::string(e.what()).find("/dev/zero: not a regular file"), std::string::npos) << e.what();
    }
}
