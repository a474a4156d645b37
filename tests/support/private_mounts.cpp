#include "private_mounts.hpp"

#include <sched.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>

namespace outpost::test {

bool private_mount_namespace(std::string& error) {
    static bool entered = false;
    if (entered) return true;
    if (::unshare(CLONE_NEWNS) != 0) {
        error = std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno);
        return false;
    }
    // Nothing mounted from here on propagates back to the host.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
        error = std::string("making / private: ") + std::strerror(errno);
        return false;
    }
    entered = true;
    return true;
}

bool mount_tmpfs(const std::string& dir, const std::string& size, std::string& error) {
    if (!private_mount_namespace(error)) return false;
    const std::string options = "size=" + size;
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) != 0) {
        error = "mount tmpfs on " + dir + ": " + std::strerror(errno);
        return false;
    }
    return true;
}

bool make_read_only(const std::string& dir, std::string& error) {
    if (!private_mount_namespace(error)) return false;
    if (::mount(dir.c_str(), dir.c_str(), nullptr, MS_BIND, nullptr) != 0 ||
        ::mount(nullptr, dir.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) {
        error = "read-only bind mount of " + dir + ": " + std::strerror(errno);
        return false;
    }
    return true;
}

MountGuard::~MountGuard() {
    // Nothing may be mounted there any more (a test detached it itself): that is fine.
    ::umount2(dir.c_str(), MNT_DETACH);
}

}  // namespace outpost::test
