# Sourced by p4-setup.sh and p4c-build.sh: where the pinned sources come from.
# fetch_source NAME COMMIT DEST unpacks NAME at COMMIT into DEST, from an archive
# NAME-<COMMIT or tag>.tar.gz or NAME-<7 hex>.tar.gz (checked against SHA256SUMS) in $ESFC_P4_SRC, or, with
# ESFC_P4_SRC=git, from github.com/<owner>/NAME at COMMIT (with its submodules).
if [ -z "${ESFC_P4_SRC:-}" ]; then
  for d in "$PWD/../shared/p4/src" /work/shared/p4/src; do
    [ -f "$d/SHA256SUMS" ] && { ESFC_P4_SRC=$(cd "$d" && pwd); break; }
  done
fi
[ -n "${ESFC_P4_SRC:-}" ] || die "no P4 source archives found (looked in ../shared/p4/src and /work/shared/p4/src).
Fix: ESFC_P4_SRC=<directory with PI-f96af95.tar.gz, behavioral-model-9674187.tar.gz, ...> or ESFC_P4_SRC=git (clones github.com at the same commits)"

fetch_source() {
  local name=$1 commit=$2 dest=$3 owner=p4lang archive
  case "$name" in abseil-cpp) owner=abseil ;; protobuf) owner=protocolbuffers ;; esac
  mkdir -p "$dest"
  if [ "$ESFC_P4_SRC" = git ]; then
    git clone -q "https://github.com/$owner/$name.git" "$dest" \
      && git -C "$dest" checkout -q "$commit" \
      && git -C "$dest" submodule -q update --init --recursive \
      || die "git clone of $owner/$name at $commit failed"
    return
  fi
  archive="$ESFC_P4_SRC/$name-$commit.tar.gz"
  [ -f "$archive" ] || archive="$ESFC_P4_SRC/$name-${commit:0:7}.tar.gz"
  [ -f "$archive" ] || die "$name: no archive $ESFC_P4_SRC/$name-${commit:0:7}.tar.gz (fix: ESFC_P4_SRC=git, or put the archive there)"
  ( cd "$ESFC_P4_SRC" && grep " $(basename "$archive")\$" SHA256SUMS | sha256sum -c --quiet - ) \
    || die "$archive does not match its SHA256SUMS line"
  tar -xzf "$archive" -C "$dest" --strip-components=1
}
