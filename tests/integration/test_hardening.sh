#!/usr/bin/env bash
# The installed programs are built hardened (issue "Reliability and
# security"): PIE, full RELRO (BIND_NOW), stack protector and
# _FORTIFY_SOURCE. Reads the ELF files with readelf/nm; skipped when the
# build was configured with --disable-hardening or without the toolchain's
# support (configure decides, KS_HARDEN_* tell the test what it kept).
. "$(dirname "$0")/../lib.sh"
command -v readelf >/dev/null || plan_skip "readelf (binutils) not installed"
[ -n "${KS_HARDEN_LDFLAGS:-}" ] || plan_skip "hardening disabled at configure time"
progs="kosearchd kosearch-indexer kosearch"
plan 12
for p in $progs; do
    # libtool keeps the real executable in .libs/ when it links a shared libkscore
    f="$KS_BUILDDIR/.libs/$p"; [ -f "$f" ] || f="$KS_BUILDDIR/$p"
    check_eq "$p is position-independent (PIE)" yes \
        "$(readelf -dW "$f" | grep -q 'FLAGS_1.*PIE' && echo yes || echo no)"
    check_eq "$p binds now (full RELRO)" yes \
        "$(readelf -dW "$f" | grep -qE 'BIND_NOW|FLAGS.*NOW' && readelf -lW "$f" | grep -q GNU_RELRO && echo yes || echo no)"
    check_eq "$p has the stack protector" yes \
        "$(nm -D "$f" | grep -q '__stack_chk_fail' && echo yes || echo no)"
    case "${KS_HARDEN_CPPFLAGS:-}" in
    *FORTIFY*) check_eq "$p calls fortified (_chk) functions" yes \
        "$(nm -D "$f" | grep -qE ' __[a-z]+_chk(@|$)' && echo yes || echo no)" ;;
    *) ok "$p: _FORTIFY_SOURCE not applied in this build (sanitizers) # SKIP" ;;
    esac
done
