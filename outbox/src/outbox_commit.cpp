// Commits: what the owner hands the writer thread, what the writer does with it (inserts,
// deletes, quota, marker), and what comes back; the full-disk reserve.
#include "outbox_impl.hpp"

namespace outpost::outbox {

namespace {

// The losses table is bounded: past this many records the oldest tenth is folded, one per reason.
constexpr std::uint64_t max_loss_records = 10'000;

}  // namespace

void Outbox::add_loss(LossRecord loss) {
    if (!unwritten_losses_.empty()) {
        auto& last = unwritten_losses_.back();
        if (last.reason == loss.reason && last.priority == loss.priority && last.last_seq + 1 == loss.first_seq &&
            last.count >= 0 && loss.count >= 0) {
            last.count += loss.count;
            last.last_seq = loss.last_seq;
            return;
        }
    }
    unwritten_losses_.push_back(std::move(loss));
}

void Outbox::flush_open_drops(bool now_or_never) {
    // Commits started without waiting come back-to-back while the disk is full: one record per
    // priority and second then, not one per attempt (each would take pages the disk lacks).
    const auto now = std::chrono::steady_clock::now();
    if (!now_or_never && now - last_drop_flush_ < std::chrono::seconds(1)) return;
    last_drop_flush_ = now;
    for (auto& drop : open_drops_) {
        if (drop.count == 0) continue;
        unwritten_losses_.push_back(std::move(drop));
        drop = {};
    }
}

void Outbox::record_bad_row(std::uint64_t seq, int priority) {
    ++stats_.corrupt_rows;
    mark_done(seq, priority, -1);
    add_loss({wall_clock_ns(), "checksum_mismatch", priority, 1, seq, seq});
}

std::error_code Outbox::write_marker_if_needed(std::uint64_t next_seq, std::uint32_t epoch, std::uint64_t rows) {
    // Only when numbers were handed out (or the epoch changed): a commit that only deletes costs
    // no extra fsync. `rows` is refreshed then, which is enough for a loss estimate.
    if (next_seq == marker_next_seq_ && epoch == marker_epoch_) return {};
    if (!impl_->marker) return std::make_error_code(std::errc::read_only_file_system);
    if (const auto ec = impl_->marker->write({epoch, next_seq, rows, store_next_seq_})) return ec;
    marker_next_seq_ = next_seq;
    marker_epoch_ = epoch;
    return {};
}

bool Outbox::begin_commit(bool acks_only) {
    if (job_ || !impl_->store_ok) return false;
    flush_open_drops(false);
    flush_open_expired();
    forget_delivered_from_memory();
    if (acks_only ? acked_.empty() && expired_.empty() && unwritten_losses_.empty() : !has_work()) return false;
    auto job = std::make_unique<Job>();
    job->acks_only = acks_only;
    job->hold_inserts = stats_.reserve_released && commit_failing_;
    if (!acks_only) {
        job->staged.swap(staged_);
        if (positions_dirty_) {
            job->positions = positions_;
            job->positions_dirty = true;
            positions_dirty_ = false;
        }
    }
    job->acked.swap(acked_);
    job->expired.swap(expired_);
    job->pending = job->acked.size() + job->expired.size();
    job->losses.swap(unwritten_losses_);
    job->st = stats_;
    job_ = std::move(job);
    impl_->worker.submit([this, j = job_.get()] { run_job(*j); });
    return true;
}

void Outbox::run_job(Job& j) {
    // The writer thread: only `j`, the write connection, the marker and the writer's own state.
    if (!j.acks_only) {
        j.ec = j.hold_inserts ? make_sqlite_error(SQLITE_FULL) : commit_once(j);
        if (!j.ec) return;
    }
    if (!j.acked.empty() || !j.expired.empty() || !j.losses.empty() || j.acks_only) {
        // Inserts fail (a full disk, most likely), but deletes free space and loss records must
        // reach the disk: commit them on their own.
        const auto ec = commit_deletes_and_losses(j);
        j.deletes_committed = !ec;
        if (j.acks_only) j.ec = ec;
    }
}

std::optional<std::error_code> Outbox::collect_commit() {
    if (!job_ || !impl_->worker.finished()) return std::nullopt;
    auto job = std::move(job_);
    auto& j = *job;
    const bool ok = !j.ec && !j.acks_only;
    if (ok || j.deletes_committed) {
        stats_.rows = j.st.rows;
        stats_.bytes = j.st.bytes;
        stats_.removed += j.removed;
        for (const auto& a : j.acked) acked_set_.erase(a.seq);
        for (const auto& e : j.expired) acked_set_.erase(e.seq);
        for (std::size_t p = 0; p < j.expired_removed.size(); ++p) {
            const auto n = static_cast<std::uint64_t>(j.expired_removed[p].count);
            stats_.expired[p] += n;
            expired_since_log_[p] += n;
        }
    } else {
        // Back in front of what arrived meanwhile: nothing is lost by a failed attempt.
        acked_.insert(acked_.begin(), j.acked.begin(), j.acked.end());
        expired_.insert(expired_.begin(), j.expired.begin(), j.expired.end());
        unwritten_losses_.insert(unwritten_losses_.begin(), std::make_move_iterator(j.losses.begin()),
                                 std::make_move_iterator(j.losses.end()));
    }
    if (j.st.reserve_released && !stats_.reserve_released) {
        stats_.reserve_released = true;
        next_reserve_attempt_ = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    }
    if (ok) {
        stats_.committed += j.staged.size();
        stats_.evicted = j.st.evicted;
        ++stats_.commits;
        commit_failing_ = false;
    } else if (!j.acks_only) {
        ++stats_.commit_failures;
        commit_failing_ = true;
        for (auto it = j.staged.rbegin(); it != j.staged.rend(); ++it) staged_.push_front(std::move(*it));
        while (staged_.size() > options_.max_staged) drop_oldest_staged();
        if (j.positions_dirty) positions_dirty_ = true;
    }
    stats_.staged = staged_.size();
    stats_.writer_busy_ns = static_cast<std::uint64_t>(impl_->worker.busy().count());
    const auto ec = j.ec;
    const bool acks_only = j.acks_only;
    job.reset();  // its readings (and their topics) are done with
    prune_topics();
    log_expired();
    if (ec) recover_if_damaged(ec.value(), acks_only ? "a delete" : "a commit");
    return ec;
}

void Outbox::settle() {
    if (!job_) return;
    impl_->worker.wait();
    collect_commit();
}

void Outbox::wait_for_commit() const {
    if (job_) impl_->worker.wait();
}

void Outbox::set_commit_listener(std::function<void()> listener) { impl_->worker.set_listener(std::move(listener)); }

std::error_code Outbox::commit_acknowledged() {
    settle();
    flush_open_drops(true);
    if (acked_.empty() && expired_.empty() && unwritten_losses_.empty()) return {};
    if (!impl_->store_ok) return make_sqlite_error(SQLITE_CANTOPEN);
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (!begin_commit(true)) return impl_->store_ok ? std::error_code{} : make_sqlite_error(SQLITE_CANTOPEN);
        impl_->worker.wait();
        const auto ec = collect_commit().value_or(std::error_code{});
        if (!ec || !is_corruption(ec.value()) || !impl_->store_ok) return ec;  // a damaged store was replaced: once more
    }
    return make_sqlite_error(SQLITE_CORRUPT);
}

