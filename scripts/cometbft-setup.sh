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

# Go's toolchain as a module on the proxy; its zip's SHA-256 is pinned (the checksum database may be unreachable).
GO_FETCH=1.27.3
GO_FETCH_SHA256=af4c06478303fdd1bfb335fab86c7ccb9b12e529044a946a16a1c4bcc779f8d7
GOPROXY_URL=${GOPROXY_URL:-https://proxy.golang.org}

fetch_go() {
  local arch dir zip
  arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
  [ "$arch" = amd64 ] || die "no Go >= $GO_MIN here, and the pinned toolchain is linux-amd64 only (this is $arch): install Go >= $GO_MIN and run this script again"
  dir="$CACHE/go$GO_FETCH"
  if [ ! -x "$dir/bin/go" ]; then
    command -v curl >/dev/null && command -v unzip >/dev/null || die "fetching Go needs curl and unzip (apt-get install curl unzip; scripts/setup.sh installs them)"
    zip="$CACHE/go$GO_FETCH.zip"
    step "no Go >= $GO_MIN here (found: ${gov:-none}): fetching go$GO_FETCH from $GOPROXY_URL (about 76 MB)"
    curl -sSfL --retry 3 -o "$zip.tmp" "$GOPROXY_URL/golang.org/toolchain/@v/v0.0.1-go$GO_FETCH.linux-$arch.zip" || die "could not fetch go$GO_FETCH from $GOPROXY_URL"
    echo "$GO_FETCH_SHA256  $zip.tmp" | sha256sum -c --quiet - || { rm -f "$zip.tmp"; die "go$GO_FETCH from $GOPROXY_URL does not match its pinned SHA-256"; }
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    unzip -q "$zip.tmp" -d "$dir.tmp"
    # A module zip keeps no file modes: the go command marks bin/ and pkg/tool/ executable when it unpacks a toolchain, so do we.
    mv "$dir.tmp/golang.org/toolchain@v0.0.1-go$GO_FETCH.linux-$arch" "$dir"
    chmod -R a+x "$dir/bin" "$dir/pkg/tool"
    rm -rf "$dir.tmp" "$zip.tmp"
  fi
  export PATH="$dir/bin:$PATH"
  step "using go$GO_FETCH from $dir"
}

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
  gov=$(go env GOVERSION 2>/dev/null || true)
  gov=${gov#go}
  # sort -V orders 1.22.11 < 1.26.0; a plain "1.26" (no patch) sorts fine too.
  if [ -z "$gov" ] || [ "$(printf '%s\n%s\n' "$GO_MIN" "$gov" | sort -V | head -1)" != "$GO_MIN" ]; then
    # Debian 12's golang is 1.19 and go.dev cannot be assumed reachable: take Go's own
    # toolchain from the Go module proxy (the module the go command itself switches to),
    # checked against a pinned SHA-256, into the cache.
    fetch_go
    gov=$(go env GOVERSION); gov=${gov#go}
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
