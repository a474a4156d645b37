#pragma once
// The composition root of `outpost run`: sources -> mapper -> outbox (group commit) -> uplink,
// on one io_context thread, with one shutdown path (signal -> stop sources -> commit -> disconnect).
// Signals (signal_policy.hpp): SIGINT, SIGTERM, SIGQUIT (and SIGHUP with reload off) shut down
// through that path; SIGHUP reloads the site file and its mappings (reload_plan.hpp). Under
// systemd it reports readiness, status, reloads and stopping, and feeds the watchdog only while
// the pipeline makes progress (progress_watch.hpp).
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "outpost/app/pid_file.hpp"
#include "outpost/app/progress_watch.hpp"
#include "outpost/app/signal_policy.hpp"
#include "outpost/app/site_config.hpp"
#include "outpost/app/systemd_notifier.hpp"
#include "outpost/core/backoff.hpp"
#include "outpost/ingest/candump_replay.hpp"
#include "outpost/ingest/modbus/rtu_master.hpp"
#include "outpost/ingest/modbus/rtu_tap.hpp"
#include "outpost/ingest/modbus/tcp_master.hpp"
#include "outpost/ingest/modbus_sink.hpp"
#include "outpost/ingest/socketcan_reader.hpp"
#include "outpost/mapping/mapper.hpp"
#include "outpost/mapping/modbus_mapper.hpp"
#include "outpost/outbox/outbox.hpp"
#include "outpost/uplink/uplink.hpp"

namespace outpost::app {

class LossReporter;

enum class ExitAfter { never, ingest, drain };

struct RunOptions {
    bool reload_on_sighup = true;  // off (`run --no-reload`): SIGHUP shuts down like SIGTERM
    // Test hook, set from OUTPOST_TEST_STALL_IO_MS: SIGUSR2 blocks the io thread this long, so a
    // test can see the watchdog pings stop. Zero (always, outside tests): SIGUSR2 is ignored.
    std::chrono::milliseconds test_stall_io{0};
};

class HttpServer;
struct Readiness;

class Gateway : public ingest::FrameSink, public ingest::ModbusSink {
public:
    // Throws OutboxError or std::system_error on start-up problems.
    Gateway(boost::asio::io_context& io, SiteConfig config, ExitAfter exit_after, RunOptions run = {});
    ~Gateway() override;

    void start();
    void on_frame(const core::CanFrame& frame) override;
    void on_modbus(const core::ModbusBlock& block) override;
    // Re-reads the site file and its mappings (SIGHUP). A configuration with problems is refused,
    // each problem logged with its file and JSON path, and the running one stays. A valid one
    // takes effect at once (mappings, rates, buses: only changed sources restart) without touching
    // the broker connection or the staged readings; what cannot change live is logged as needing
    // a restart and kept. Returns true if the new configuration was applied. io thread only.
    bool reload();
    // An exception escaped a handler: logged, then the normal shutdown (the outbox is committed
    // and closed), with exit code exit_failure. Call with the io_context stopped or restarted.
    void fail(const std::string& what);
    // Returns the process exit code once the io_context has stopped.
    int exit_code() const noexcept { return exit_code_; }

private:
    void stage(std::vector<core::Message>& messages);
    // Commits unless a failed commit's backoff is still running (a full disk must not cost a
    // commit attempt per frame); `force` ignores the backoff (shutdown).
    void commit(bool force = false);
    void commit_done(std::error_code ec, bool acks_only);
    void record_positions();
    void schedule_commit();
    void schedule_stats();
    void check_exit();
    void shutdown(const char* why);
    nlohmann::json counters() const;
    std::string health_message() const;
    nlohmann::json link_counters() const;
    nlohmann::json modbus_counters() const;
    // Sources by bus (gateway_reload.cpp): created from a bus's settings, or stopped and kept
    // until the next reload so handlers still queued for them find them alive.
    // `resume`: replay key -> offset to start from (a reload passes where the replays it replaces
    // got to); otherwise a replay starts where the last commit ended. Does not start the source.
    void add_source(BusConfig& bus, const std::map<std::string, std::uint64_t>& resume = {});
    void start_source(const BusConfig& bus);
    void start_replay(ingest::CandumpReplay& replay);
    void retire_source(const std::string& bus_name);
    mapping::MapperStats mapper_stats() const;
    mapping::ModbusMapperStats modbus_mapper_stats() const;
    // Signals and the service manager (gateway_service.cpp).
    void arm_signals();
    void on_signal(int signo);
    void schedule_service();
    std::string status_line() const;

    // The HTTP endpoint (gateway_http.cpp): metrics in Prometheus text, readiness.
    void open_http();
    std::string metrics_text() const;
    Readiness readiness() const;

    boost::asio::io_context& io_;
    SiteConfig config_;
    ExitAfter exit_after_;
    mapping::Mapper mapper_;
    mapping::ModbusMapper modbus_mapper_;
    outbox::Outbox outbox_;
    uplink::Uplink uplink_;
    std::unique_ptr<LossReporter> loss_reporter_;  // null when loss records are not published
    std::chrono::steady_clock::time_point next_loss_report_{};
    std::vector<std::unique_ptr<ingest::CandumpReplay>> replays_;
    std::vector<std::string> replay_keys_;  // outbox position key of each replay
    std::vector<std::unique_ptr<ingest::SocketCanReader>> can_readers_;
    std::vector<std::unique_ptr<ingest::RtuMaster>> rtu_masters_;
    std::vector<std::unique_ptr<ingest::ModbusTcpMaster>> tcp_masters_;
    std::vector<std::unique_ptr<ingest::RtuTap>> rtu_taps_;
    std::unique_ptr<HttpServer> http_;  // null unless the site enables it
    std::chrono::system_clock::time_point started_wall_{};  // for outpost_start_time_seconds
    std::size_t sources_running_ = 0;
    std::vector<core::Message> scratch_;
    boost::asio::steady_timer commit_timer_;
    boost::asio::steady_timer stats_timer_;
    boost::asio::signal_set signals_;
    std::chrono::steady_clock::time_point started_;
    std::chrono::steady_clock::time_point ingest_done_{};
    core::LogLimiter commit_log_;
    core::Backoff commit_backoff_;
    std::chrono::steady_clock::time_point commit_retry_at_{};
    bool acks_only_in_flight_ = false;
    std::uint64_t commit_waits_ = 0;  // stage() waited for the writer thread (a source faster than the disk)
    std::chrono::steady_clock::duration commit_wait_time_{};  // how long those waits took, together
    bool stopping_ = false;
    int exit_code_ = 0;
    RunOptions run_;
    SignalPolicy signal_policy_;
    SystemdNotifier notifier_;
    ProgressWatch progress_;
    boost::asio::steady_timer service_timer_;
    std::uint64_t commits_finished_ = 0;
    std::optional<PidFile> pid_file_;
    bool reloading_ = false;
    std::uint64_t reloads_ = 0;
    std::uint64_t reloads_refused_ = 0;
    std::vector<std::shared_ptr<void>> retired_sources_;
    mapping::MapperStats retired_mapper_stats_;
    mapping::ModbusMapperStats retired_modbus_stats_;
    std::uint64_t retired_replay_lines_ = 0;
    std::uint64_t retired_replay_malformed_ = 0;
};

}  // namespace outpost::app
