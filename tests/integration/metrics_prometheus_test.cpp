// Metrics as an operator sees them: a real Prometheus (Debian's) scrapes a running outpost every
// second; the counters read back through Prometheus's HTTP API equal the gateway's own (its
// /metrics at the same moment, with ingest and drain finished, and its stop summary), and
// `promtool check metrics` accepts the exposition without a complaint.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <map>
#include <sstream>

#include "broker.hpp"
#include "site_files.hpp"

using namespace outpost::test;
using namespace std::chrono_literals;

namespace {

struct HttpResult {
    int status = 0;
    std::string body;
};

// One HTTP/1.0 GET on loopback (the server closes at the end of the answer).
HttpResult http_get(int port, const std::string& target) {
    HttpResult r;
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return r;
    }
    const std::string req = "GET " + target + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    std::string got;
    char buf[65536];
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 10000) <= 0) break;
        const auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    const auto end = got.find("\r\n\r\n");
    if (got.rfind("HTTP/1.", 0) != 0 || end == std::string::npos) return r;
    r.status = std::stoi(got.substr(9, 3));
    r.body = got.substr(end + 4);
    return r;
}

// Series in exposition text: `name{labels}` -> value. Label sets are kept as written (sorted by
// the gateway in a fixed order), so they compare as text with what Prometheus returns.
std::map<std::string, double> parse_exposition(const std::string& text) {
    std::map<std::string, double> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        const auto space = line.rfind(' ');
        out[line.substr(0, space)] = std::stod(line.substr(space + 1));
    }
    return out;
}

std::string series_key(const nlohmann::json& metric, const std::vector<std::string>& label_order) {
    std::string key = metric["__name__"].get<std::string>();
    std::string labels;
    for (const auto& l : label_order) {
        if (!metric.contains(l)) continue;
        labels += (labels.empty() ? "" : ",") + l + "=\"" + metric[l].get<std::string>() + "\"";
    }
    return labels.empty() ? key : key + "{" + labels + "}";
}

// The label names of a series as the gateway wrote them, in order.
std::vector<std::string> label_names(const std::string& series) {
    std::vector<std::string> out;
    const auto open = series.find('{');
    if (open == std::string::npos) return out;
    std::size_t i = open + 1;
    while (i < series.size() && series[i] != '}') {
        const auto eq = series.find('=', i);
        out.push_back(series.substr(i, eq - i));
        const auto close_quote = series.find('"', eq + 2);
        i = close_quote + 2;  // past `",` or `"}`
    }
    return out;
}

const std::string all_outpost_series = "/api/v1/query?query=%7B__name__%3D~%22outpost_.%2B%22%7D";

nlohmann::json last_stop_summary(const std::string& log) {
    std::ifstream in(log);
    std::string line;
    nlohmann::json found;
    while (std::getline(in, line)) {
        const auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_object() && j.value("event", "") == "gateway.stop") found = j;
    }
    return found;
}

}  // namespace