void Outbox::forget_delivered_from_memory() {
    if (!served_from_memory_) return;
    if (staged_.empty()) {
        served_from_memory_ = false;
        return;
    }
    if (acked_set_.empty()) return;
    const std::uint64_t first_staged = staged_.front().seq;
    const auto delivered = std::erase_if(staged_, [&](const Staged& m) { return acked_set_.count(m.seq) != 0; });
    if (delivered == 0) return;
    stats_.delivered_from_memory += delivered;
    // Acknowledgements of stored rows stay (they are deleted once the store can be written).
    std::erase_if(acked_, [&](const Ack& a) {
        if (a.seq < first_staged) return false;
        acked_set_.erase(a.seq);
        return true;
    });
    stats_.staged = staged_.size();
}

std::error_code Outbox::commit() {
    settle();
    flush_open_drops(true);
    if (!has_work()) return {};
    if (!impl_->store_ok) {
        if (stats_.memory_only) forget_delivered_from_memory();
        ++stats_.commit_failures;
        return make_sqlite_error(SQLITE_CANTOPEN);
    }
    std::error_code ec;
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (!begin_commit(false)) return {};
        impl_->worker.wait();
        ec = collect_commit().value_or(std::error_code{});
        if (!ec || !is_corruption(ec.value()) || !impl_->store_ok) break;  // a damaged store was replaced: once more
    }
    return ec;
}

