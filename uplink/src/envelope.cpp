#include "outpost/uplink/envelope.hpp"

#include <charconv>

namespace outpost::uplink {

void render_payload(std::string& out, std::string_view gateway, std::uint32_t epoch, std::uint64_t seq,
                    std::string_view body) {
    out.clear();
    out.reserve(gateway.size() + body.size() + 32);
    out += "{\"gw\":\"";
    out += gateway;
    char buf[24];
    out += "\",\"ep\":";
    auto r = std::to_chars(buf, buf + sizeof buf, epoch);
    out.append(buf, static_cast<std::size_t>(r.ptr - buf));
    out += ",\"seq\":";
    r = std::to_chars(buf, buf + sizeof buf, seq);
    out.append(buf, static_cast<std::size_t>(r.ptr - buf));
    if (!body.empty()) out += ',';
    out += body;
    out += '}';
}

}  // namespace outpost::uplink
