#include "sqlite.hpp"

#include <mutex>

#include "outpost/outbox/outbox_error.hpp"

namespace outpost::outbox::sql {
namespace {

// Before SQLite's first use in the process: no memory statistics (nothing here reads them), so
// its allocations take no global mutex (inserts 5-10% faster in a test of the bare library on
// the outbox's schema). Too late if something else in the process started SQLite first: then it stays as it was.
void configure_sqlite_once() {
    static std::once_flag once;
    std::call_once(once, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
}

}  // namespace

Database::Database(const std::string& path, int flags) {
    configure_sqlite_once();
    const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
        const std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
        close();
        throw OutboxError("cannot open outbox " + path + ": " + msg, rc);
    }
    sqlite3_extended_result_codes(db_, 0);
}

Database::~Database() { close(); }

Database& Database::operator=(Database&& other) noexcept {
    if (this != &other) {
        close();
        db_ = other.db_;
        other.db_ = nullptr;
    }
    return *this;
}

void Database::close() noexcept {
    if (db_) {
        sqlite3_close_v2(db_);
        db_ = nullptr;
    }
}

void Database::exec(std::string_view sql) {
    const std::string text(sql);
    char* err = nullptr;
    const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        std::string msg = err ? err : sqlite3_errstr(rc);
        sqlite3_free(err);
        throw OutboxError("outbox: " + msg + " (in: " + text.substr(0, 60) + ")", rc);
    }
}

int Database::try_exec(const char* sql) noexcept {
    return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
}

bool Database::has_column(std::string_view table, std::string_view column) {
    Statement q(*this, "SELECT count(*) FROM pragma_table_info(?1) WHERE name=?2");
    q.bind(1, table);
    q.bind(2, column);
    const int rc = q.step();
    if (rc != SQLITE_ROW) throw OutboxError("outbox: cannot read its schema: " + error_message(), rc);
    return q.column_int(0) > 0;
}

Statement::Statement(Database& db, std::string_view sql) {
    const int rc = sqlite3_prepare_v3(db.get(), sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                      &stmt_, nullptr);
    if (rc != SQLITE_OK) {
        throw OutboxError("outbox: cannot prepare statement: " + db.error_message(), rc);
    }
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::operator=(Statement&& other) noexcept {
    if (this != &other) {
        sqlite3_finalize(stmt_);
        stmt_ = other.stmt_;
        other.stmt_ = nullptr;
    }
    return *this;
}

Transaction::Transaction(Database& db) noexcept : db_(db), begin_rc_(db.try_exec("BEGIN IMMEDIATE")) {
    done_ = begin_rc_ != SQLITE_OK;
}

Transaction::~Transaction() {
    if (!done_) db_.try_exec("ROLLBACK");
}

int Transaction::commit() noexcept {
    if (done_) return begin_rc_ == SQLITE_OK ? SQLITE_MISUSE : begin_rc_;
    const int rc = db_.try_exec("COMMIT");
    if (rc == SQLITE_OK) {
        done_ = true;
    }
    return rc;
}

}  // namespace outpost::outbox::sql
