#pragma once
// Damaging an outbox file on purpose, in units of its own pages (new stores use 16 KiB pages,
// stores written by older versions 4 KiB: the tests must hit pages, not byte offsets).
#include <cstddef>
#include <fstream>
#include <ios>
#include <string>

namespace outpost::test {

// The page size a SQLite file's header gives (bytes 16-17, big-endian; 1 means 65536).
inline std::size_t page_size_of(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    unsigned char header[18] = {};
    in.read(reinterpret_cast<char*>(header), sizeof header);
    const std::size_t size = (std::size_t{header[16]} << 8) | header[17];
    return size == 1 ? 65536 : size;
}

// Overwrites `bytes` bytes at `offset` with `with`.
inline void scribble(const std::string& path, std::streamoff offset, std::size_t bytes, char with = '\x13') {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(offset);
    const std::string junk(bytes, with);
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
}

}  // namespace outpost::test
