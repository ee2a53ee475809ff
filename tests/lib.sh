# TAP helpers for the shell integration tests. Source it, call plan N (or
# plan_skip "reason"), then ok/not_ok through `check DESC CMD...`.
KS_BUILDDIR=${KS_BUILDDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
KS_SRCDIR=${KS_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
KS_SHARED=${KS_SHARED:-$KS_SRCDIR/../shared}
INDEXER="$KS_BUILDDIR/kosearch-indexer"
_tap_n=0
plan() { echo "1..$1"; }
plan_skip() { echo "1..0 # SKIP $1"; exit 0; }
ok() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $1"; }
not_ok() { _tap_n=$((_tap_n + 1)); echo "not ok $_tap_n - $1"; }
# check DESC CMD...: ok if CMD exits 0
check() { local d="$1"; shift; if "$@" >/dev/null 2>&1; then ok "$d"; else not_ok "$d"; fi; }
# check_eq DESC WANT GOT
check_eq() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1"; echo "#   want: $2"; echo "#   got:  $3"; fi; }
mk_tmp() { T=$(mktemp -d /tmp/ks-test.XXXXXX); trap 'rm -rf "$T"' EXIT; }
info_docs() { "$INDEXER" info "$1" 2>/dev/null | awk '/^documents:/ {print $2}'; }
