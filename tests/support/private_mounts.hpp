#pragma once
// Mounts for tests that need a small or read-only filesystem, made in a mount namespace of the
// test's own process: the host's mount table never changes, and everything is gone when the
// process exits (ctest runs each test in a process of its own).
#include <string>
#include <utility>

namespace outpost::test {

// Moves this process into a private mount namespace (once). False, with the reason in `error`,
// where that is not allowed (not root, or a container without CAP_SYS_ADMIN).
bool private_mount_namespace(std::string& error);
// A tmpfs of `size` (mount(8) syntax: "4m") at `dir`, inside the private namespace.
bool mount_tmpfs(const std::string& dir, const std::string& size, std::string& error);
// `dir` made read-only in place (a read-only bind mount over itself).
bool make_read_only(const std::string& dir, std::string& error);

// Detaches whatever is mounted at `dir` when it goes out of scope, so that the temporary directory
// holding it can be removed: declare it after that directory.
struct MountGuard {
    explicit MountGuard(std::string mounted_at) : dir(std::move(mounted_at)) {}
    std::string dir;
    MountGuard(const MountGuard&) = delete;
    MountGuard& operator=(const MountGuard&) = delete;
    ~MountGuard();
};

}  // namespace outpost::test
