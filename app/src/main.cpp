#include <malloc.h>

#include <csignal>

#include <string>
#include <vector>

#include "outpost/app/commands.hpp"

int main(int argc, char** argv) {
    // Every published message allocates and frees small buffers (ours and libmosquitto's). With
    // glibc's default trim threshold the heap top shrinks and grows again with a brk() pair per
    // message; keeping a few MB at the top removes those syscalls. The heap stays a few MB.
    mallopt(M_TRIM_THRESHOLD, 4 << 20);
    mallopt(M_TOP_PAD, 1 << 20);
    // Two malloc arenas: the io thread's, and one that the outbox's writer thread claims first
    // (outbox/src/commit_worker.cpp). The writer allocates for every row it inserts or deletes;
    // sharing the io thread's arena, the two took turns at its lock (under a saturated bus, a tenth
    // of their samples were in malloc's lock and the futex calls it makes). The other helper
    // threads (name lookup, background integrity check) allocate little and share those two,
    // instead of a 64 MB arena each whose touched pages count against RSS.
    mallopt(M_ARENA_MAX, 2);
    // A write to a connection the broker already closed (inside OpenSSL, which cannot ask for
    // MSG_NOSIGNAL) must become an error code, not the end of the process.
    std::signal(SIGPIPE, SIG_IGN);
    // Likewise a write past RLIMIT_FSIZE: EFBIG, which the outbox handles like a full disk. Every
    // other signal that would end the process is caught by `run` (app/signal_policy.hpp).
    std::signal(SIGXFSZ, SIG_IGN);
    return outpost::app::command_main(std::vector<std::string>(argv + 1, argv + argc));
}
