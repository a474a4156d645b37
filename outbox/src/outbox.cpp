// The outbox: staging, acknowledgements, housekeeping and what it reports (outbox_impl.hpp
// lists where the rest lives).
#include "outbox_impl.hpp"

namespace outpost::outbox {

namespace {

// Distinct topics kept for staged readings before the table is pruned to those still staged.
constexpr std::size_t max_topics = 65'536;

struct OldestRow {
    std::uint64_t seq;
    std::int64_t created_ns;
};

// The row with the lowest seq, whatever its priority (one lookup per priority); nullopt if none.
std::optional<OldestRow> oldest_row(sql::Database& db, bool legacy) {
    std::optional<OldestRow> oldest;
    if (legacy) {
        sql::Statement q(db, "SELECT seq,created_ns FROM messages ORDER BY seq LIMIT 1");
        if (q.step() == SQLITE_ROW) oldest = OldestRow{static_cast<std::uint64_t>(q.column_int(0)), q.column_int(1)};
        return oldest;
    }
    sql::Statement q(db, "SELECT key,created_ns FROM messages WHERE key>=?1 AND key<?2 ORDER BY key LIMIT 1");
    for (int p = 0; p < priority_levels; ++p) {
        q.bind(1, row_key(p, 0));
        q.bind(2, row_key(p, seq_limit));
        if (q.step() == SQLITE_ROW) {
            const auto seq = seq_of_key(q.column_int(0));
            if (!oldest || seq < oldest->seq) oldest = OldestRow{seq, q.column_int(1)};
        }
        q.reset();
    }
    return oldest;
}

// The store exists (or could) but cannot be written: a read-only file, directory or filesystem,
// or permissions. The gateway runs on from memory and retries; other errors stop the start.
bool is_unwritable(int code) noexcept {
    switch (code & 0xFF) {
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH:
    case SQLITE_IOERR:
        return true;
    default:
        return false;
    }
}

// A scheduled background check waits while the writer thread is busy more than this share of the time.
constexpr double max_writer_share_for_check = 0.5;

void prepare_directory(const std::string& path) {
    const auto dir = std::filesystem::path(path).parent_path();
    if (dir.empty() || std::filesystem::exists(dir)) return;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw OutboxError("cannot create the outbox directory " + dir.string() + ": " + ec.message(), SQLITE_CANTOPEN);
    ::chmod(dir.c_str(), 0700);
}

}  // namespace

Outbox::Outbox(OutboxOptions options) : options_(std::move(options)), impl_(std::make_unique<Impl>()) {
    any_ttl_ = std::any_of(options_.ttl.begin(), options_.ttl.end(), [](auto t) { return t.count() > 0; });
    prepare_directory(options_.path);  // a directory that cannot even be created is a start-up error
    impl_->lock = StoreLock(options_.path);  // one process per store (throws if another holds it)
    try {
        open_at_start();
    } catch (const OutboxError& e) {
        if (!is_unwritable(e.sqlite_code())) throw;
        start_memory_only(e.what());
    }
}

std::uint64_t Outbox::stage(core::Message message) {
    const std::uint64_t seq = stats_.next_seq++;
    if (message.priority >= priority_levels) message.priority = priority_levels - 1;
    const auto topic = topics_.insert(std::move(message.topic)).first;
    staged_.push_back({seq, message.created_ns, &*topic, std::move(message.body), message.priority, message.qos, message.retain});
    // Commits are failing and memory is finite: drop the oldest staged message, on the record.
    if (staged_.size() > options_.max_staged) drop_oldest_staged();
    stats_.staged = staged_.size();
    return seq;
}

void Outbox::mark_done(std::uint64_t seq, int priority, std::int64_t stored_bytes) {
    if (!acked_set_.insert(seq)) return;
    const bool known_priority = priority >= 0 && priority < priority_levels;
    // A size is only of use with its priority (the row's key); one beyond int32 is read back.
    const bool known_size = known_priority && stored_bytes >= 0 && stored_bytes <= std::numeric_limits<std::int32_t>::max();
    acked_.push_back({seq, known_size ? static_cast<std::int32_t>(stored_bytes) : -1, known_priority ? priority : -1});
}

void Outbox::acknowledge(std::uint64_t seq) { mark_done(seq, -1, -1); }

void Outbox::acknowledge(std::uint64_t seq, int priority, std::uint32_t stored_bytes) {
    mark_done(seq, priority, std::int64_t{stored_bytes});
}

void Outbox::discard(std::uint64_t seq, int priority, std::string reason) {
    mark_done(seq, priority, -1);
    ++stats_.discarded;
    add_loss({wall_clock_ns(), std::move(reason), std::clamp(priority, -1, priority_levels - 1), 1, seq, seq});
}

void Outbox::set_position(const std::string& source, std::int64_t position) {
    auto [it, inserted] = positions_.try_emplace(source, position);
    if (!inserted && it->second == position) return;  // no commit (and no fsync) for nothing
    it->second = position;
    positions_dirty_ = true;
}

std::optional<std::int64_t> Outbox::position(const std::string& source) const {
    const auto it = positions_.find(source);
    if (it == positions_.end()) return std::nullopt;
    return it->second;
}

core::StoredMessage Outbox::Staged::stored(std::uint32_t epoch) const {
    core::StoredMessage m;
    m.seq = seq;
    m.epoch = epoch;
    m.message.topic = *topic;
    m.message.body = body;
    m.message.created_ns = created_ns;
    m.message.priority = priority;
    m.message.qos = qos;
    m.message.retain = retain;
    return m;
}

void Outbox::prune_topics() {
    // The owner's thread, no commit in flight: nothing else reads the table. Rebuilt from what is
    // still staged, so a site whose topics keep changing does not grow it without bound.
    if (job_ || topics_.size() <= max_topics) return;
    std::unordered_set<std::string> kept;
    for (auto& s : staged_) s.topic = &*kept.insert(*s.topic).first;
    topics_.swap(kept);
}

std::size_t Outbox::staged() const noexcept { return staged_.size() + (job_ ? job_->staged.size() : 0); }
std::size_t Outbox::pending_acks() const noexcept {
    return acked_.size() + expired_.size() + (job_ ? job_->pending : 0);
}

bool Outbox::has_work() const noexcept {
    return !staged_.empty() || !acked_.empty() || !unwritten_losses_.empty() || positions_dirty_ || expiry_pending();
}

void Outbox::maintain(std::chrono::steady_clock::time_point now) {
    auto& im = *impl_;
    if (!im.store_ok) {
        // A replacement failed earlier: try to open the store again, every 10 s.
        if (now < next_reserve_attempt_) return;
        next_reserve_attempt_ = now + std::chrono::seconds(10);
        try {
            reopen();
        } catch (const OutboxError& e) {
            if (is_corruption(e.sqlite_code()) && im.marker) {
                try {
                    quarantine(e.what(), false);
                    memory_epoch_.reset();
                    stats_.memory_only = false;
                    im.set("clean_shutdown", 0);
                    write_marker_if_needed(stats_.next_seq, stats_.epoch, stats_.rows);
                    return;
                } catch (const std::exception&) {
                }
            }
            if (stats_.memory_only && !im.readable) open_read_only();
            std::uint64_t suppressed = 0;
            if (im.fetch_error_log.allow(now, suppressed)) {
                core::log_error("outbox.unavailable", "the outbox cannot be opened; readings stay in memory",
                                {{"error", e.what()}});
            }
            return;
        } catch (const std::exception& e) {
            std::uint64_t suppressed = 0;
            if (im.fetch_error_log.allow(now, suppressed)) {
                core::log_error("outbox.unavailable", "the outbox cannot be opened; readings stay in memory",
                                {{"error", e.what()}});
            }
            return;
        }
    }
    if (const auto result = im.checker.poll()) {
        ++stats_.integrity_checks;
        if (*result) {
            try {
                quarantine(**result, false);
                im.set("clean_shutdown", 0);
                write_marker_if_needed(stats_.next_seq, stats_.epoch, stats_.rows);
            } catch (const std::exception& e) {
                core::log_error("outbox.recovery_failed", "could not replace the damaged outbox; will retry",
                                {{"error", e.what()}});
            }
        }
    }
    // Sampled on the real clock: `now` may be a test's.
    if (const auto real = std::chrono::steady_clock::now(); real - writer_sampled_at_ >= std::chrono::seconds(1)) {
        const auto busy = static_cast<std::uint64_t>(im.worker.busy().count());
        if (writer_sampled_at_ != std::chrono::steady_clock::time_point{}) {
            writer_share_ = static_cast<double>(busy - writer_busy_at_sample_ns_) /
                            static_cast<double>(std::chrono::nanoseconds(real - writer_sampled_at_).count());
        }
        writer_sampled_at_ = real;
        writer_busy_at_sample_ns_ = busy;
    }
    // A scheduled check is maintenance. Its read transaction holds the write-ahead log for the
    // whole check, and it takes a core: under a saturated bus a check of 15M rows took 4 s, the
    // log grew by 200 MB meanwhile, and ingest and the drain shared what was left. So while the
    // writer is busy more than half the time, a due check waits, up to one interval past its time.
    const bool due = options_.integrity_check_interval.count() > 0 && now >= next_check_ && !im.checker.running();
    if (due && !check_now_ && writer_share_ > max_writer_share_for_check &&
        now < next_check_ + options_.integrity_check_interval) {
        if (!check_deferred_) ++stats_.integrity_checks_deferred;
        check_deferred_ = true;
    } else if (due) {
        check_now_ = false;
        check_deferred_ = false;
        next_check_ = now + options_.integrity_check_interval;
        try {
            im.checker.start(options_.path);
        } catch (const std::system_error& e) {
            core::log_warn("outbox.check_not_started", "could not start the background integrity check",
                           {{"error", e.what()}});
        }
    }
    // Inserts wait for this (see Job::hold_inserts): the reserve back means the disk has room again.
    if (stats_.reserve_released && now >= next_reserve_attempt_) {
        next_reserve_attempt_ = now + std::chrono::seconds(10);
        refresh_reserve();
        std::error_code ec;
        if (std::filesystem::exists(reserve_path(options_.path), ec)) stats_.reserve_released = false;
    }
}

std::optional<std::int64_t> Outbox::oldest_created_ns() const {
    auto& im = *impl_;
    if (im.store_ok || im.readable) {
        if (const auto row = oldest_row(im.reader(), im.legacy)) return row->created_ns;
    }
    if (!staged_.empty()) return staged_.front().created_ns;
    return std::nullopt;
}

std::vector<LossRecord> Outbox::losses(std::size_t max_records) const {
    std::vector<LossRecord> out;
    if (!impl_->store_ok && !impl_->readable) return out;
    sql::Statement q(impl_->reader(), "SELECT at_ns,reason,priority,count,first_seq,last_seq FROM losses "
                                "ORDER BY rowid DESC LIMIT ?1");
    q.bind(1, static_cast<std::int64_t>(max_records));
    while (q.step() == SQLITE_ROW) {
        out.push_back({q.column_int(0), std::string(q.column_text(1)), static_cast<int>(q.column_int(2)),
                       q.column_int(3), static_cast<std::uint64_t>(q.column_int(4)),
                       static_cast<std::uint64_t>(q.column_int(5))});
    }
    return out;
}

std::vector<LossRecord> Outbox::losses_after(std::int64_t after_id, std::size_t max_records) const {
    std::vector<LossRecord> out;
    if (!impl_->store_ok && !impl_->readable) return out;
    sql::Statement q(impl_->reader(), "SELECT at_ns,reason,priority,count,first_seq,last_seq,rowid FROM losses "
                                      "WHERE rowid > ?1 ORDER BY rowid LIMIT ?2");
    q.bind(1, after_id);
    q.bind(2, static_cast<std::int64_t>(max_records));
    while (q.step() == SQLITE_ROW) {
        out.push_back({q.column_int(0), std::string(q.column_text(1)), static_cast<int>(q.column_int(2)),
                       q.column_int(3), static_cast<std::uint64_t>(q.column_int(4)),
                       static_cast<std::uint64_t>(q.column_int(5)), q.column_int(6)});
    }
    return out;
}

OutboxSummary inspect_outbox(const std::string& path) {
    if (!std::filesystem::exists(path)) throw OutboxError("no outbox at " + path, SQLITE_CANTOPEN);
    sql::Database db(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX);
    db.exec("PRAGMA busy_timeout=2000");
    OutboxSummary s;
    sql::Statement meta(db, "SELECT key,value FROM meta");
    while (meta.step() == SQLITE_ROW) {
        const auto key = meta.column_text(0);
        const auto value = static_cast<std::uint64_t>(meta.column_int(1));
        if (key == "next_seq") s.next_seq = value;
        if (key == "rows") s.rows = value;
        if (key == "bytes") s.bytes = value;
        if (key == "epoch") s.epoch = static_cast<std::uint32_t>(value);
    }
    if (const auto mark = SeqMarker::read(path)) s.marker_next_seq = mark->next_seq;
    sql::Statement by_priority(db, "SELECT priority,count(*) FROM messages GROUP BY priority");
    while (by_priority.step() == SQLITE_ROW) {
        const auto p = by_priority.column_int(0);
        if (p >= 0 && p < priority_levels) {
            s.rows_by_priority[static_cast<std::size_t>(p)] = static_cast<std::uint64_t>(by_priority.column_int(1));
        }
    }
    if (const auto row = oldest_row(db, !db.has_column("messages", "key"))) {
        s.oldest_seq = row->seq;
        s.oldest_created_ns = row->created_ns;
    }
    sql::Statement losses(db, "SELECT at_ns,reason,priority,count,first_seq,last_seq FROM losses ORDER BY rowid");
    while (losses.step() == SQLITE_ROW) {
        s.losses.push_back({losses.column_int(0), std::string(losses.column_text(1)),
                            static_cast<int>(losses.column_int(2)), losses.column_int(3),
                            static_cast<std::uint64_t>(losses.column_int(4)),
                            static_cast<std::uint64_t>(losses.column_int(5))});
    }
    return s;
}

}  // namespace outpost::outbox
