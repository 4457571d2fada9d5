{
  # The native pieces of fcgipm (DESIGN.md "One small native addon"): plain C, built by
  # node-gyp at install from Node's own headers. No nan, no node-addon-api, no bindings
  # package. See docs/native-addon.md.
  "targets": [
    {
      "target_name": "fcgipm_native",
      "sources": ["src/spawn/native/fcgipm_native.c", "src/spawn/native/fcgipm_spawn.c", "src/spawn/native/fcgipm_common.c"],
      # N-API 8 is in every Node >= 12.22; the built module keeps working across Node majors.
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    },
    {
      # The exec helper (build/Release/fcgipm-exec): rlimits, nice, umask, groups, gid, uid,
      # then execv of the worker in place. A plain program: no Node headers, no libraries.
      "target_name": "fcgipm-exec",
      "type": "executable",
      "sources": ["src/spawn/native/fcgipm_exec.c"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra"]
    }
  ]
}
