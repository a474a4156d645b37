#include "outpost/uplink/compression.hpp"

#include <zlib.h>
#include <zstd.h>

namespace outpost::uplink {
namespace {

bool zstd_compress(std::string_view in, std::string& out, int level) {
    out.resize(ZSTD_compressBound(in.size()));
    const auto n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), level == 0 ? 3 : level);
    if (ZSTD_isError(n)) return false;
    out.resize(n);
    return true;
}

bool zstd_decompress(std::string_view in, std::string& out, std::size_t max_size) {
    // Streamed with a cap, whatever the frame header claims about its size.
    ZSTD_DCtx* ctx = ZSTD_createDCtx();
    if (!ctx) return false;
    out.clear();
    char buf[16384];
    ZSTD_inBuffer src{in.data(), in.size(), 0};
    std::size_t last = 1;
    bool ok = true;
    while (ok && src.pos < src.size) {
        ZSTD_outBuffer dst{buf, sizeof buf, 0};
        last = ZSTD_decompressStream(ctx, &dst, &src);
        if (ZSTD_isError(last) || out.size() + dst.pos > max_size) ok = false;
        else out.append(buf, dst.pos);
        // A frame that ended with input left over: one frame per payload, nothing after it.
        if (ok && last == 0 && src.pos < src.size) ok = false;
    }
    // Flush what the decoder still holds once the input is consumed.
    while (ok && last != 0) {
        ZSTD_outBuffer dst{buf, sizeof buf, 0};
        last = ZSTD_decompressStream(ctx, &dst, &src);
        if (ZSTD_isError(last) || out.size() + dst.pos > max_size) ok = false;
        else out.append(buf, dst.pos);
        if (ok && last != 0 && dst.pos == 0) ok = false;  // truncated: it wants input there is none of
    }
    ZSTD_freeDCtx(ctx);
    return ok;
}

bool zlib_compress(std::string_view in, std::string& out, int level) {
    uLongf n = compressBound(static_cast<uLong>(in.size()));
    out.resize(n);
    if (compress2(reinterpret_cast<Bytef*>(out.data()), &n, reinterpret_cast<const Bytef*>(in.data()),
                  static_cast<uLong>(in.size()), level == 0 ? Z_DEFAULT_COMPRESSION : level) != Z_OK) {
        return false;
    }
    out.resize(n);
    return true;
}

bool zlib_decompress(std::string_view in, std::string& out, std::size_t max_size) {
    z_stream z{};
    if (inflateInit(&z) != Z_OK) return false;
    out.clear();
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    char buf[16384];
    int rc = Z_OK;
    while (rc == Z_OK) {
        z.next_out = reinterpret_cast<Bytef*>(buf);
        z.avail_out = sizeof buf;
        rc = inflate(&z, Z_NO_FLUSH);
        const std::size_t got = sizeof buf - z.avail_out;
        if (out.size() + got > max_size) rc = Z_MEM_ERROR;
        else out.append(buf, got);
        if (rc == Z_OK && got == 0 && z.avail_in == 0) rc = Z_BUF_ERROR;  // truncated
    }
    const bool ok = rc == Z_STREAM_END && z.avail_in == 0;
    inflateEnd(&z);
    return ok;
}

}  // namespace

const char* to_string(Compression c) noexcept {
    switch (c) {
        case Compression::zstd: return "zstd";
        case Compression::zlib: return "zlib";
        case Compression::none: break;
    }
    return "none";
}

bool compress(Compression c, std::string_view in, std::string& out, int level) {
    switch (c) {
        case Compression::zstd: return zstd_compress(in, out, level);
        case Compression::zlib: return zlib_compress(in, out, level);
        case Compression::none: break;
    }
    out.assign(in);
    return true;
}

Compression detect_compression(std::string_view p) noexcept {
    if (p.size() >= 4 && static_cast<unsigned char>(p[0]) == 0x28 && static_cast<unsigned char>(p[1]) == 0xB5 &&
        static_cast<unsigned char>(p[2]) == 0x2F && static_cast<unsigned char>(p[3]) == 0xFD) {
        return Compression::zstd;
    }
    // RFC 1950: deflate with a 32 KiB window at most (CMF 0x78), header check multiple of 31.
    if (p.size() >= 2 && static_cast<unsigned char>(p[0]) == 0x78 &&
        ((static_cast<unsigned char>(p[0]) << 8) | static_cast<unsigned char>(p[1])) % 31 == 0) {
        return Compression::zlib;
    }
    return Compression::none;
}

bool decompress(Compression c, std::string_view in, std::string& out, std::size_t max_size) {
    switch (c) {
        case Compression::zstd: return zstd_decompress(in, out, max_size);
        case Compression::zlib: return zlib_decompress(in, out, max_size);
        case Compression::none: break;
    }
    if (in.size() > max_size) return false;
    out.assign(in);
    return true;
}

}  // namespace outpost::uplink