void Outbox::drop_oldest_staged() {
    const auto& old = staged_.front();
    if (acked_set_.erase(old.seq)) {  // delivered from memory already: not a loss
        ++stats_.delivered_from_memory;  // (its seq may stay in acked_: deleting nothing is harmless)
        staged_.pop_front();
        return;
    }
    // One record per priority covers every drop since the last commit attempt.
    count_loss(open_drops_[old.priority], "dropped_unwritable", old.priority, old.seq);
    ++stats_.dropped_unwritable;
    staged_.pop_front();
}

int Outbox::write_staged(const std::deque<Staged>& staged, OutboxStats& st) {
    auto& im = *impl_;
    // Key order (priority, then seq), so that SQLite's cursor steps on instead of seeking: staged
    // readings are in seq order, so one priority (the common case) is in key order already.
    // Otherwise a counting sort over the ten priorities (stage() clamps them), stable within each.
    std::vector<std::uint32_t> order;
    const bool in_key_order = std::is_sorted(staged.begin(), staged.end(),
                                             [](const Staged& a, const Staged& b) { return a.priority < b.priority; });
    if (!in_key_order) {
        std::array<std::uint32_t, priority_levels + 1> next{};
        for (const auto& s : staged) ++next[s.priority + 1u];
        std::partial_sum(next.begin(), next.end(), next.begin());
        order.resize(staged.size());
        for (std::uint32_t i = 0; i < staged.size(); ++i) order[next[staged[i].priority]++] = i;
    }
    std::array<RowFields, rows_per_insert> chunk;
    std::size_t held = 0;
    std::uint64_t held_bytes = 0;
    for (std::size_t i = 0; i < staged.size(); ++i) {
        const Staged& s = staged[in_key_order ? i : order[i]];
        chunk[held++] = {s.seq, s.priority, s.created_ns, s.qos, s.retain, *s.topic, s.body};
        held_bytes += row_bytes(s.topic->size() + s.body.size());
        if (held < rows_per_insert) continue;
        if (const int rc = im.write_rows(chunk.data()); rc != SQLITE_OK) return rc;
        st.rows += held;
        st.bytes += held_bytes;
        held = 0;
        held_bytes = 0;
    }
    for (std::size_t i = 0; i < held; ++i) {
        if (const int rc = im.write_row(chunk[i]); rc != SQLITE_OK) return rc;
        ++st.rows;
        st.bytes += row_bytes(chunk[i].topic.size() + chunk[i].body.size());
    }
    return SQLITE_OK;
}

