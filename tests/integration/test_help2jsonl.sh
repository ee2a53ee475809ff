#!/usr/bin/env bash
# TAP test for scripts/help2jsonl.py on the small fixture in
# tests/data/help-fixture (three pages: one normal Korean page full of
# things that must be skipped, one with too few Hangul syllables, one
# without div#DisplayArea). Failures are reported as "not ok" lines; the
# script itself exits 0 so the TAP harness does the counting.
# The helpers below are only called through check():
# shellcheck disable=SC2317
set -u

srcdir=${KS_SRCDIR:-$(dirname "$0")/../..}
script=$srcdir/scripts/help2jsonl.py
fixture=$srcdir/tests/data/help-fixture

work=$(mktemp -d "${TMPDIR:-/tmp}/test_help2jsonl.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
out=$work/out.jsonl
err=$work/stderr

n=0
check() { # check DESCRIPTION COMMAND...
	local desc=$1
	shift
	n=$((n + 1))
	if "$@" >/dev/null 2>&1; then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc"
	fi
}

# py CODE: run python3 with the output file as sys.argv[1]; the code
# must raise (e.g. via assert) to fail.
py() {
	python3 -c "
import json, sys, unicodedata
lines = open(sys.argv[1], encoding='utf-8').read().split('\n')
assert lines[-1] == '', 'output does not end with a newline'
lines = lines[:-1]
docs = [json.loads(l) for l in lines]
$1
" "$out"
}
absent() { ! grep -q -- "$1" "$out"; }

NORMAL_ID='libreoffice-help-ko:text/shared/guide/normal.html'
NORMAL_URL='file:///usr/share/libreoffice/help/ko/text/shared/guide/normal.html'

echo "1..26"

rc=0
python3 "$script" "$fixture" "$out" 2>"$err" || rc=$?
check "help2jsonl.py exits 0 on the fixture" test "$rc" -eq 0
[ -f "$out" ] || : >"$out"

check "output has exactly 1 line" test "$(wc -l <"$out")" -eq 1
check "every line is a JSON object with string id, title, body, url" py '
for d in docs:
    assert isinstance(d, dict)
    assert sorted(d) == ["body", "id", "title", "url"], sorted(d)
    assert all(isinstance(v, str) for v in d.values())
'
check "JSON is written with ensure_ascii=False (raw Hangul, no \\u escapes)" \
	grep -q '"title": "문서 저장하기"' "$out"
check "id of the normal page" py "assert docs[0]['id'] == '$NORMAL_ID', docs[0]['id']"
check "url of the normal page" py "assert docs[0]['url'] == '$NORMAL_URL', docs[0]['url']"
check "title is the <title> text with whitespace collapsed" \
	py "assert docs[0]['title'] == '문서 저장하기', repr(docs[0]['title'])"
check "body keeps the paragraph text, inline spans joined" \
	py "assert '문서를 저장하려면 파일 - 저장 메뉴를 선택합니다.' in docs[0]['body'].split('\n')"
check "body: <br> breaks a line, whitespace collapsed, entities decoded" \
	py "assert '새 줄에서 계속되는 & 설명입니다.' in docs[0]['body'].split('\n')"
check "body: unclosed <li> and zero-width space handled" py "
b = docs[0]['body'].split('\n')
assert '첫째 항목은 문서의 이름을 정합니다' in b
assert '둘째 항목은 파일 형식을 고릅니다' in b
"
check "body: <pre> lines kept as separate trimmed lines" py "
b = docs[0]['body'].split('\n')
i = b.index('첫 줄 코드')
assert b[i + 1] == '둘째 줄 코드'
"
check "body is NFC-normalised (decomposed jamo recomposed)" py "
b = docs[0]['body']
assert '자모로 분해된 한국어 문장입니다.' in b.split('\n')
assert not any('\u1100' <= c <= '\u11ff' for c in b)
"
check "body has no empty or untrimmed lines and no invisible characters" py "
for d in docs:
    for l in d['body'].split('\n'):
        assert l and l == l.strip() and '  ' not in l, repr(l)
    for c in '\u00ad\u200b\u200c\u200d\u2060\ufeff':
        assert c not in d['body'] and c not in d['title']
"
check "body ends with the last paragraph after a stray end tag" \
	py "assert docs[0]['body'].split('\n')[-1] == '마지막 문단입니다.'"
check "hidden elements (hidden attribute, class hidden) are skipped" sh -c "
	! grep -q -e HIDDENMACTEXT -e HIDDENATTRDIVTEXT \
		-e HIDDENCLASSTEXT '$out'"
check "the default alternative of a switch is kept (what a reader sees)" \
	grep -q HIDDENDEFAULTTEXT "$out"
check "class=\"bug\" elements are skipped" sh -c "
	! grep -q -e BUGTEXT -e BUGDIVTEXT -e \"You found a bug\" '$out'"
check "script text (head and body) is absent" sh -c "
	! grep -q -e HEADSCRIPTTEXT -e BODYSCRIPTTEXT -e document.write '$out'"
check "navigation, img alt, input value outside the text are absent" sh -c "
	! grep -q -e NAVHEADERTEXT -e NAVBUTTONTEXT -e INDEXLABELTEXT \
		-e IMGALTTEXT -e INPUTVALUETEXT '$out'"
check "DEBUG footer, SearchFrame and DonationFrame outside the text are absent" sh -c "
	! grep -q -e DEBUGINFOTEXT -e 'This page is' -e SEARCHFRAMETEXT \
		-e DONATIONTEXT '$out'"
check "ids DEBUG, SearchFrame, DonationFrame are skipped inside the text" sh -c "
	! grep -q -e DEBUGIDTEXT -e INNERSEARCHTEXT -e INNERDONATEIDTEXT '$out'"
check "footer inside the text is skipped" absent INNERFOOTERTEXT
check "style, noscript, button, svg, object, iframe, map are skipped" sh -c "
	! grep -q -e STYLETEXT -e NOSCRIPTTEXT -e BUTTONTEXT -e SVGTEXT \
		-e OBJECTTEXT -e IFRAMETEXT -e MAPTEXT '$out'"
check "page with fewer than 40 Hangul syllables is dropped" absent 'short.html'
check "page without div#DisplayArea is dropped" absent 'nodisplay.html'
check "stderr summary: 3 seen, 1 written, 1 without DisplayArea, 1 too short" sh -c "
	grep -q 'pages seen: 3' '$err' &&
	grep -q 'written: 1' '$err' &&
	grep -q 'no div#DisplayArea: 1' '$err' &&
	grep -q 'fewer than 40 Hangul syllables: 1' '$err'"

exit 0
