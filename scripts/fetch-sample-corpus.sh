#!/usr/bin/env bash
# Build the project's own sample Korean corpus from Debian's
# libreoffice-help-ko package (the Korean LibreOffice help pages).
#
#   scripts/fetch-sample-corpus.sh [--force] [OUTDIR]
#
# OUTDIR defaults to data/sample under the repository root. The result is
# OUTDIR/libreoffice-help-ko.jsonl, one JSON document per line (see
# scripts/help2jsonl.py). data/ is git-ignored: never commit it.
set -euo pipefail

PKG=libreoffice-help-ko
prog=${0##*/}

usage() {
	cat <<EOF
usage: $prog [--force] [OUTDIR]

Download Debian's $PKG package with 'apt-get download',
unpack it with dpkg-deb and convert its Korean help pages into a JSONL
corpus:

  OUTDIR/debs/                 the downloaded .deb
  OUTDIR/x/                    the unpacked package
  OUTDIR/$PKG.jsonl   the corpus, one {"id","title","body","url"} per line

OUTDIR defaults to data/sample in the repository root.
If the .jsonl already exists and is not empty, its path is printed and
nothing is done, unless --force is given.

  --force     rebuild the corpus even if it exists
  -h, --help  show this help
EOF
}

die() {
	echo "$prog: error: $*" >&2
	exit 1
}

force=0
outdir=
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--force) force=1 ;;
	--) shift; [ $# -gt 0 ] && outdir=$1; break ;;
	-*) usage >&2; die "unknown option: $1" ;;
	*)
		[ -z "$outdir" ] || { usage >&2; die "only one OUTDIR may be given"; }
		outdir=$1
		;;
	esac
	shift
done

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)
outdir=${outdir:-$repo_root/data/sample}

out=$outdir/$PKG.jsonl
if [ "$force" -eq 0 ] && [ -s "$out" ]; then
	echo "$out"
	exit 0
fi

for tool in apt-get dpkg-deb python3; do
	command -v "$tool" >/dev/null 2>&1 || die "'$tool' is needed but not installed"
done

mkdir -p "$outdir/debs"
outdir=$(cd "$outdir" && pwd)
out=$outdir/$PKG.jsonl
debs=$outdir/debs
x=$outdir/x

start=$(date +%s)

# Temporary files live in OUTDIR so the final rename stays on one file
# system; they are removed if the run stops early.
tmp_out=
tmp_x=
tmp_dl=
cleanup() {
	[ -z "$tmp_dl" ] || rm -rf -- "$tmp_dl"
	[ -z "$tmp_out" ] || rm -f -- "$tmp_out"
	[ -z "$tmp_x" ] || rm -rf -- "$tmp_x"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

download() {
	# apt-get download writes into the current directory. Its progress
	# goes to stderr: stdout carries only the corpus path.
	(cd "$tmp_dl" && apt-get download "$PKG") >&2
}

# Download into a fresh directory so an older .deb is only replaced once
# a new one has arrived.
echo "$prog: downloading $PKG into $debs" >&2
tmp_dl=$(mktemp -d "$debs/.download.XXXXXX")
if ! download; then
	echo "$prog: 'apt-get download' failed; running 'apt-get update' once and retrying" >&2
	apt-get update >&2 || die "'apt-get update' failed (are you root, and can this machine reach the Debian mirror?)"
	download || die "could not download $PKG with 'apt-get download' even after 'apt-get update'"
fi

deb=
for f in "$tmp_dl"/"$PKG"_*.deb; do
	[ -f "$f" ] && deb=$f
done
[ -n "$deb" ] || die "'apt-get download' reported success but left no $PKG .deb"
rm -f -- "$debs"/"$PKG"_*.deb
mv -- "$deb" "$debs/"
deb=$debs/${deb##*/}
rm -rf -- "$tmp_dl"
tmp_dl=

echo "$prog: unpacking $(basename "$deb") into $x" >&2
tmp_x=$(mktemp -d "$outdir/.x.XXXXXX")
chmod 755 "$tmp_x"
dpkg-deb -x "$deb" "$tmp_x" || die "dpkg-deb -x failed on $deb"
rm -rf -- "$x"
mv -- "$tmp_x" "$x"
tmp_x=

echo "$prog: converting help pages to JSONL" >&2
tmp_out=$(mktemp "$outdir/.$PKG.jsonl.XXXXXX")
python3 "$script_dir/help2jsonl.py" "$x" "$tmp_out" || die "help2jsonl.py failed"
[ -s "$tmp_out" ] || die "help2jsonl.py wrote no documents"
chmod 644 "$tmp_out"
mv -f -- "$tmp_out" "$out"
tmp_out=

docs=$(wc -l <"$out")
end=$(date +%s)
echo "$prog: $docs documents in $out ($((end - start)) s)" >&2
echo "$out"
