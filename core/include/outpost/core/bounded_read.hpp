#pragma once
// Reading files that may be hostile: every file Outpost reads has a size limit, and only regular
// files are read whole (a device such as /dev/zero, a FIFO or a directory is refused before a byte
// is read, so an endless source cannot grow memory). Logs are read line by line with a bound on the
// line length: a longer line is skipped (and reported) without ever being held in memory.
// Thread: none of this is shared; one reader per thread.
#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>

namespace outpost::core {

// What a limit is for, in the words an error message uses ("a mapping file").
struct FileLimit {
    std::size_t bytes;
    const char* what;
};

// The limits. A real site's files are far below them; a file above one is a mistake or an attack.
namespace limits {
// Site configuration and mapping JSON: the largest real mapping seen is well under 1 MiB.
inline constexpr FileLimit json_file{16u << 20, "configuration or mapping file (JSON)"};
// DBC files: vehicle DBCs with thousands of messages stay under a few MiB.
inline constexpr FileLimit dbc_file{64u << 20, "DBC file"};
// CSV register lists: a device's list is a few hundred rows (the parser bounds records too).
inline constexpr FileLimit csv_file{4u << 20, "CSV register list"};
// A broker password file: one line.
inline constexpr FileLimit password_file{4u << 10, "password file"};
// One line of a `candump -l` log or a Modbus transcript: a CAN FD frame takes under 200 bytes.
inline constexpr std::size_t log_line_bytes = 4u << 10;
}  // namespace limits

struct FileText {
    std::string text;
    // Empty on success. Otherwise std::errc::file_too_large (above the limit),
    // std::errc::invalid_argument (not a regular file), or the errno of open/fstat/read.
    std::error_code ec;
    // For a person: `reason` says what is wrong and, where it applies, the limit ("not a regular
    // file (a character device); ...", "larger than the 16 MiB allowed for a ..."); `error` is
    // the same with the file name in front ("/dev/zero: not a regular file ...").
    std::string reason;
    std::string error;
    explicit operator bool() const noexcept { return !ec; }
};

// Reads the whole of `path` if it is a regular file of at most `limit.bytes` bytes. Opened without
// blocking (a FIFO without a writer does not hang), checked with fstat, and read to at most one
// byte past the limit, so a file that grows while it is read is refused as well. Never throws for
// a file problem (std::bad_alloc only).
FileText read_file_bounded(const std::string& path, const FileLimit& limit);

// "16 MiB", "4 KiB", "100 bytes": the limit as error messages show it.
std::string format_bytes(std::size_t bytes);

// Reads a file line by line, holding at most `max_line_bytes` of a line in memory. A line longer
// than that is skipped to its end and reported as `too_long` with its length; the next call goes
// on with the following line. Lines end with '\n' (which is not part of the line; a '\r' is left
// to the caller); the last line may lack it.
class BoundedLineReader {
public:
    enum class Status { line, too_long, end, error };

    explicit BoundedLineReader(std::size_t max_line_bytes = limits::log_line_bytes);
    ~BoundedLineReader();
    BoundedLineReader(const BoundedLineReader&) = delete;
    BoundedLineReader& operator=(const BoundedLineReader&) = delete;

    // Opens `path`, which must be a regular file (a device or FIFO could be endless). On failure
    // returns the error and fills `error` with a message naming the file.
    std::error_code open(const std::string& path, std::string& error);
    bool is_open() const noexcept { return fd_ >= 0; }
    // The file's size when it was opened.
    std::uint64_t file_size() const noexcept { return size_; }
    // Continues reading at byte `offset` (for a resumed replay); offset() becomes `offset`.
    std::error_code seek(std::uint64_t offset);

    // The next line into `line` (its capacity never exceeds max_line_bytes). On `too_long`, `line`
    // is empty and last_length() says how long the skipped line was. On `error`, error() says why.
    Status next(std::string& line);

    // Bytes consumed so far: the offset just past the last line returned (newline included).
    std::uint64_t offset() const noexcept { return offset_; }
    // Lines returned so far, too-long ones included (so this is the 1-based number of the last one).
    std::uint64_t line_number() const noexcept { return line_number_; }
    // The length of the last line without its newline, also for a skipped one.
    std::uint64_t last_length() const noexcept { return last_length_; }
    std::uint64_t too_long_lines() const noexcept { return too_long_lines_; }
    std::size_t max_line_bytes() const noexcept { return max_line_bytes_; }
    std::error_code error() const noexcept { return ec_; }

private:
    bool fill();
    void close() noexcept;

    std::size_t max_line_bytes_;
    int fd_ = -1;
    std::uint64_t size_ = 0;
    std::string buffer_;
    std::size_t begin_ = 0;  // unread bytes are buffer_[begin_, end_)
    std::size_t end_ = 0;
    bool eof_ = false;
    std::uint64_t offset_ = 0;
    std::uint64_t line_number_ = 0;
    std::uint64_t last_length_ = 0;
    std::uint64_t too_long_lines_ = 0;
    std::error_code ec_;
};

}  // namespace outpost::core
