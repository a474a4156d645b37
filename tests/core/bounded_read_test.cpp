#include "outpost/core/bounded_read.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

using namespace outpost::core;
namespace fs = std::filesystem;

namespace {

class BoundedRead : public ::testing::Test {
protected:
    void SetUp() override {
        std::string tmpl = (fs::temp_directory_path() / "outpost-bounded-XXXXXX").string();
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override {
        std::error_code ignored;
        fs::remove_all(dir_, ignored);
    }
    std::string write(const std::string& name, const std::string& text) {
        const auto p = (dir_ / name).string();
        std::ofstream(p, std::ios::binary) << text;
        return p;
    }
    fs::path dir_;
};

constexpr FileLimit small{16, "test file"};

}  // namespace

TEST_F(BoundedRead, ReadsAFileUpToTheLimit) {
    const auto f = read_file_bounded(write("a", "0123456789abcdef"), small);
    ASSERT_TRUE(f) << f.error;
    EXPECT_EQ(f.text, "0123456789abcdef");
    EXPECT_TRUE(f.error.empty());
    const auto empty = read_file_bounded(write("e", ""), small);
    ASSERT_TRUE(empty) << empty.error;
    EXPECT_EQ(empty.text, "");
}

TEST_F(BoundedRead, RefusesAFileOverTheLimitNamingFileAndLimit) {
    const auto path = write("big", std::string(17, 'x'));
    const auto f = read_file_bounded(path, small);
    EXPECT_FALSE(f);
    EXPECT_EQ(f.ec, std::errc::file_too_large);
    EXPECT_TRUE(f.text.empty());
    EXPECT_EQ(f.error, path + ": " + f.reason);
    EXPECT_NE(f.error.find("16 bytes allowed for a test file"), std::string::npos) << f.error;
    EXPECT_NE(f.error.find("(17 bytes)"), std::string::npos) << f.error;
}

TEST_F(BoundedRead, RefusesDevicesFifosAndDirectories) {
    const auto zero = read_file_bounded("/dev/zero", limits::json_file);
    EXPECT_EQ(zero.ec, std::errc::invalid_argument);
    EXPECT_NE(zero.error.find("/dev/zero: not a regular file (a character device)"), std::string::npos) << zero.error;

    const auto fifo = (dir_ / "fifo").string();
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    const auto f = read_file_bounded(fifo, small);  // no writer: must not hang
    EXPECT_EQ(f.ec, std::errc::invalid_argument);
    EXPECT_NE(f.error.find("not a regular file (a FIFO)"), std::string::npos) << f.error;

    const auto d = read_file_bounded(dir_.string(), small);
    EXPECT_EQ(d.ec, std::errc::invalid_argument);
    EXPECT_NE(d.error.find("not a regular file (a directory)"), std::string::npos) << d.error;
}

TEST_F(BoundedRead, MissingFileSaysWhy) {
    const auto f = read_file_bounded((dir_ / "nope").string(), small);
    EXPECT_EQ(f.ec, std::errc::no_such_file_or_directory);
    EXPECT_NE(f.error.find((dir_ / "nope").string() + ": cannot read: No such file"), std::string::npos) << f.error;
}

TEST(FormatBytes, ShowsWholeUnits) {
    EXPECT_EQ(format_bytes(16u << 20), "16 MiB");
    EXPECT_EQ(format_bytes(4096), "4 KiB");
    EXPECT_EQ(format_bytes(1000), "1000 bytes");
}

TEST_F(BoundedRead, LinesWithOffsetsAndAMissingLastNewline) {
    BoundedLineReader r(8);
    std::string error;
    ASSERT_FALSE(r.open(write("l", "one\n\ntwo\r\nthree"), error)) << error;
    EXPECT_EQ(r.file_size(), 15u);
    std::string line;
    ASSERT_EQ(r.next(line), BoundedLineReader::Status::line);
    EXPECT_EQ(line, "one");
    EXPECT_EQ(r.offset(), 4u);
    ASSERT_EQ(r.next(line), BoundedLineReader::Status::line);
    EXPECT_EQ(line, "");
    ASSERT_EQ(r.next(line), BoundedLineReader::Status::line);
    EXPECT_EQ(line, "two\r");
    EXPECT_EQ(r.offset(), 10u);
    ASSERT_EQ(r.next(line), BoundedLineReader::Status::line);
    EXPECT_EQ(line, "three");
    EXPECT_EQ(r.offset(), 15u);
    EXPECT_EQ(r.line_number(), 4u);
    EXPECT_EQ(r.next(line), BoundedLineReader::Status::end);
    EXPECT_EQ(r.next(line), BoundedLineReader::Status::end);
}

TEST_F(BoundedRead, ALineAtTheLimitIsKeptOneByteMoreIsSkipped) {
    BoundedLineReader r(8);
    std::string error;
    ASSERT_FALSE(r.open(write("l", "12345678\n123456789\nok\n"), error)) << error;
    std::string line;
    ASSERT_EQ(r.next(line), BoundedLineReader::Status::line);
    EXPECT_EQ(line, "12345678");
    ASSERT_EQ(r.next(line), BoundedLineReader::Status::too_long);
    EXPECT_EQ(line, "");
    EXPECT_EQ(r.last_length(), 9u);
    EXPECT_EQ(r.line_number(), 2u);
    EXPECT_EQ(r.offset(), 19u);
    ASSERT_EQ(r.next(line), BoundedLineReader::Status::line);
    EXPECT_EQ(line, "ok");
    EXPECT_EQ(r.too_long_lines(), 1u);
    EXPECT_EQ(r.next(line), BoundedLineReader::Status::end);
}

// A line many buffers long is skipped without being held: the string never grows past the limit.
TEST_F(BoundedRead, AHugeLineIsSkippedInBoundedMemory) {
    const std::string huge(3u << 20, 'z');
    BoundedLineReader r(4096);
    std::string error;
    ASSERT_FALSE(r.open(write("h", "a\n" + huge + "\nb\n" + huge), error)) << error;
    std::string line;
    ASSERT_EQ(r.next(line), BoundedLineReader::Status::line);
    ASSERT_EQ(r.next(line), BoundedLineReader::Status::too_long);
    EXPECT_EQ(r.last_length(), huge.size());
    ASSERT_EQ(r.next(line), BoundedLineReader::Status::line);
    EXPECT_EQ(line, "b");
    ASSERT_EQ(r.next(line), BoundedLineReader::Status::too_long);  // ends inside the long line
    EXPECT_EQ(r.last_length(), huge.size());
    EXPECT_EQ(r.offset(), 2 + huge.size() + 3 + huge.size());
    EXPECT_EQ(r.next(line), BoundedLineReader::Status::end);
    EXPECT_LE(line.capacity(), 4096u);
}

TEST_F(BoundedRead, SeekResumesAtAnOffset) {
    BoundedLineReader r;
    std::string error;
    ASSERT_FALSE(r.open(write("s", "a\nbb\nccc\n"), error)) << error;
    ASSERT_FALSE(r.seek(2));
    std::string line;
    ASSERT_EQ(r.next(line), BoundedLineReader::Status::line);
    EXPECT_EQ(line, "bb");
    EXPECT_EQ(r.offset(), 5u);
}

TEST_F(BoundedRead, LineReaderRefusesEndlessSources) {
    BoundedLineReader r;
    std::string error;
    EXPECT_EQ(r.open("/dev/zero", error), std::errc::invalid_argument);
    EXPECT_NE(error.find("/dev/zero: not a regular file (a character device)"), std::string::npos) << error;
    EXPECT_FALSE(r.is_open());
    const auto fifo = (dir_ / "fifo").string();
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    EXPECT_EQ(r.open(fifo, error), std::errc::invalid_argument);
    EXPECT_NE(error.find("not a regular file (a FIFO)"), std::string::npos) << error;
}
