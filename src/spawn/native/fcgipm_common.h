/*
 * What the addon's C files share: the errno-style error they throw and the argument helpers.
 * Each helper that fails has thrown a JS error and returns 0 / NULL.
 */
#ifndef FCGIPM_NATIVE_COMMON_H
#define FCGIPM_NATIVE_COMMON_H

#include <node_api.h>
#include <stddef.h>

/* Throws Error{code: errno name, syscall, errno: -err, path?}; always returns NULL. */
napi_value throw_errno(napi_env env, const char *syscall, const char *path, int err);
int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv);
int get_int(napi_env env, napi_value value, const char *what, int min, int *out);
napi_value make_int(napi_env env, int v);
napi_value make_undefined(napi_env env);

/* fcgipm_spawn.c */
napi_value spawn_process(napi_env env, napi_callback_info info);
napi_value watch_exit(napi_env env, napi_callback_info info);

#endif
