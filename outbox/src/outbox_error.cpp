#include "outpost/outbox/outbox_error.hpp"

#include <sqlite3.h>

namespace outpost::outbox {
namespace {

class SqliteCategory : public std::error_category {
public:
    const char* name() const noexcept override { return "sqlite"; }
    std::string message(int code) const override { return sqlite3_errstr(code); }
};

}  // namespace

const std::error_category& sqlite_category() noexcept {
    static const SqliteCategory category;
    return category;
}

std::error_code make_sqlite_error(int code) noexcept {
    return {code & 0xFF, sqlite_category()};
}

bool is_transient(std::error_code ec) noexcept {
    if (ec.category() != sqlite_category()) return false;
    switch (ec.value()) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
        case SQLITE_FULL:
        case SQLITE_IOERR:
        case SQLITE_NOMEM:
            return true;
        default:
            return false;
    }
}

}  // namespace outpost::outbox