TEST(Metrics, PrometheusScrapesTheGatewayAndReadsBackItsOwnCounters) {
    TempDir dir;
    Broker broker(dir);
    generate_log(dir, dir.file("bms.log"), dir.file("expected.jsonl"), "20");
    std::size_t readings = 0;
    {
        std::ifstream in(dir.file("expected.jsonl"));
        std::string line;
        while (std::getline(in, line)) readings += !line.empty();
    }
    ASSERT_GT(readings, 200u);
    const int metrics_port = free_port();
    const auto site = dir.file("site.json");
    write_file(site, R"({
  "gateway_id": "test-gw",
  "broker": {"host": "127.0.0.1", "port": )" + std::to_string(broker.port()) + R"(},
  "outbox": {"path": ")" + dir.file("outbox.db") + R"(", "commit_interval_ms": 50},
  "http": {"port": )" + std::to_string(metrics_port) + R"(},
  "buses": [{"name": "bms", "type": "candump_replay", "file": ")" + dir.file("bms.log") + R"(", "speed": "max"}],
  "mappings": [")" + source_dir() + R"(/configs/demo/bms_mapping.json"]
})");
    Process gateway({outpost_binary(), "run", "--config", site}, dir.file("gateway.log"));
    ASSERT_TRUE(wait_for_port(metrics_port, 20s)) << read_file(dir.file("gateway.log"));

    // Ingest and drain finished: the counters stand still from here on.
    std::map<std::string, double> own;
    ASSERT_TRUE(wait_until(
        [&] {
            own = parse_exposition(http_get(metrics_port, "/metrics").body);
            return own["outpost_uplink_acknowledged_messages_total"] == static_cast<double>(readings) &&
                   own["outpost_outbox_rows"] == 0 && own["outpost_outbox_staged_messages"] == 0 &&
                   own["outpost_uplink_inflight_messages"] == 0;
        },
        60s))
        << "acknowledged " << own["outpost_uplink_acknowledged_messages_total"] << " of " << readings << "\n"
        << read_file(dir.file("gateway.log"));
    const auto exposition = http_get(metrics_port, "/metrics");
    ASSERT_EQ(exposition.status, 200);
    own = parse_exposition(exposition.body);
    EXPECT_EQ(own["outpost_mapping_readings_total{source=\"can\"}"], static_cast<double>(readings));
    EXPECT_EQ(own["outpost_outbox_committed_messages_total"], static_cast<double>(readings));
    EXPECT_EQ(own["outpost_uplink_connected"], 1);
    EXPECT_GT(own["outpost_replay_lines_total{bus=\"bms\"}"], 0);
    EXPECT_GT(own["outpost_uplink_payload_bytes_total"], 0);
    // Commits took time on the writer thread; the io thread's waits for it are exported (a replay
    // at full speed may or may not have made it wait).
    EXPECT_GT(own["outpost_outbox_writer_busy_seconds_total"], 0);
    EXPECT_EQ(own.count("outpost_ingest_disk_wait_seconds_total"), 1u);

    // Health.
    EXPECT_EQ(http_get(metrics_port, "/healthz").status, 200);
    const auto ready = http_get(metrics_port, "/readyz");
    EXPECT_EQ(ready.status, 200);
    const auto ready_body = nlohmann::json::parse(ready.body);
    EXPECT_EQ(ready_body["ready"], true);
    EXPECT_EQ(ready_body["uplink_connected"], true);
    EXPECT_EQ(ready_body["outbox_writable"], true);

    // promtool: the exposition is valid and lint-clean.
    write_file(dir.file("metrics.txt"), exposition.body);
    const int lint = run({"/bin/sh", "-c", "promtool check metrics < '" + dir.file("metrics.txt") + "'"},
                         dir.file("promtool.out"));
    EXPECT_EQ(lint, 0) << read_file(dir.file("promtool.out"));
    EXPECT_EQ(read_file(dir.file("promtool.out")), "") << "promtool complained";

    // A real Prometheus, scraping every second.
    const int prom_port = free_port();
    write_file(dir.file("prometheus.yml"), "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                                           "scrape_configs:\n  - job_name: outpost\n    static_configs:\n"
                                           "      - targets: ['127.0.0.1:" + std::to_string(metrics_port) + "']\n");
    Process prometheus({"prometheus", "--config.file=" + dir.file("prometheus.yml"),
                        "--storage.tsdb.path=" + dir.file("tsdb"),
                        "--web.listen-address=127.0.0.1:" + std::to_string(prom_port)},
                       dir.file("prometheus.log"));
    ASSERT_TRUE(wait_for_port(prom_port, 30s)) << read_file(dir.file("prometheus.log"));

    // Every series the gateway exports, as Prometheus stored it, once a scrape after the
    // counters settled has landed (the endpoint's own request counters move with each scrape).
    std::map<std::string, double> scraped;
    std::vector<std::string> differences;
    const bool equal = wait_until(
        [&] {
            const auto res = http_get(prom_port, all_outpost_series);
            if (res.status != 200) return false;
            const auto j = nlohmann::json::parse(res.body, nullptr, false);
            if (!j.is_object() || j["status"] != "success") return false;
            scraped.clear();
            for (const auto& r : j["data"]["result"]) {
                EXPECT_EQ(r["metric"]["job"], "outpost");
                EXPECT_EQ(r["metric"]["instance"], "127.0.0.1:" + std::to_string(metrics_port));
                scraped[r["metric"]["__name__"].get<std::string>() + "|" + r["metric"].dump()] =
                    std::stod(r["value"][1].get<std::string>());
            }
            // The gateway's own numbers again, at the same moment: the ones that still move
            // (a background integrity check, say) must agree once the next scrape has them.
            const auto now = http_get(metrics_port, "/metrics");
            if (now.status != 200) return false;
            own = parse_exposition(now.body);
            differences.clear();
            std::size_t compared = 0;
            for (const auto& [series, value] : own) {
                if (series.rfind("outpost_http_", 0) == 0) continue;
                const auto names = label_names(series);
                bool found = false;
                for (const auto& [k, v] : scraped) {
                    const auto metric = nlohmann::json::parse(k.substr(k.find('|') + 1));
                    if (series_key(metric, names) != series) continue;
                    found = true;
                    ++compared;
                    if (v != value) differences.push_back(series + ": prometheus " + std::to_string(v) + ", gateway " + std::to_string(value));
                }
                if (!found) differences.push_back(series + ": not in prometheus");
            }
            return differences.empty() && compared > 50;
        },
        90s);
    std::string diff_text;
    for (const auto& d : differences) diff_text += d + "\n";
    ASSERT_TRUE(equal) << diff_text << read_file(dir.file("prometheus.log"));

    // And the gateway's own stop summary says the same as Prometheus.
    gateway.signal(SIGTERM);
    ASSERT_EQ(gateway.wait(30s), 0);
    const auto summary = last_stop_summary(dir.file("gateway.log"));
    ASSERT_TRUE(summary.is_object()) << read_file(dir.file("gateway.log"));
    const auto from_prometheus = [&](const std::string& name) {
        for (const auto& [k, v] : scraped) {
            if (k.rfind(name + "|", 0) == 0) return v;
        }
        return -1.0;
    };
    EXPECT_EQ(summary["frames"].get<double>(), from_prometheus("outpost_mapping_can_frames_total"));
    EXPECT_EQ(summary["readings"].get<double>(), static_cast<double>(readings));
    EXPECT_EQ(summary["committed"].get<double>(), from_prometheus("outpost_outbox_committed_messages_total"));
    EXPECT_EQ(summary["published"].get<double>(), from_prometheus("outpost_uplink_published_messages_total"));
    EXPECT_EQ(summary["acknowledged"].get<double>(), from_prometheus("outpost_uplink_acknowledged_messages_total"));
    EXPECT_EQ(summary["payload_bytes"].get<double>(), from_prometheus("outpost_uplink_payload_bytes_total"));
    EXPECT_EQ(summary["unmapped_frames"].get<double>(), from_prometheus("outpost_mapping_can_unmapped_frames_total"));
    EXPECT_EQ(summary["connects"].get<double>(), from_prometheus("outpost_uplink_connects_total"));
    prometheus.stop();
}

