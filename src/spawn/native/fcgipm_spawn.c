/*
 * fcgipm_native: spawnProcess and watchExit (see fcgipm_native.c for the whole list).
 */
#include "fcgipm_common.h"
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- spawnProcess ------------------------------------------------------------------------ */

/*
 * Why not child_process.spawn: libuv forks, and fork copies the parent's page tables, so a
 * spawn blocks Node's event loop for a time that grows with the manager's memory (3.9 ms at
 * 44 MiB of RSS, 26.7 ms at 1.1 GiB here; nodejs/node#14917). glibc's posix_spawn clones with
 * CLONE_VM|CLONE_VFORK: nothing is copied, and the caller waits only until the child has
 * exec'd. The child gets what libuv gives it: every signal at its default disposition and
 * none blocked, the given cwd, a new session when asked, fd 0 = stdinFd, fd 1 and 2 = the
 * write ends of two pipes whose read ends are returned (close-on-exec, blocking: the caller
 * hands them to a net.Socket, which makes them non-blocking). Every other descriptor of this
 * process is close-on-exec already (Node opens them so, and so does this addon). An exec
 * failure (ENOENT, EACCES, ENOEXEC, a missing cwd) is thrown as "posix_spawn <file>".
 */

/* Frees a NULL-terminated array of strings made by get_string_array. */
static void free_strings(char **list)
{
    char **p;

    if (list == NULL) return;
    for (p = list; *p != NULL; p++) free(*p);
    free(list);
}

/* A JS array of strings -> a malloc'd NULL-terminated char*[]; NULL (and a JS error) on failure. */
static char **get_string_array(napi_env env, napi_value value, const char *what)
{
    bool is_array = false;
    uint32_t n = 0, i;
    char **list;
    char message[96];

    if (napi_is_array(env, value, &is_array) != napi_ok || !is_array ||
        napi_get_array_length(env, value, &n) != napi_ok) {
        snprintf(message, sizeof message, "%s must be an array of strings", what);
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
        return NULL;
    }
    list = calloc((size_t)n + 1, sizeof *list);
    if (list == NULL) {
        throw_errno(env, "spawnProcess", NULL, ENOMEM);
        return NULL;
    }
    for (i = 0; i < n; i++) {
        napi_value element;
        size_t len = 0;

        if (napi_get_element(env, value, i, &element) != napi_ok ||
            napi_get_value_string_utf8(env, element, NULL, 0, &len) != napi_ok) {
            snprintf(message, sizeof message, "%s must be an array of strings", what);
            napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
            free_strings(list);
            return NULL;
        }
        list[i] = malloc(len + 1);
        if (list[i] == NULL) {
            free_strings(list);
            throw_errno(env, "spawnProcess", NULL, ENOMEM);
            return NULL;
        }
        napi_get_value_string_utf8(env, element, list[i], len + 1, &len);
        if (strlen(list[i]) != len) {
            snprintf(message, sizeof message, "%s must not contain NUL bytes", what);
            napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", message);
            free_strings(list);
            return NULL;
        }
    }
    return list;
}

/* A pipe whose both ends are close-on-exec and above fd 2, so that no dup2 onto 0-2 clobbers it. */
static int pipe_above_stdio(int fds[2])
{
    int i;

    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    for (i = 0; i < 2; i++) {
        if (fds[i] <= 2) {
            int moved = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
            int err = errno;

            close(fds[i]);
            if (moved < 0) {
                close(fds[1 - i]);
                errno = err;
                return -1;
            }
            fds[i] = moved;
        }
    }
    return 0;
}

