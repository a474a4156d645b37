#include "outpost/core/bounded_read.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace outpost::core {
namespace {

constexpr std::size_t read_chunk = 1u << 16;

std::error_code last_errno() {
    return {errno, std::generic_category()};
}

// O_NONBLOCK: opening a FIFO that has no writer would otherwise wait for one, for ever.
int open_nonblocking(const std::string& path, std::error_code& ec) {
    for (;;) {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd >= 0) return fd;
        if (errno == EINTR) continue;
        ec = last_errno();
        return -1;
    }
}

const char* kind_of(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISSOCK(mode)) return "a socket";
    return "a special file";
}

// The file must be regular: a device or FIFO can be endless, and its size says nothing.
bool check_regular(int fd, const char* what, std::uint64_t& size, std::error_code& ec, std::string& reason) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        ec = last_errno();
        reason = "cannot read: " + ec.message();
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        ec = std::make_error_code(std::errc::invalid_argument);
        reason = std::string("not a regular file (") + kind_of(st.st_mode) + "); a " + what + " must be a regular file";
        return false;
    }
    size = static_cast<std::uint64_t>(std::max<off_t>(st.st_size, 0));
    // Back to blocking reads: a regular file never returns EAGAIN, but be plain about it.
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    return true;
}

std::string too_large(const FileLimit& limit, std::uint64_t size, bool size_known) {
    std::string s = "larger than the " + format_bytes(limit.bytes) + " allowed for a " + limit.what;
    if (size_known) s += " (" + std::to_string(size) + " bytes)";
    return s;
}

}  // namespace

std::string format_bytes(std::size_t bytes) {
    if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
    if (bytes >= (1u << 10) && bytes % (1u << 10) == 0) return std::to_string(bytes >> 10) + " KiB";
    return std::to_string(bytes) + " bytes";
}

FileText read_file_bounded(const std::string& path, const FileLimit& limit) {
    FileText out;
    const auto fail = [&](std::string reason) {
        out.reason = std::move(reason);
        out.error = path + ": " + out.reason;
        out.text.clear();
        out.text.shrink_to_fit();
        return std::move(out);
    };
    const int fd = open_nonblocking(path, out.ec);
    if (fd < 0) return fail("cannot read: " + out.ec.message());
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};

    std::uint64_t size = 0;
    std::string reason;
    if (!check_regular(fd, limit.what, size, out.ec, reason)) return fail(reason);
    if (size > limit.bytes) {
        out.ec = std::make_error_code(std::errc::file_too_large);
        return fail(too_large(limit, size, true));
    }
    // Up to one byte past the limit: a file that grew since fstat is caught there.
    out.text.resize(static_cast<std::size_t>(size) + 1);
    std::size_t used = 0;
    for (;;) {
        if (used == out.text.size()) {
            if (out.text.size() > limit.bytes) break;
            out.text.resize(std::min(out.text.size() + read_chunk, limit.bytes + 1));
        }
        const auto n = ::read(fd, out.text.data() + used, out.text.size() - used);
        if (n < 0) {
            if (errno == EINTR) continue;
            out.ec = last_errno();
            return fail("cannot read: " + out.ec.message());
        }
        if (n == 0) break;
        used += static_cast<std::size_t>(n);
    }
    if (used > limit.bytes) {
        out.ec = std::make_error_code(std::errc::file_too_large);
        return fail(too_large(limit, 0, false));
    }
    out.text.resize(used);
    return out;
}

BoundedLineReader::BoundedLineReader(std::size_t max_line_bytes)
    : max_line_bytes_(std::max<std::size_t>(max_line_bytes, 1)) {}

BoundedLineReader::~BoundedLineReader() {
    close();
}

void BoundedLineReader::close() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

std::error_code BoundedLineReader::open(const std::string& path, std::string& error) {
    close();
    begin_ = end_ = 0;
    eof_ = false;
    offset_ = line_number_ = last_length_ = too_long_lines_ = 0;
    ec_.clear();
    std::error_code ec;
    const int fd = open_nonblocking(path, ec);
    if (fd < 0) {
        error = path + ": cannot read: " + ec.message();
        return ec;
    }
    std::string reason;
    if (!check_regular(fd, "log", size_, ec, reason)) {
        ::close(fd);
        error = path + ": " + reason;
        return ec;
    }
    fd_ = fd;
    buffer_.resize(std::max(read_chunk, max_line_bytes_ + 1));
    return {};
}

std::error_code BoundedLineReader::seek(std::uint64_t offset) {
    if (fd_ < 0) return std::make_error_code(std::errc::bad_file_descriptor);
    if (::lseek(fd_, static_cast<off_t>(offset), SEEK_SET) < 0) return last_errno();
    begin_ = end_ = 0;
    eof_ = false;
    offset_ = offset;
    return {};
}

// Moves the unread bytes to the front and reads more behind them; false at end of file or error.
bool BoundedLineReader::fill() {
    if (eof_ || fd_ < 0) return false;
    if (begin_ > 0) {
        std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
    }
    for (;;) {
        const auto n = ::read(fd_, buffer_.data() + end_, buffer_.size() - end_);
        if (n < 0) {
            if (errno == EINTR) continue;
            ec_ = last_errno();
            return false;
        }
        if (n == 0) {
            eof_ = true;
            return false;
        }
        end_ += static_cast<std::size_t>(n);
        return true;
    }
}

BoundedLineReader::Status BoundedLineReader::next(std::string& line) {
    line.clear();
    if (ec_) return Status::error;
    // Look for the newline within max_line_bytes; the buffer holds at least that many plus one.
    std::size_t scanned = 0;  // bytes from begin_ known to hold no newline
    for (;;) {
        const char* first = buffer_.data() + begin_ + scanned;
        const auto* nl = static_cast<const char*>(std::memchr(first, '\n', end_ - begin_ - scanned));
        if (nl) {
            const auto length = static_cast<std::size_t>(nl - (buffer_.data() + begin_));
            if (length <= max_line_bytes_) {
                line.assign(buffer_.data() + begin_, length);
                begin_ += length + 1;
                offset_ += length + 1;
                ++line_number_;
                last_length_ = length;
                return Status::line;
            }
        }
        scanned = end_ - begin_;
        if (scanned > max_line_bytes_) break;  // too long: skip it below
        if (!fill()) {
            if (ec_) return Status::error;
            if (end_ == begin_) return Status::end;
            // The last line, without a newline.
            const auto length = end_ - begin_;
            line.assign(buffer_.data() + begin_, length);
            begin_ = end_;
            offset_ += length;
            ++line_number_;
            last_length_ = length;
            return Status::line;
        }
    }
    // Skip to the end of the line, never holding more than one buffer of it.
    std::uint64_t length = 0;
    for (;;) {
        const auto* nl = static_cast<const char*>(std::memchr(buffer_.data() + begin_, '\n', end_ - begin_));
        if (nl) {
            const auto part = static_cast<std::size_t>(nl - (buffer_.data() + begin_));
            length += part;
            begin_ += part + 1;
            offset_ += part + 1;
            break;
        }
        length += end_ - begin_;
        offset_ += end_ - begin_;
        begin_ = end_ = 0;
        if (!fill()) {
            if (ec_) return Status::error;
            break;  // the file ended inside the long line
        }
    }
    ++line_number_;
    ++too_long_lines_;
    last_length_ = length;
    return Status::too_long;
}

}  // namespace outpost::core
