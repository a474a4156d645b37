#pragma once
// A thin RAII layer over the SQLite C API for the outbox: a connection, prepared statements,
// and a transaction that rolls back in its destructor unless committed.
#include <cstdint>
#include <string>
#include <string_view>

#include <sqlite3.h>

namespace outpost::outbox::sql {

class Database {
public:
    Database() = default;
    // Throws OutboxError.
    Database(const std::string& path, int flags);
    ~Database();
    Database(Database&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
    Database& operator=(Database&& other) noexcept;
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    sqlite3* get() const noexcept { return db_; }
    // Throws OutboxError with the statement in the message.
    void exec(std::string_view sql);
    // Returns SQLite's result code.
    int try_exec(const char* sql) noexcept;
    std::string error_message() const { return db_ ? sqlite3_errmsg(db_) : "no database"; }
    // Whether `table` exists and has `column`. Throws OutboxError if the schema cannot be read.
    bool has_column(std::string_view table, std::string_view column);
    void close() noexcept;

private:
    sqlite3* db_ = nullptr;
};

class Statement {
public:
    Statement() = default;
    Statement(Database& db, std::string_view sql);  // throws OutboxError
    ~Statement();
    Statement(Statement&& other) noexcept : stmt_(other.stmt_) { other.stmt_ = nullptr; }
    Statement& operator=(Statement&& other) noexcept;
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    void bind(int index, std::int64_t value) noexcept { sqlite3_bind_int64(stmt_, index, value); }
    void bind(int index, std::string_view text) noexcept {
        sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
    }
    // SQLITE_ROW, SQLITE_DONE or an error code.
    int step() noexcept { return sqlite3_step(stmt_); }
    void reset() noexcept {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }
    std::int64_t column_int(int i) const noexcept { return sqlite3_column_int64(stmt_, i); }
    bool column_is_null(int i) const noexcept { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }
    std::string_view column_text(int i) const noexcept {
        const auto* p = sqlite3_column_text(stmt_, i);
        return p ? std::string_view(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i)))
                 : std::string_view{};
    }

private:
    sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN IMMEDIATE on construction; ROLLBACK in the destructor unless commit() succeeded.
class Transaction {
public:
    explicit Transaction(Database& db) noexcept;
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

    int begin_result() const noexcept { return begin_rc_; }
    int commit() noexcept;

private:
    Database& db_;
    int begin_rc_;
    bool done_ = false;
};

}  // namespace outpost::outbox::sql
