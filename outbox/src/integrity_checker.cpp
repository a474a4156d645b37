#include "integrity_checker.hpp"

#include <sqlite3.h>

namespace outpost::outbox {

IntegrityChecker::~IntegrityChecker() { stop(); }

void IntegrityChecker::start(const std::string& path) {
    if (running_.load()) return;
    if (thread_.joinable()) thread_.join();
    finished_ = false;
    cancel_ = false;
    problem_.reset();
    running_ = true;
    thread_ = std::thread([this, path]() noexcept {
      try {
        sqlite3* db = nullptr;
        std::optional<std::string> problem;
        int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
        if (rc == SQLITE_OK) {
            {
                const std::lock_guard lock(db_mutex_);
                db_ = db;
            }
            // Polled by SQLite every 1000 VM steps: a stop() that lands before the check starts, or
            // between two of its steps, still ends it (sqlite3_interrupt alone would miss it).
            sqlite3_progress_handler(
                db, 1000, [](void* self) { return static_cast<IntegrityChecker*>(self)->cancel_.load() ? 1 : 0; }, this);
            sqlite3_busy_timeout(db, 5000);
            // Its own small page cache: a check reads the whole file and must not grow the gateway's RSS.
            sqlite3_exec(db, "PRAGMA cache_size=-256", nullptr, nullptr, nullptr);
            sqlite3_stmt* st = nullptr;
            rc = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, nullptr);
            if (rc == SQLITE_OK) {
                std::string result;
                rc = sqlite3_step(st);
                if (rc == SQLITE_ROW) {
                    const auto* text = sqlite3_column_text(st, 0);
                    result = text ? reinterpret_cast<const char*>(text) : "";
                    if (result != "ok") problem = "integrity check failed: " + result;
                } else if ((rc & 0xFF) == SQLITE_CORRUPT || (rc & 0xFF) == SQLITE_NOTADB) {
                    problem = std::string("integrity check failed: ") + sqlite3_errmsg(db);
                }  // anything else (busy, I/O, memory, interrupted) proves nothing: checked again later
                sqlite3_finalize(st);
            } else if ((rc & 0xFF) == SQLITE_CORRUPT || (rc & 0xFF) == SQLITE_NOTADB) {
                problem = std::string("integrity check failed: ") + sqlite3_errmsg(db);
            }
        }
        {
            const std::lock_guard lock(db_mutex_);
            db_ = nullptr;
        }
        sqlite3_close_v2(db);
        // An interrupted check proves nothing either way.
        if (!cancel_.load()) problem_ = std::move(problem);
        finished_ = !cancel_.load();
      } catch (...) {
        // Out of memory building a message: this check proves nothing; the next one will tell.
      }
        running_ = false;
    });
}

void IntegrityChecker::stop() noexcept {
    cancel_ = true;
    // sqlite3_interrupt is safe from another thread while the connection is open; the thread
    // clears db_ before it closes the connection.
    {
        const std::lock_guard lock(db_mutex_);
        if (db_) sqlite3_interrupt(static_cast<sqlite3*>(db_));
    }
    if (thread_.joinable()) thread_.join();
    finished_ = false;
}

std::optional<std::optional<std::string>> IntegrityChecker::poll() {
    if (running_.load() || !finished_.load()) return std::nullopt;
    if (thread_.joinable()) thread_.join();
    finished_ = false;
    return std::optional<std::optional<std::string>>(std::in_place, problem_);
}

}  // namespace outpost::outbox
