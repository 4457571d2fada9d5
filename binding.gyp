{
  # The one native piece of fcgipm (DESIGN.md "One small native addon"): plain C against
  # node_api.h, built by node-gyp at install from Node's own headers. No nan, no
  # node-addon-api, no bindings package. See docs/native-addon.md.
  "targets": [
    {
      "target_name": "fcgipm_native",
      "sources": ["src/spawn/native/fcgipm_native.c"],
      # N-API 8 is in every Node >= 12.22; the built module keeps working across Node majors.
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
