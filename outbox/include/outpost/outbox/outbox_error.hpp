#pragma once
#include <stdexcept>
#include <string>
#include <system_error>

namespace outpost::outbox {

// Start-up failure (cannot open or create the outbox). Carries SQLite's result code.
class OutboxError : public std::runtime_error {
public:
    OutboxError(const std::string& what, int sqlite_code)
        : std::runtime_error(what), sqlite_code_(sqlite_code) {}
    int sqlite_code() const noexcept { return sqlite_code_; }

private:
    int sqlite_code_;
};

// Runtime errors: std::error_code values in this category carry SQLite's primary result code.
const std::error_category& sqlite_category() noexcept;
std::error_code make_sqlite_error(int code) noexcept;
// Busy, locked, full disk and I/O errors may pass; the outbox retries them at the next commit.
bool is_transient(std::error_code ec) noexcept;

}  // namespace outpost::outbox
