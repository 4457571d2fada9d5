/*
 * fcgipm_native: the few system calls Node cannot make for fcgipm (docs/architecture.md,
 * "A small native addon"; docs/native-addon.md). Plain C against node_api.h (N-API 8), no other dependency.
 *
 *   listenUnix(path, backlog, mode) -> fd      a bound, listening, BLOCKING AF_UNIX socket that
 *                                              libuv never polls: it becomes a worker's fd 0
 *   closeFd(fd), setCloexec(fd, on)
 *   sendFd(socketFd, fdToSend, data) -> n      one sendmsg carrying data + one SCM_RIGHTS fd
 *   recvFd(socketFd, maxBytes) -> {data, fd}   one recvmsg; fd is -1 when none arrived
 *   socketPair() -> [fd, fd]
 *   markInheritedCloexec(minFd, keep) -> fds   FD_CLOEXEC on every open fd >= minFd not kept
 *   spawnProcess(file, argv, env, cwd, stdinFd, newSession)
 *                   -> {pid, stdout, stderr}   posix_spawn(3) with fd 0 = stdinFd and two pipes
 *   watchExit(pid, callback)                   callback({code, signal}) once pid exited and
 *                                              was reaped (pidfd_open + uv_poll on Node's loop)
 *
 * Every call is synchronous and none waits on I/O: the only blocking descriptor created here is
 * the listening socket, on which this process never calls accept(). Every descriptor created
 * here is close-on-exec, so a spawn running while one is open cannot leak it into another
 * worker. Failures throw an Error whose `code` is the errno name ("EADDRINUSE"), with
 * `syscall`, a negative numeric `errno` (Node's convention) and `path` where one applies.
 * spawnProcess returns once the child has exec'd; watchExit reports later, on the loop.
 *
 * Files: this one (sockets, descriptors, the module), fcgipm_spawn.c (spawnProcess,
 * watchExit), fcgipm_common.c (errors and argument helpers).
 */
#include "fcgipm_common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* recvFd accepts at most this many payload bytes per call (one FastCGI record is < 64 KiB). */
#define RECV_MAX_BYTES (16 * 1024 * 1024)
/* Room for this many descriptors per recvmsg; any beyond the first are closed, not leaked. */
#define RECV_MAX_FDS 16

/* ---- listenUnix -------------------------------------------------------------------------- */

static napi_value listen_unix(napi_env env, napi_callback_info info)
{
    napi_value argv[3];
    struct sockaddr_un addr;
    struct stat st;
    size_t len = 0;
    int backlog, mode, fd, err;

    if (!get_args(env, info, 3, argv)) return NULL;
    if (napi_get_value_string_utf8(env, argv[0], NULL, 0, &len) != napi_ok) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "path must be a string");
        return NULL;
    }
    if (!get_int(env, argv[1], "backlog", 0, &backlog)) return NULL;
    if (!get_int(env, argv[2], "mode", 0, &mode)) return NULL;

    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    /* sun_path holds 108 bytes including the terminating NUL; a longer path would be cut. */
    if (len >= sizeof addr.sun_path) {
        char shown[PATH_MAX];

        napi_get_value_string_utf8(env, argv[0], shown, sizeof shown, NULL);
        return throw_errno(env, "bind", shown, ENAMETOOLONG);
    }
    napi_get_value_string_utf8(env, argv[0], addr.sun_path, sizeof addr.sun_path, &len);
    /* An empty path would mean Linux's abstract namespace, an embedded NUL a shorter path. */
    if (len == 0 || strlen(addr.sun_path) != len) return throw_errno(env, "bind", addr.sun_path, EINVAL);

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return throw_errno(env, "socket", NULL, errno);

    /*
     * Linux creates the socket file with the unbound socket's inode mode minus the umask
     * (net/unix/af_unix.c), so this fchmod closes the window between bind and chmod in which
     * the file would otherwise carry 0777 & ~umask. umask() itself is process-wide and not
     * safe to touch from a threaded Node process. The chmod below stays authoritative.
     */
    (void)fchmod(fd, (mode_t)(mode & 07777));

    /* A stale socket from an earlier worker or manager (mod_fcgid unlinks first too); any
     * other kind of file is left alone and bind reports EADDRINUSE. */
    if (lstat(addr.sun_path, &st) == 0 && S_ISSOCK(st.st_mode) && unlink(addr.sun_path) != 0 &&
        errno != ENOENT) {
        err = errno;
        close(fd);
        return throw_errno(env, "unlink", addr.sun_path, err);
    }
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        err = errno;
        close(fd);
        return throw_errno(env, "bind", addr.sun_path, err);
    }
    if (chmod(addr.sun_path, (mode_t)(mode & 07777)) != 0) {
        err = errno;
        close(fd);
        unlink(addr.sun_path);
        return throw_errno(env, "chmod", addr.sun_path, err);
    }
    if (listen(fd, backlog) != 0) {
        err = errno;
        close(fd);
        unlink(addr.sun_path);
        return throw_errno(env, "listen", addr.sun_path, err);
    }
    return make_int(env, fd);
}

