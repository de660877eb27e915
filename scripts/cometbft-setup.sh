#!/usr/bin/env bash
# Installs CometBFT (the consensus engine of the orchestration log's replicated
# mode, docs/ledger.md) with `go install` from the Go module proxy, into a cache
# outside the repository, so only the first run on a machine pays.
#
# Cache ($ESFC_TOOLS_CACHE, default /var/cache/esfc-tools), read by controller/abci/cometbft-node.ts:
#   cometbft-v0.38.26/bin/cometbft   the binary
#   gomod/ gocache/                  Go's module and build caches (a rerun or another version reuses them)
#   cometbft-current                 one line: the binary's path
#
# v0.38.x because that is the ABCI 2.0 line whose wire protocol controller/abci/ speaks
# (package tendermint.abci); v1.x renamed the package, which a different client would need.
set -euo pipefail

VERSION=v0.38.26
GO_MIN=1.22.11 # the `go` line of github.com/cometbft/cometbft@v0.38.26's go.mod
CACHE=${ESFC_TOOLS_CACHE:-/var/cache/esfc-tools}
PREFIX="$CACHE/cometbft-$VERSION"
BIN="$PREFIX/bin/cometbft"

step() { printf '[cometbft-setup] %s\n' "$*"; }
die() { printf '[cometbft-setup] ERROR: %s\n' "$*" >&2; exit 1; }
t0=$(date +%s)
elapsed() { echo "$(( $(date +%s) - t0 ))s"; }

# `cometbft version` prints e.g. "0.38.26" (no leading v).
installed_ok() { [ -x "$BIN" ] && [ "$("$BIN" version 2>/dev/null)" = "${VERSION#v}" ]; }

mkdir -p "$CACHE"
exec 9> "$CACHE/.cometbft.lock"
if ! flock -n 9; then
  step "another cometbft-setup is running; waiting for it (lock $CACHE/.cometbft.lock)"
  flock 9
fi

if installed_ok; then
  step "cometbft $VERSION present ($BIN) [$(elapsed)]"
else
  # Go's own tarball installs to /usr/local/go, which a root shell's PATH often lacks.
  if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then export PATH="$PATH:/usr/local/go/bin"; fi
  command -v go >/dev/null || die "go is not on PATH (PATH=$PATH).
CometBFT $VERSION is built from source and needs Go >= $GO_MIN: install it (https://go.dev/dl/, or Debian's golang-go if new enough) and run this script again."
  gov=$(go env GOVERSION 2>/dev/null || true)
  gov=${gov#go}
  # sort -V orders 1.22.11 < 1.26.0; a plain "1.26" (no patch) sorts fine too.
  if [ -z "$gov" ] || [ "$(printf '%s\n%s\n' "$GO_MIN" "$gov" | sort -V | head -1)" != "$GO_MIN" ]; then
    die "go ${gov:-(unknown version)} at $(command -v go) is older than $GO_MIN, which cometbft $VERSION needs. Install a newer Go and run this script again."
  fi
  step "go $gov at $(command -v go); go install github.com/cometbft/cometbft/cmd/cometbft@$VERSION into $PREFIX/bin"
  mkdir -p "$PREFIX/bin" "$CACHE/gomod" "$CACHE/gocache"
  # GOTOOLCHAIN=local: never let the go command fetch another toolchain behind our back.
  # GOFLAGS=-modcacherw: the module cache stays deletable by rm -rf.
  GOBIN="$PREFIX/bin" GOMODCACHE="$CACHE/gomod" GOCACHE="$CACHE/gocache" GOTOOLCHAIN=local GOFLAGS=-modcacherw \
    go install "github.com/cometbft/cometbft/cmd/cometbft@$VERSION"
  installed_ok || die "$BIN was built but \`cometbft version\` printed '$("$BIN" version 2>&1 || true)', not ${VERSION#v}"
  step "cometbft $VERSION built [$(elapsed)]"
fi

# Written through a temp file so a reader never sees half a line.
printf '%s\n' "$BIN" > "$CACHE/cometbft-current.tmp"
mv "$CACHE/cometbft-current.tmp" "$CACHE/cometbft-current"
step "$CACHE/cometbft-current -> $BIN; done [$(elapsed)]"
