#pragma once
// A loss record as a row of the losses table: the outbox and `outpost outbox remove`
// (outbox_tools.cpp) write the same six columns.
#include <cstdint>

#include "outpost/outbox/outbox.hpp"
#include "sqlite.hpp"

namespace outpost::outbox {

inline constexpr const char* insert_loss_sql =
    "INSERT INTO losses(at_ns,reason,priority,count,first_seq,last_seq) VALUES(?1,?2,?3,?4,?5,?6)";

// Binds `l` to a statement made from insert_loss_sql.
inline void bind_loss(sql::Statement& st, const LossRecord& l) {
    st.bind(1, l.at_ns);
    st.bind(2, l.reason);
    st.bind(3, l.priority);
    st.bind(4, l.count);
    st.bind(5, static_cast<std::int64_t>(l.first_seq));
    st.bind(6, static_cast<std::int64_t>(l.last_seq));
}

}  // namespace outpost::outbox
