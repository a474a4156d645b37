#pragma once
// Writes a site configuration for a test: the demo mapping, a given log, broker port and outbox.
#include <string>

#include "process.hpp"

namespace outpost::test {

inline std::string write_site(const TempDir& dir, const std::string& name, int port, const std::string& log_file,
                              const std::string& speed = "\"max\"", const std::string& extra_broker = "") {
    // Without a log the bus is disabled: the mapping still names it, nothing is replayed.
    const std::string buses = log_file.empty()
                                  ? R"([{"name": "bms", "type": "candump_replay", "enabled": false, "file": "-"}])"
                                  : R"([{"name": "bms", "type": "candump_replay", "file": ")" + log_file +
                                        R"(", "speed": )" + speed + "}]";
    const std::string text = R"({
  "gateway_id": "test-gw",
  "broker": {"host": "127.0.0.1", "port": )" + std::to_string(port) +
                             R"(, "backoff": {"initial_ms": 50, "max_ms": 500})" + extra_broker + R"(},
  "outbox": {"path": ")" + dir.file("outbox.db") +
                             R"(", "commit_interval_ms": 50},
  "stats_interval_s": 1,
  "buses": )" + buses + R"(,
  "mappings": [")" + source_dir() +
                             R"(/configs/demo/bms_mapping.json"]
})";
    const auto path = dir.file(name);
    write_file(path, text);
    return path;
}

// Generates a demo-style log with tools/gen_bms_log.py; `expected` receives the readings in order.
inline void generate_log(const TempDir& dir, const std::string& log, const std::string& expected,
                         const std::string& seconds) {
    const int rc = run({"/usr/bin/python3", source_dir() + "/tools/gen_bms_log.py", "--seconds", seconds, "--out", log,
                        "--expected", expected},
                       dir.file("gen.log"));
    if (rc != 0) throw std::runtime_error("gen_bms_log.py failed: " + read_file(dir.file("gen.log")));
}

}  // namespace outpost::test