napi_value spawn_process(napi_env env, napi_callback_info info)
{
    napi_value argv[6], result;
    char **args = NULL, **envp = NULL;
    char file[PATH_MAX], cwd[PATH_MAX];
    size_t len = 0;
    int stdin_fd, out[2] = {-1, -1}, err_pipe[2] = {-1, -1}, rc, flags;
    bool new_session = false;
    pid_t pid;
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    sigset_t all, none;

    if (!get_args(env, info, 6, argv)) return NULL;
    if (napi_get_value_string_utf8(env, argv[0], file, sizeof file, &len) != napi_ok || len == 0 || len >= sizeof file - 1) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "file must be a non-empty path shorter than PATH_MAX");
        return NULL;
    }
    if (napi_get_value_string_utf8(env, argv[3], cwd, sizeof cwd, &len) != napi_ok || len == 0 || len >= sizeof cwd - 1) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "cwd must be a non-empty path shorter than PATH_MAX");
        return NULL;
    }
    if (!get_int(env, argv[4], "stdinFd", 0, &stdin_fd)) return NULL;
    if (napi_get_value_bool(env, argv[5], &new_session) != napi_ok) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "newSession must be a boolean");
        return NULL;
    }
    args = get_string_array(env, argv[1], "argv");
    if (args == NULL) return NULL;
    envp = get_string_array(env, argv[2], "env");
    if (envp == NULL) {
        free_strings(args);
        return NULL;
    }
    if (pipe_above_stdio(out) != 0 || pipe_above_stdio(err_pipe) != 0) {
        int e = errno;

        if (out[0] >= 0) {
            close(out[0]);
            close(out[1]);
        }
        free_strings(args);
        free_strings(envp);
        return throw_errno(env, "pipe2", NULL, e);
    }

    sigfillset(&all);
    sigemptyset(&none);
    flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | (new_session ? POSIX_SPAWN_SETSID : 0);
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, (short)flags);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    /* dup2 onto the same number clears close-on-exec (glibc >= 2.29), so stdin_fd 0 works too. */
    posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
    posix_spawn_file_actions_addchdir_np(&actions, cwd);

    rc = posix_spawn(&pid, file, &actions, &attr, args, envp);

    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    free_strings(args);
    free_strings(envp);
    close(out[1]);
    close(err_pipe[1]);
    if (rc != 0) {
        close(out[0]);
        close(err_pipe[0]);
        return throw_errno(env, "posix_spawn", file, rc);
    }
    if (napi_create_object(env, &result) != napi_ok ||
        napi_set_named_property(env, result, "pid", make_int(env, (int)pid)) != napi_ok ||
        napi_set_named_property(env, result, "stdout", make_int(env, out[0])) != napi_ok ||
        napi_set_named_property(env, result, "stderr", make_int(env, err_pipe[0])) != napi_ok) {
        /* The child runs; without its pid the caller cannot reap it. Leave the pipes to it. */
        return NULL;
    }
    return result;
}

/* ---- watchExit -------------------------------------------------------------------------- */

/*
 * A spawned child is reaped when its pidfd becomes readable (Linux >= 5.3), polled on Node's
 * own libuv loop: no SIGCHLD handler (which a vm sandbox such as jest's cannot install on the
 * real process), no thread, no timer. waitpid(pid) is per pid, so Node's own children are
 * never taken. The callback runs in the same loop callback as the waitpid, so JavaScript
 * learns of the exit before anything else can see the pid gone from /proc. The poll handle
 * keeps the loop alive while the child runs, as a ChildProcess does.
 */

typedef struct {
    uv_poll_t poll;
    int pidfd;
    pid_t pid;
    napi_env env;
    napi_ref callback;
    napi_async_context async;
} exit_watch;

static void exit_watch_closed(uv_handle_t *handle)
{
    exit_watch *w = handle->data;

    close(w->pidfd);
    free(w);
}