std::error_code Outbox::commit_once(Job& j) {
    auto& im = *impl_;
    auto& st = j.st;
    sql::Transaction tx(im.db);
    if (tx.begin_result() != SQLITE_OK) return make_sqlite_error(tx.begin_result());
    const auto before = st;
    auto fail = [&](int rc) {
        forget_open_losses();  // records opened in this transaction are rolled back with it
        st = before;
        j.removed = 0;
        j.expired_removed = {};
        return std::error_code(rc & 0xFF, sqlite_category());
    };
    if (const int rc = write_staged(j.staged, st); rc != SQLITE_OK) return fail(rc);
    if (const int rc = delete_acked_rows(j.acked, st.rows, st.bytes, j.removed); rc != SQLITE_OK) return fail(rc);
    if (const int rc = delete_expired(j, st.rows, st.bytes, j.expired_removed); rc != SQLITE_OK) return fail(rc);
    for (const auto& loss : j.losses) {
        if (const int rc = im.write_loss(loss); rc != SQLITE_OK) return fail(rc);
    }
    if (j.positions_dirty) {
        for (const auto& [source, pos] : j.positions) {
            im.position_set.bind(1, source);
            im.position_set.bind(2, pos);
            if (const int rc = Impl::done(im.position_set); rc != SQLITE_OK) return fail(rc);
        }
    }
    // Expired rows go before the quota evicts anything that could still be delivered.
    if (const int rc = sweep_expired(st, j.expired_removed); rc != SQLITE_OK) return fail(rc);
    if (const int rc = write_expired(j.expired_removed); rc != SQLITE_OK) return fail(rc);
    if (const auto ec = evict_over_quota(st)) return fail(ec.value());
    if (im.loss_rows > max_loss_records) {
        if (const int rc = im.fold_oldest_losses(static_cast<std::int64_t>(max_loss_records / 10)); rc != SQLITE_OK) {
            return fail(rc);
        }
    }
    int rc = im.set("next_seq", static_cast<std::int64_t>(st.next_seq));
    if (rc == SQLITE_OK) rc = im.set("rows", static_cast<std::int64_t>(st.rows));
    if (rc == SQLITE_OK) rc = im.set("bytes", static_cast<std::int64_t>(st.bytes));
    if (rc != SQLITE_OK) return fail(rc);
    // The marker first: it must never say less than what the file holds.
    if (write_marker_if_needed(st.next_seq, st.epoch, st.rows)) return fail(SQLITE_IOERR);
    if (rc = tx.commit(); rc != SQLITE_OK) return fail(rc);
    store_next_seq_ = st.next_seq;
    return {};
}

std::error_code Outbox::commit_deletes_and_losses(Job& j) {
    auto& im = *impl_;
    auto& st = j.st;
    for (int attempt = 0; attempt < 2; ++attempt) {
        int rc = SQLITE_OK;
        std::uint64_t rows = st.rows, bytes = st.bytes, removed = 0;
        LossesByPriority expired{};
        {
            sql::Transaction tx(im.db);
            rc = tx.begin_result();
            if (rc == SQLITE_OK) rc = delete_acked_rows(j.acked, rows, bytes, removed);
            if (rc == SQLITE_OK) rc = delete_expired(j, rows, bytes, expired);
            if (rc == SQLITE_OK) rc = write_expired(expired);
            for (auto it = j.losses.begin(); rc == SQLITE_OK && it != j.losses.end(); ++it) {
                rc = im.write_loss(*it);
            }
            // Staged numbers are handed out: the file and the marker must remember them too.
            if (rc == SQLITE_OK) rc = im.set("next_seq", static_cast<std::int64_t>(st.next_seq));
            if (rc == SQLITE_OK) rc = im.set("rows", static_cast<std::int64_t>(rows));
            if (rc == SQLITE_OK) rc = im.set("bytes", static_cast<std::int64_t>(bytes));
            if (rc == SQLITE_OK && write_marker_if_needed(st.next_seq, st.epoch, rows)) rc = SQLITE_IOERR;
            if (rc == SQLITE_OK) rc = tx.commit();
        }
        if (rc == SQLITE_OK) {
            store_next_seq_ = st.next_seq;
            st.rows = rows;
            st.bytes = bytes;
            j.removed = removed;
            j.expired_removed = expired;
            return {};
        }
        forget_open_losses();  // records opened in the rolled-back transaction
        // The disk is full: give up the reserve so deletes and loss records can be written.
        const auto reserve = reserve_path(options_.path);
        if ((rc & 0xFF) != SQLITE_FULL || attempt > 0 || !std::filesystem::exists(reserve)) {
            return std::error_code(rc & 0xFF, sqlite_category());
        }
        std::error_code ignored;
        std::filesystem::remove(reserve, ignored);
        st.reserve_released = true;
        core::log_warn("outbox.reserve_released", "the disk is full; the space reserve was released for deletes and "
                       "loss records", {{"path", reserve}});
    }
    return make_sqlite_error(SQLITE_FULL);
}

void Outbox::refresh_reserve() noexcept {
    if (options_.reserve_bytes == 0) return;
    const auto path = reserve_path(options_.path);
    std::error_code ec;
    if (std::filesystem::exists(path, ec) && std::filesystem::file_size(path, ec) >= options_.reserve_bytes) return;
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return;
    const int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(options_.reserve_bytes));
    ::close(fd);
    if (rc != 0) ::unlink(path.c_str());  // not enough room yet: try again later
}

}  // namespace outpost::outbox
