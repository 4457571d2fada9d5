/* fcgipm_native's shared pieces: errors and argument helpers (fcgipm_common.h). */
#include "fcgipm_common.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

/* ---- errors ------------------------------------------------------------------------------ */

static const char *errno_name(int err)
{
    switch (err) {
#define NAME(e) \
    case e:     \
        return #e;
        NAME(EPERM) NAME(ENOENT) NAME(ESRCH) NAME(EINTR) NAME(EIO) NAME(ENXIO) NAME(E2BIG)
        NAME(ENOEXEC) NAME(EBADF) NAME(ECHILD) NAME(EAGAIN) NAME(ENOMEM) NAME(EACCES)
        NAME(EFAULT) NAME(EBUSY) NAME(EEXIST) NAME(EXDEV) NAME(ENODEV) NAME(ENOTDIR)
        NAME(EISDIR) NAME(EINVAL) NAME(ENFILE) NAME(EMFILE) NAME(ENOTTY) NAME(ETXTBSY)
        NAME(EFBIG) NAME(ENOSPC) NAME(ESPIPE) NAME(EROFS) NAME(EMLINK) NAME(EPIPE)
        NAME(ERANGE) NAME(ENAMETOOLONG) NAME(ENOSYS) NAME(ELOOP) NAME(ENOTSOCK)
        NAME(EDESTADDRREQ) NAME(EMSGSIZE) NAME(EPROTOTYPE) NAME(ENOPROTOOPT)
        NAME(EPROTONOSUPPORT) NAME(EOPNOTSUPP) NAME(EAFNOSUPPORT) NAME(EADDRINUSE)
        NAME(EADDRNOTAVAIL) NAME(ENETDOWN) NAME(ENETUNREACH) NAME(ECONNABORTED)
        NAME(ECONNRESET) NAME(ENOBUFS) NAME(EISCONN) NAME(ENOTCONN) NAME(ETIMEDOUT)
        NAME(ECONNREFUSED) NAME(EHOSTUNREACH) NAME(EALREADY) NAME(EINPROGRESS) NAME(EDQUOT)
#undef NAME
    default:
        return "EUNKNOWN";
    }
}

/* Throws the errno-style Error described at the top of the file; always returns NULL. */
napi_value throw_errno(napi_env env, const char *syscall, const char *path, int err)
{
    char text[128];
    char message[PATH_MAX + 256];
    napi_value code, msg, error, value;
    const char *name = errno_name(err);

    /* GNU strerror_r: thread-safe, returns the string (maybe not in text). */
    const char *desc = strerror_r(err, text, sizeof text);
    if (path != NULL)
        snprintf(message, sizeof message, "%s %s: %s (%s)", syscall, path, name, desc);
    else
        snprintf(message, sizeof message, "%s: %s (%s)", syscall, name, desc);

    if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code) != napi_ok ||
        napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg) != napi_ok ||
        napi_create_error(env, code, msg, &error) != napi_ok) {
        napi_throw_error(env, name, message);
        return NULL;
    }
    if (napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &value) == napi_ok)
        napi_set_named_property(env, error, "syscall", value);
    if (napi_create_int32(env, -err, &value) == napi_ok)
        napi_set_named_property(env, error, "errno", value);
    if (path != NULL && napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &value) == napi_ok)
        napi_set_named_property(env, error, "path", value);
    napi_throw(env, error);
    return NULL;
}

/* ---- argument helpers (each throws a TypeError / RangeError and returns 0 on failure) ----- */

int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv)
{
    size_t argc = want;

    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return 0;
    if (argc < want) {
        napi_throw_type_error(env, "ERR_MISSING_ARGS", "fcgipm_native: missing arguments");
        return 0;
    }
    return 1;
}

int get_int(napi_env env, napi_value value, const char *what, int min, int *out)
{
    char message[96];

    if (napi_get_value_int32(env, value, out) != napi_ok) {
        snprintf(message, sizeof message, "%s must be a number", what);
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
        return 0;
    }
    if (*out < min) {
        snprintf(message, sizeof message, "%s must be >= %d", what, min);
        napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
        return 0;
    }
    return 1;
}

napi_value make_int(napi_env env, int v)
{
    napi_value out;

    return napi_create_int32(env, v, &out) == napi_ok ? out : NULL;
}

napi_value make_undefined(napi_env env)
{
    napi_value out;

    return napi_get_undefined(env, &out) == napi_ok ? out : NULL;
}