/* ---- closeFd, setCloexec ----------------------------------------------------------------- */

static napi_value close_fd(napi_env env, napi_callback_info info)
{
    napi_value argv[1];
    int fd;

    if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], "fd", 0, &fd)) return NULL;
    /* On Linux the descriptor is gone even when close() reports EINTR: never retry. */
    if (close(fd) != 0 && errno != EINTR) return throw_errno(env, "close", NULL, errno);
    return make_undefined(env);
}

static napi_value set_cloexec(napi_env env, napi_callback_info info)
{
    napi_value argv[2];
    bool on;
    int fd, flags;

    if (!get_args(env, info, 2, argv) || !get_int(env, argv[0], "fd", 0, &fd)) return NULL;
    if (napi_get_value_bool(env, argv[1], &on) != napi_ok) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "on must be a boolean");
        return NULL;
    }
    flags = fcntl(fd, F_GETFD);
    if (flags < 0) return throw_errno(env, "fcntl", NULL, errno);
    flags = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
    if (fcntl(fd, F_SETFD, flags) != 0) return throw_errno(env, "fcntl", NULL, errno);
    return make_undefined(env);
}

/* ---- sendFd, recvFd ---------------------------------------------------------------------- */

static napi_value send_fd(napi_env env, napi_callback_info info)
{
    napi_value argv[3];
    struct msghdr msg;
    struct iovec iov;
    struct cmsghdr *cmsg;
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    bool is_buffer = false;
    void *data = NULL;
    size_t length = 0;
    ssize_t sent;
    int sock, fd;

    if (!get_args(env, info, 3, argv)) return NULL;
    if (!get_int(env, argv[0], "socketFd", 0, &sock)) return NULL;
    if (!get_int(env, argv[1], "fdToSend", 0, &fd)) return NULL;
    if (napi_is_buffer(env, argv[2], &is_buffer) != napi_ok || !is_buffer) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "data must be a Buffer");
        return NULL;
    }
    if (napi_get_buffer_info(env, argv[2], &data, &length) != napi_ok) return NULL;
    /* A stream socket carries ancillary data only along with at least one byte. */
    if (length == 0) return throw_errno(env, "sendmsg", NULL, EINVAL);

    memset(&msg, 0, sizeof msg);
    memset(&control, 0, sizeof control);
    iov.iov_base = data;
    iov.iov_len = length;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);

    /* MSG_DONTWAIT: never block the event loop, even on a blocking socket (EAGAIN instead).
     * MSG_NOSIGNAL: a peer that went away is EPIPE, not SIGPIPE. A short count means the
     * descriptor went with the first bytes; the caller writes the rest without one. */
    do {
        sent = sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) return throw_errno(env, "sendmsg", NULL, errno);
    return make_int(env, (int)sent);
}

static napi_value recv_fd(napi_env env, napi_callback_info info)
{
    napi_value argv[2], result, buffer, fdval;
    struct msghdr msg;
    struct iovec iov;
    struct cmsghdr *cmsg;
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * RECV_MAX_FDS)];
    } control;
    ssize_t got;
    char *data;
    int sock, max, received = -1, err;

    if (!get_args(env, info, 2, argv)) return NULL;
    if (!get_int(env, argv[0], "socketFd", 0, &sock)) return NULL;
    if (!get_int(env, argv[1], "maxBytes", 1, &max)) return NULL;
    if (max > RECV_MAX_BYTES) max = RECV_MAX_BYTES;

    data = malloc((size_t)max);
    if (data == NULL) return throw_errno(env, "recvmsg", NULL, ENOMEM);
    memset(&msg, 0, sizeof msg);
    memset(&control, 0, sizeof control);
    iov.iov_base = data;
    iov.iov_len = (size_t)max;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;

    /* MSG_CMSG_CLOEXEC: a received descriptor is close-on-exec from its first instant. */
    do {
        got = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
        err = errno;
        free(data);
        return throw_errno(env, "recvmsg", NULL, err);
    }

    for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        size_t i, count;

        if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
        count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (i = 0; i < count; i++) {
            int fd;

            memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof fd);
            /* The contract is one descriptor per message; extras are closed, not leaked. */
            if (received < 0)
                received = fd;
            else
                close(fd);
        }
    }

    if (napi_create_buffer_copy(env, (size_t)got, data, NULL, &buffer) != napi_ok ||
        napi_create_object(env, &result) != napi_ok ||
        napi_create_int32(env, received, &fdval) != napi_ok ||
        napi_set_named_property(env, result, "data", buffer) != napi_ok ||
        napi_set_named_property(env, result, "fd", fdval) != napi_ok) {
        free(data);
        if (received >= 0) close(received);
        return NULL;
    }
    free(data);
    return result;
}

