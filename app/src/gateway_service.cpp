// The gateway as a service: signals (signal_policy.hpp) and the service manager (readiness,
// status lines, the watchdog fed only while the pipeline makes progress).
#include <algorithm>
#include <sstream>
#include <thread>

#include "outpost/app/gateway.hpp"
#include "outpost/core/log.hpp"

namespace outpost::app {

void Gateway::arm_signals() {
    signals_.async_wait([this](boost::system::error_code ec, int signo) {
        if (!ec) on_signal(signo);
    });
}

void Gateway::on_signal(int signo) {
    if (stopping_) return;
    const char* name = signal_name(signo);
    switch (action_for(signo, signal_policy_)) {
        case SignalAction::shutdown:
            shutdown(name);  // cancels the signal set: nothing more is awaited
            return;
        case SignalAction::reload:
            reload();
            break;
        case SignalAction::log_stats: {
            auto counters_now = counters();
            counters_now["reason"] = name;
            core::log_info("gateway.stats", "counters", counters_now);
            break;
        }
        case SignalAction::ignore:
            core::log_info("signal.ignored", "a signal with no use here; ignored", {{"signal", name}, {"signo", signo}});
            break;
        case SignalAction::test_stall:
            // Test hook (OUTPOST_TEST_STALL_IO_MS): the io thread blocks as a hung handler would.
            core::log_warn("test.stall_io", "test hook: blocking the io thread",
                           {{"ms", run_.test_stall_io.count()}});
            std::this_thread::sleep_for(run_.test_stall_io);
            break;
    }
    arm_signals();
}

void Gateway::schedule_service() {
    if (!notifier_.enabled()) return;
    // Pings three times per watchdog timeout (one late turn is not yet a miss); status lines at
    // least every 5 s.
    auto period = std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::seconds(5));
    if (const auto timeout = notifier_.watchdog_timeout()) {
        period = std::min(period, std::chrono::duration_cast<std::chrono::steady_clock::duration>(*timeout / 3));
    }
    service_timer_.expires_after(period);
    service_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || stopping_) return;
        const auto now = std::chrono::steady_clock::now();
        // This handler runs on the io thread, so reaching it is the io thread's progress; the
        // progress watch adds the commit loop's.
        if (progress_.observe(now, outbox_.commit_in_flight(), commits_finished_)) {
            notifier_.watchdog_ping();
            notifier_.status(status_line());
        } else {
            const auto stalled = std::chrono::duration<double>(progress_.commit_stalled_for(now)).count();
            notifier_.status("STALLED: a commit has not finished for " + std::to_string(static_cast<int>(stalled)) +
                             " s (disk or outbox writer hung); watchdog not fed");
            std::uint64_t suppressed = 0;
            if (commit_log_.allow(now, suppressed)) {
                core::log_error("gateway.stalled", "a commit has not finished; the watchdog is no longer fed",
                                {{"stalled_s", stalled}, {"staged", outbox_.staged()}});
            }
        }
        schedule_service();
    });
}

std::string Gateway::status_line() const {
    const auto m = mapper_stats();
    const auto mm = modbus_mapper_stats();
    const auto& o = outbox_.stats();
    const auto& u = uplink_.stats();
    std::uint64_t lost = o.dropped_unwritable + o.dropped_at_shutdown + u.rejected;
    for (auto e : o.evicted) lost += e;
    std::ostringstream s;
    s << (m.readings + mm.readings) << " readings, " << u.acknowledged << " delivered; outbox " << o.rows << " rows";
    if (o.memory_only) s << " (MEMORY ONLY: the outbox cannot be written)";
    s << "; broker " << (u.connected ? "connected" : "DISCONNECTED (outbox holds readings)");
    if (lost > 0) s << "; " << lost << " lost (see outbox stats)";
    if (reloads_refused_ > 0) s << "; " << reloads_refused_ << " reload(s) refused";
    return s.str();
}

}  // namespace outpost::app