/* callback({code, signal}); code -1 and signal 0 become null. An exception is uncaught. */
static void exit_call_js(exit_watch *w, int code, int signal)
{
    napi_env env = w->env;
    napi_handle_scope scope;
    napi_value callback, recv, result, value, error;
    bool pending = false;

    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    if (napi_get_reference_value(env, w->callback, &callback) == napi_ok && callback != NULL &&
        napi_get_global(env, &recv) == napi_ok && napi_create_object(env, &result) == napi_ok) {
        if (code >= 0) value = make_int(env, code);
        else napi_get_null(env, &value);
        napi_set_named_property(env, result, "code", value);
        if (signal > 0) value = make_int(env, signal);
        else napi_get_null(env, &value);
        napi_set_named_property(env, result, "signal", value);
        /* MakeCallback (its receiver must be an object: the global): nextTick and microtask
         * queues run after it, as for any I/O callback. */
        napi_make_callback(env, w->async, recv, callback, 1, &result, NULL);
        if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
            napi_get_and_clear_last_exception(env, &error) == napi_ok)
            napi_fatal_exception(env, error);
    }
    napi_close_handle_scope(env, scope);
}

static void exit_readable(uv_poll_t *handle, int status, int events)
{
    exit_watch *w = handle->data;
    int wstatus = 0, code = -1, signal = 0;
    pid_t got;

    do {
        got = waitpid(w->pid, &wstatus, WNOHANG);
    } while (got < 0 && errno == EINTR);
    if (got == 0) return; /* not yet: a spurious wakeup */
    if (got > 0 && WIFEXITED(wstatus)) code = WEXITSTATUS(wstatus);
    else if (got > 0 && WIFSIGNALED(wstatus)) signal = WTERMSIG(wstatus);
    /* got < 0 (ECHILD): someone else reaped it; code and signal stay unknown. */
    uv_poll_stop(handle);
    uv_close((uv_handle_t *)handle, exit_watch_closed);
    exit_call_js(w, code, signal);
    napi_delete_reference(w->env, w->callback);
    napi_async_destroy(w->env, w->async);
}

napi_value watch_exit(napi_env env, napi_callback_info info)
{
    napi_value argv[2], name, resource;
    napi_valuetype type;
    uv_loop_t *loop = NULL;
    exit_watch *w;
    int pid, pidfd, rc;

    if (!get_args(env, info, 2, argv) || !get_int(env, argv[0], "pid", 1, &pid)) return NULL;
    if (napi_typeof(env, argv[1], &type) != napi_ok || type != napi_function) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "callback must be a function");
        return NULL;
    }
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == NULL) return throw_errno(env, "watchExit", NULL, ENOSYS);
    pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0); /* close-on-exec by definition */
    if (pidfd < 0) return throw_errno(env, "pidfd_open", NULL, errno);
    w = calloc(1, sizeof *w);
    if (w == NULL) {
        close(pidfd);
        return throw_errno(env, "watchExit", NULL, ENOMEM);
    }
    w->pidfd = pidfd;
    w->pid = (pid_t)pid;
    w->env = env;
    w->poll.data = w;
    if (napi_create_string_utf8(env, "fcgipm.watchExit", NAPI_AUTO_LENGTH, &name) != napi_ok ||
        napi_create_reference(env, argv[1], 1, &w->callback) != napi_ok) {
        close(pidfd);
        free(w);
        return NULL;
    }
    if (napi_create_object(env, &resource) != napi_ok || napi_async_init(env, resource, name, &w->async) != napi_ok) {
        napi_delete_reference(env, w->callback);
        close(pidfd);
        free(w);
        return NULL;
    }
    rc = uv_poll_init(loop, &w->poll, pidfd);
    if (rc != 0) {
        napi_delete_reference(env, w->callback);
        napi_async_destroy(env, w->async);
        close(pidfd);
        free(w);
        return throw_errno(env, "uv_poll_init", NULL, -rc);
    }
    rc = uv_poll_start(&w->poll, UV_READABLE, exit_readable);
    if (rc != 0) {
        napi_delete_reference(env, w->callback);
        napi_async_destroy(env, w->async);
        uv_close((uv_handle_t *)&w->poll, exit_watch_closed);
        return throw_errno(env, "uv_poll_start", NULL, -rc);
    }
    return make_undefined(env);
}