/* ---- socketPair -------------------------------------------------------------------------- */

static napi_value socket_pair(napi_env env, napi_callback_info info)
{
    napi_value result;
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return throw_errno(env, "socketpair", NULL, errno);
    if (napi_create_array_with_length(env, 2, &result) != napi_ok ||
        napi_set_element(env, result, 0, make_int(env, sv[0])) != napi_ok ||
        napi_set_element(env, result, 1, make_int(env, sv[1])) != napi_ok) {
        close(sv[0]);
        close(sv[1]);
        return NULL;
    }
    return result;
}

/* ---- markInheritedCloexec ---------------------------------------------------------------- */

static int is_kept(const int *keep, uint32_t nkeep, int fd)
{
    uint32_t i;

    for (i = 0; i < nkeep; i++)
        if (keep[i] == fd) return 1;
    return 0;
}

static napi_value mark_inherited_cloexec(napi_env env, napi_callback_info info)
{
    napi_value argv[2], result, element;
    bool is_array = false;
    uint32_t nkeep = 0, i, changed = 0;
    int *keep = NULL;
    int min, err;
    DIR *dir;
    struct dirent *entry;

    if (!get_args(env, info, 2, argv) || !get_int(env, argv[0], "minFd", 0, &min)) return NULL;
    if (napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array ||
        napi_get_array_length(env, argv[1], &nkeep) != napi_ok) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "keep must be an array of numbers");
        return NULL;
    }
    if (nkeep > 0) {
        keep = calloc(nkeep, sizeof *keep);
        if (keep == NULL) return throw_errno(env, "markInheritedCloexec", NULL, ENOMEM);
    }
    for (i = 0; i < nkeep; i++) {
        if (napi_get_element(env, argv[1], i, &element) != napi_ok ||
            !get_int(env, element, "keep[]", INT_MIN, &keep[i])) {
            free(keep);
            return NULL;
        }
    }
    if (napi_create_array(env, &result) != napi_ok) {
        free(keep);
        return NULL;
    }

    /* glibc's opendir is O_CLOEXEC; its own descriptor is skipped below. */
    dir = opendir("/proc/self/fd");
    if (dir == NULL) {
        err = errno;
        free(keep);
        return throw_errno(env, "opendir", "/proc/self/fd", err);
    }
    while ((entry = readdir(dir)) != NULL) {
        char *end;
        long n = strtol(entry->d_name, &end, 10);
        int fd, flags;

        if (entry->d_name[0] < '0' || entry->d_name[0] > '9' || *end != '\0' || n > INT_MAX) continue;
        fd = (int)n;
        if (fd < min || fd == dirfd(dir) || is_kept(keep, nkeep, fd)) continue;
        flags = fcntl(fd, F_GETFD);
        if (flags < 0 || (flags & FD_CLOEXEC) != 0) continue;
        if (fcntl(fd, F_SETFD, flags | FD_CLOEXEC) != 0) continue;
        napi_set_element(env, result, changed++, make_int(env, fd));
    }
    closedir(dir);
    free(keep);
    return result;
}

/* ---- module ------------------------------------------------------------------------------ */

NAPI_MODULE_INIT()
{
    napi_property_descriptor props[] = {
        {"listenUnix", NULL, listen_unix, NULL, NULL, NULL, napi_enumerable, NULL},
        {"closeFd", NULL, close_fd, NULL, NULL, NULL, napi_enumerable, NULL},
        {"setCloexec", NULL, set_cloexec, NULL, NULL, NULL, napi_enumerable, NULL},
        {"sendFd", NULL, send_fd, NULL, NULL, NULL, napi_enumerable, NULL},
        {"recvFd", NULL, recv_fd, NULL, NULL, NULL, napi_enumerable, NULL},
        {"socketPair", NULL, socket_pair, NULL, NULL, NULL, napi_enumerable, NULL},
        {"markInheritedCloexec", NULL, mark_inherited_cloexec, NULL, NULL, NULL, napi_enumerable, NULL},
        {"spawnProcess", NULL, spawn_process, NULL, NULL, NULL, napi_enumerable, NULL},
        {"watchExit", NULL, watch_exit, NULL, NULL, NULL, napi_enumerable, NULL},
    };

    if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok)
        return NULL;
    return exports;
}
