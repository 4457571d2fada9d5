#!/usr/bin/env bash
# Installs fcgipm from this checkout the way a user installs a release: `npm pack` makes the
# tarball (what the registry would serve), `npm install --global --prefix PREFIX` installs it,
# which compiles the native addon and the exec helper on this machine (build-essential and
# python3 needed) and pulls the runtime dependencies only. The result is self-contained:
#
#   PREFIX/bin/fcgipm                    the command
#   PREFIX/lib/node_modules/fcgipm/      the package, with its addon and dependencies
#
# The Dockerfile's build stage runs this script, and test/packaging/npm-pack.test.ts runs it
# too, so what the image ships is what the test installed and served with.
#
# usage: packaging/install-package.sh PREFIX     (dist/ must be built: npm run build)
set -euo pipefail
prefix=${1:?usage: packaging/install-package.sh PREFIX}
cd "$(dirname "$0")/.."
test -f dist/cli/main.js || { echo "install-package: dist/ is not built: run npm run build first" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# --ignore-scripts: "prepare" would rebuild dist/ and the test fixtures, which are not packed.
tarball=$(npm pack --ignore-scripts --silent --pack-destination "$work")
npm install --global --prefix "$prefix" --omit=dev --no-audit --no-fund --prefer-offline --loglevel=error "$work/$tarball"
"$prefix/bin/fcgipm" --version
