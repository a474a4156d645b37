// `outpost check` against files nobody should write but somebody will: endless sources
// (/dev/zero, a FIFO) as a mapping, a password file or a candump log, files over their limit, a
// `null` document, duplicate keys, numbers beyond a double. Each must end quickly with exit 3, a
// message naming the file (and JSON path where there is one), and small memory: the child runs
// under an address-space limit and /usr/bin/time reports its peak RSS.
#include <sys/stat.h>

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "process.hpp"

using namespace outpost;
using namespace std::chrono_literals;

namespace {

// Far above what `check` needs for a small site (about 10 MiB), far below an unbounded read.
constexpr long max_rss_kib = 64 * 1024;
constexpr const char* address_space_limit = "--as=1073741824";  // 1 GiB: a runaway read fails fast

struct Outcome {
    int exit_code = -1;
    std::string output;
    long max_rss_kib = -1;
    std::chrono::milliseconds took{};
};

Outcome check(const test::TempDir& dir, const std::string& site) {
    const auto out = dir.file("check.out");
    const auto rss = dir.file("check.rss");
    std::remove(out.c_str());
    const auto start = std::chrono::steady_clock::now();
    Outcome o;
    o.exit_code = test::run({"prlimit", address_space_limit, "/usr/bin/time", "-f", "%M", "-o", rss,
                             test::outpost_binary(), "check", "--config", site},
                            out, 20s);
    o.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    o.output = test::read_file(out);
    try {
        const auto text = test::read_file(rss);
        const auto last = text.find_last_of("0123456789");
        const auto first = text.find_last_not_of("0123456789", last);
        o.max_rss_kib = std::stol(text.substr(first == std::string::npos ? 0 : first + 1, last - first));
    } catch (const std::exception&) {
    }
    return o;
}

// A small valid site: one replay bus, one mapping; `broker_extra` goes into the broker object.
struct Site {
    test::TempDir dir;
    std::string site = dir.file("site.json");
    std::string mapping = dir.file("map.json");

    Site() {
        test::write_file(dir.file("bms.log"), "(1.0) can0 100#01\n");
        test::write_file(mapping, R"({"can": [{"name": "m", "id": "0x100", "signals": [
            {"name": "v", "start_bit": 0, "length": 8, "topic": "t/v"}]}]})");
        write();
    }
    void write(const std::string& broker_extra = "", const std::string& bus_file = "bms.log",
               const std::string& mapping_file = "map.json") const {
        test::write_file(site, R"({"gateway_id": "gw", "broker": {"host": "127.0.0.1")" + broker_extra +
                                   R"(}, "outbox": {"path": ")" + dir.file("o.db") +
                                   R"("}, "buses": [{"name": "bms", "type": "candump_replay", "file": ")" + bus_file +
                                   R"("}], "mappings": [")" + mapping_file + R"("]})");
    }
};

void expect_config_problem(const Outcome& o, const std::vector<std::string>& texts) {
    EXPECT_EQ(o.exit_code, 3) << o.output;
    for (const auto& t : texts) EXPECT_NE(o.output.find(t), std::string::npos) << "missing: " << t << "\n" << o.output;
    EXPECT_GT(o.max_rss_kib, 0) << "no RSS figure from /usr/bin/time";
    EXPECT_LT(o.max_rss_kib, max_rss_kib) << o.output;
    EXPECT_LT(o.took, 10s);
}

}  // namespace

TEST(HostileFiles, TheBaseSiteIsValid) {
    Site s;
    const auto o = check(s.dir, s.site);
    EXPECT_EQ(o.exit_code, 0) << o.output;
    EXPECT_LT(o.max_rss_kib, max_rss_kib);
    std::printf("check of a small site: max RSS %ld KiB\n", o.max_rss_kib);
}

TEST(HostileFiles, DevZeroAsAMappingFile) {
    Site s;
    s.write("", "bms.log", "/dev/zero");
    const auto o = check(s.dir, s.site);
    expect_config_problem(o, {"/dev/zero: /: not a regular file (a character device)", "1 configuration problem(s)"});
    std::printf("/dev/zero as a mapping: exit %d, max RSS %ld KiB, %lld ms\n", o.exit_code, o.max_rss_kib,
                static_cast<long long>(o.took.count()));
}

TEST(HostileFiles, AFifoAsAMappingFileDoesNotHang) {
    Site s;
    const auto fifo = s.dir.file("map.fifo");
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    s.write("", "bms.log", fifo);
    expect_config_problem(check(s.dir, s.site), {"not a regular file (a FIFO)"});
}

TEST(HostileFiles, DevZeroAsAPasswordFile) {
    Site s;
    s.write(R"(, "username": "u", "password_file": "/dev/zero")");
    expect_config_problem(check(s.dir, s.site),
                          {"/broker/password_file: /dev/zero: not a regular file (a character device)"});
}

TEST(HostileFiles, DevZeroAsACandumpLog) {
    Site s;
    s.write("", "/dev/zero");
    expect_config_problem(check(s.dir, s.site), {"/buses/0/file: /dev/zero: not a regular file"});
}

TEST(HostileFiles, FilesOverTheirLimit) {
    Site s;
    // 17 MiB of valid JSON: refused from its size, before it is read.
    test::write_file(s.mapping, "{\"can\": [], \"pad\": \"" + std::string(17u << 20, 'x') + "\"}");
    const auto o = check(s.dir, s.site);
    expect_config_problem(o, {"map.json: /: larger than the 16 MiB allowed for a configuration or mapping file"});
    std::printf("17 MiB mapping: max RSS %ld KiB\n", o.max_rss_kib);
    test::write_file(s.mapping, R"({"can": []})");
    test::write_file(s.dir.file("pw"), std::string(5000, 'p'));
    s.write(R"(, "username": "u", "password_file": "pw")");
    expect_config_problem(check(s.dir, s.site), {"/broker/password_file: ", "larger than the 4 KiB allowed"});
}

TEST(HostileFiles, NullDocuments) {
    Site s;
    test::write_file(s.mapping, "null");
    expect_config_problem(check(s.dir, s.site),
                          {"map.json: /: the file must hold a JSON object ({...}), found null", "1 configuration problem(s)"});
    test::write_file(s.site, "null\n");
    expect_config_problem(check(s.dir, s.site),
                          {"site.json: /: the file must hold a JSON object ({...}), found null", "1 configuration problem(s)"});
}

TEST(HostileFiles, DuplicateKeys) {
    Site s;
    test::write_file(s.mapping, R"({"can": [{"name": "m", "id": "0x100", "id": "0x200", "signals": []}]})");
    expect_config_problem(check(s.dir, s.site), {"map.json: /can/0/id: duplicate key \"id\""});
    s.write(R"(, "port": 1883, "port": 8883)");
    expect_config_problem(check(s.dir, s.site), {"site.json: /broker/port: duplicate key \"port\""});
}

TEST(HostileFiles, NumbersBeyondADouble) {
    Site s;
    s.write(R"(, "port": 1e400)");
    expect_config_problem(check(s.dir, s.site),
                          {"site.json: /broker/port: number out of range at line 1", "(\"1e400\" does not fit a double)",
                           "1 configuration problem(s)"});
}

TEST(HostileFiles, DeepNesting) {
    Site s;
    test::write_file(s.mapping, "{\"can\": " + std::string(1u << 20, '[') + "}");
    expect_config_problem(check(s.dir, s.site), {"map.json: /can/0/0", "nested deeper than 64 levels"});
}