TEST(Metrics, SiteHttpSectionIsValidatedWithEveryProblemListed) {
    TempDir dir;
    const auto site = write_site(dir, "site.json", 1883, "");
    auto text = read_file(site);
    text.replace(text.find("\"stats_interval_s\""), 0,
                 R"("http": {"address": "localhost", "port": 70000, "max_connections": 0, "request_timout_ms": 5},
  )");
    write_file(site, text);
    EXPECT_EQ(run({outpost_binary(), "check", "--config", site}, dir.file("check.out")), 3);
    const auto out = read_file(dir.file("check.out"));
    for (const char* expected : {"/http/address: \"localhost\" is not an IP address", "/http/port: 70000 is out of range",
                                 "/http/max_connections: 0 is out of range",
                                 "/http/request_timout_ms: unknown key (did you mean \"request_timeout_ms\"?)"}) {
        EXPECT_NE(out.find(expected), std::string::npos) << "missing: " << expected << "\n" << out;
    }
}

TEST(Metrics, AnAddressInUseIsAStartupErrorThatNamesIt) {
    TempDir dir;
    const int port = free_port();
    Broker holder(dir, port);  // something listens on the port already
    const auto site = write_site(dir, "site.json", 1883, "");
    auto text = read_file(site);
    text.replace(text.find("\"stats_interval_s\""), 0, "\"http\": {\"port\": " + std::to_string(port) + "},\n  ");
    write_file(site, text);
    EXPECT_EQ(run({outpost_binary(), "run", "--config", site}, dir.file("run.out"), 30s), 5);
    EXPECT_NE(read_file(dir.file("run.out")).find("cannot serve metrics on 127.0.0.1:" + std::to_string(port)),
              std::string::npos)
        << read_file(dir.file("run.out"));
}
