#!/usr/bin/env bash
# Installs the Debian packages kosearch needs to build, test and run.
# Run as root (or through sudo) on Debian bookworm. Safe to run again.
set -euo pipefail
PKGS=(
  build-essential autoconf automake libtool pkg-config   # toolchain
  libxapian-dev libevent-dev libicu-dev                  # engine
  libjansson-dev zlib1g-dev libstreamvbyte-dev           # JSON, gzip input, SIMD integer codec
  libisal-dev                                            # fast CRC-32 for the segment's checksums
  libcmocka-dev clang netcat-openbsd python3             # tests, fuzzing, sample corpus
  libclang-rt-14-dev                                     # libFuzzer (clang only recommends it)
)
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then exec sudo "$0" "$@"; fi
  echo "install-deps.sh: run as root (apt-get install needs it)" >&2
  exit 2
fi
missing=()
for p in "${PKGS[@]}"; do
  [ "$p" = "#" ] && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present" >&2
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done" >&2
