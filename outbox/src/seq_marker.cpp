#include "seq_marker.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "outpost/outbox/outbox_error.hpp"
#include "row_checksum.hpp"

namespace outpost::outbox {
namespace {

constexpr std::uint32_t magic = 0x5153504fu;  // "OPSQ"
constexpr std::uint32_t version = 2;  // 1: without committed_next_seq
constexpr std::size_t slot_size = 64;
constexpr std::size_t slot_stride = 4096;  // slots in different pages and sectors: one torn write hits one
// magic, version, generation, epoch, pad, next_seq, rows, committed_next_seq (v2); then the CRC.
constexpr std::size_t payload_size_v1 = 40;
constexpr std::size_t payload_size = 48;

struct Slot {
    std::uint64_t generation = 0;
    SeqMark mark;
};

void put(unsigned char* p, std::uint64_t v, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<unsigned char>((v >> (8 * i)) & 0xFF);
}
std::uint64_t get(const unsigned char* p, std::size_t n) noexcept {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t{p[i]} << (8 * i);
    return v;
}

std::array<unsigned char, slot_size> encode(const Slot& s) noexcept {
    std::array<unsigned char, slot_size> b{};
    put(b.data(), magic, 4);
    put(b.data() + 4, version, 4);
    put(b.data() + 8, s.generation, 8);
    put(b.data() + 16, s.mark.epoch, 4);
    put(b.data() + 24, s.mark.next_seq, 8);
    put(b.data() + 32, s.mark.rows, 8);
    put(b.data() + 40, s.mark.committed_next_seq, 8);
    const auto crc = crc32c(0, std::string_view(reinterpret_cast<const char*>(b.data()), payload_size));
    put(b.data() + payload_size, crc, 4);
    return b;
}

std::optional<Slot> decode(const unsigned char* b) noexcept {
    const auto v = get(b + 4, 4);
    if (get(b, 4) != magic || (v != 1 && v != version)) return std::nullopt;
    const std::size_t size = v == 1 ? payload_size_v1 : payload_size;
    const auto crc = crc32c(0, std::string_view(reinterpret_cast<const char*>(b), size));
    if (get(b + size, 4) != crc) return std::nullopt;
    Slot s;
    s.generation = get(b + 8, 8);
    s.mark.epoch = static_cast<std::uint32_t>(get(b + 16, 4));
    s.mark.next_seq = get(b + 24, 8);
    s.mark.rows = get(b + 32, 8);
    if (v == version) s.mark.committed_next_seq = get(b + 40, 8);
    return s;
}

std::optional<Slot> read_best(int fd) noexcept {
    std::optional<Slot> best;
    for (std::size_t i = 0; i < 2; ++i) {
        std::array<unsigned char, slot_size> buf{};
        const ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(i * slot_stride));
        if (n != static_cast<ssize_t>(slot_size)) continue;
        const auto s = decode(buf.data());
        if (s && (!best || s->generation > best->generation)) best = s;
    }
    return best;
}

}  // namespace

std::string SeqMarker::path_for(const std::string& outbox_path) {
    const std::filesystem::path p(outbox_path);
    return (p.parent_path() / ("." + p.filename().string() + ".seq")).string();
}

SeqMarker::SeqMarker(const std::string& outbox_path) : path_(path_for(outbox_path)) {
    existed_ = std::filesystem::exists(path_);
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) {
        const int err = errno;
        throw OutboxError("cannot open the sequence marker " + path_ + ": " + std::strerror(err), SQLITE_CANTOPEN);
    }
    if (const auto best = read_best(fd_)) {
        previous_ = best->mark;
        generation_ = best->generation;
    }
    if (!existed_) {
        // The new name must survive a power cut too.
        const auto dir = std::filesystem::path(path_).parent_path();
        const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            ::fsync(dfd);
            ::close(dfd);
        }
    }
}

SeqMarker::~SeqMarker() {
    if (fd_ >= 0) ::close(fd_);
}

std::error_code SeqMarker::write(const SeqMark& mark) noexcept {
    const Slot slot{generation_ + 1, mark};
    const auto bytes = encode(slot);
    const auto offset = static_cast<off_t>((slot.generation % 2) * slot_stride);
    errno = 0;
    const ssize_t written = ::pwrite(fd_, bytes.data(), bytes.size(), offset);
    if (written != static_cast<ssize_t>(bytes.size())) {
        const int err = written < 0 ? errno : ENOSPC;  // a short write sets no errno
        return {err ? err : EIO, std::generic_category()};
    }
    if (::fdatasync(fd_) != 0) return {errno, std::generic_category()};
    generation_ = slot.generation;
    return {};
}

std::optional<SeqMark> SeqMarker::read(const std::string& outbox_path) {
    const int fd = ::open(path_for(outbox_path).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    const auto best = read_best(fd);
    ::close(fd);
    if (!best) return std::nullopt;
    return best->mark;
}

}  // namespace outpost::outbox
