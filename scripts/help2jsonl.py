#!/usr/bin/env python3
"""Turn an unpacked libreoffice-help-ko package into a JSONL corpus.

Usage: help2jsonl.py ROOT OUT

ROOT is the directory the .deb was unpacked into (it contains usr/).
OUT is the JSONL file to write (one document per line):

    {"id": "libreoffice-help-ko:<rel>", "title": ..., "body": ...,
     "url": "file:///usr/share/libreoffice/help/ko/<rel>"}

<rel> is the page path relative to usr/share/libreoffice/help/ko/.
Only the text inside div#DisplayArea is kept; navigation, debug info,
hidden switch variants, "bug" placeholders and scripts are skipped.
Standard library only.
"""

import json
import re
import sys
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

HELP_PREFIX = Path("usr/share/libreoffice/help/ko")
ID_PREFIX = "libreoffice-help-ko:"
URL_PREFIX = "file:///usr/share/libreoffice/help/ko/"
MIN_HANGUL = 40

# Elements whose whole content is dropped.
SKIP_TAGS = frozenset("""
    script style noscript head title img input button svg object iframe map
    footer
""".split())
SKIP_IDS = frozenset(["DEBUG", "SearchFrame", "DonationFrame"])
SKIP_CLASSES = frozenset(["bug", "hidden"])

# Elements that never have content or an end tag; they are not pushed.
VOID_TAGS = frozenset("""
    area base br col embed hr img input link meta param source track wbr
""".split())

# Elements that start and end a line of output text.
BLOCK_TAGS = frozenset("""
    p div h1 h2 h3 h4 h5 h6 li dt dd tr td th pre br table section ul ol
    blockquote
""".split())

HEADING_TAGS = frozenset(["h1", "h2"])

# Characters removed from title and body after NFC normalisation.
INVISIBLE_RE = re.compile("[\u00ad\u200b\u200c\u200d\u2060\ufeff]")
SPACE_RE = re.compile(r"\s+")
HANGUL_RE = re.compile("[\uac00-\ud7a3]")


def clean_line(text):
    """NFC, drop invisible characters, collapse whitespace, trim."""
    text = unicodedata.normalize("NFC", text)
    text = INVISIBLE_RE.sub("", text)
    return SPACE_RE.sub(" ", text).strip()


class _Frame:
    __slots__ = ("tag", "skip", "display", "pre", "heading")

    def __init__(self, tag, skip, display, pre, heading):
        self.tag = tag
        self.skip = skip          # this element or an ancestor is skipped
        self.display = display    # inside div#DisplayArea
        self.pre = pre            # inside <pre>: newlines are line breaks
        self.heading = heading    # this element is an h1/h2


class HelpPageParser(HTMLParser):
    """Collects the <title> text and the visible text of div#DisplayArea."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []
        self.lines = []          # finished raw lines of body text
        self.cur = []            # pieces of the line being built
        self.title_parts = []
        self.in_title = 0        # depth of open <title> elements
        self.title_done = False
        self.heading_parts = None  # collecting the first h1/h2, or None
        self.first_heading = ""
        self.has_display_area = False

    # -- state of the innermost open element --------------------------------
    def _top(self):
        if self.stack:
            return self.stack[-1]
        return _Frame("#root", False, False, False, False)

    def _break(self):
        if self.cur:
            self.lines.append("".join(self.cur))
            self.cur = []

    def _emitting(self):
        top = self._top()
        return top.display and not top.skip

    # -- HTMLParser callbacks ----------------------------------------------
    def handle_starttag(self, tag, attrs):
        tag = tag.lower()
        attrd = {}
        for name, value in attrs:
            attrd.setdefault(name.lower(), value if value is not None else "")
        classes = attrd.get("class", "").split()
        parent = self._top()

        skip = (parent.skip
                or tag in SKIP_TAGS
                # LibreOffice marks every alternative of a platform switch
                # hidden and lets a script show one; the one whose id starts
                # with "default" is what a reader sees, so it is kept.
                or ("hidden" in attrd
                    and not attrd.get("id", "").startswith("default"))
                or attrd.get("id") in SKIP_IDS
                or any(c in SKIP_CLASSES for c in classes))

        if tag in BLOCK_TAGS and parent.display and not skip:
            self._break()

        if tag in VOID_TAGS:
            return

        is_display = tag == "div" and attrd.get("id") == "DisplayArea"
        if is_display:
            self.has_display_area = True
        display = parent.display or is_display
        heading = False
        if (tag in HEADING_TAGS and display and not skip
                and self.heading_parts is None and not self.first_heading):
            self.heading_parts = []
            heading = True
        if tag == "title" and not self.title_done:
            self.in_title += 1
        self.stack.append(_Frame(tag, skip, display,
                                 parent.pre or tag == "pre", heading))

    def handle_endtag(self, tag):
        tag = tag.lower()
        if tag in VOID_TAGS:
            # "</br>" is treated like "<br>" by browsers; others are ignored.
            if tag == "br" and self._emitting():
                self._break()
            return
        # Pop up to the matching open element; ignore a stray end tag.
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i].tag == tag:
                break
        else:
            return
        while len(self.stack) > i:
            frame = self.stack.pop()
            if frame.tag in BLOCK_TAGS and frame.display and not frame.skip:
                self._break()
            if frame.tag == "title" and self.in_title:
                self.in_title -= 1
                if not self.in_title:
                    self.title_done = True
            if frame.heading and self.heading_parts is not None:
                self.first_heading = clean_line("".join(self.heading_parts))
                self.heading_parts = None

    def handle_data(self, data):
        if self.in_title:
            self.title_parts.append(data)
        if not self._emitting():
            return
        if self.heading_parts is not None:
            self.heading_parts.append(data)
        if self._top().pre:
            parts = data.split("\n")
            for n, part in enumerate(parts):
                if n:
                    self._break()
                if part:
                    self.cur.append(part)
        else:
            self.cur.append(data)

    def close(self):
        super().close()
        self._break()
        if self.heading_parts is not None:
            self.first_heading = clean_line("".join(self.heading_parts))
            self.heading_parts = None

    # -- results -------------------------------------------------------------
    def title(self):
        title = clean_line("".join(self.title_parts))
        return title or self.first_heading

    def body(self):
        out = []
        for raw in self.lines:
            line = clean_line(raw)
            if line:
                out.append(line)
        return "\n".join(out)


def hangul_count(text):
    return len(HANGUL_RE.findall(text))


def convert(root, out_path):
    help_dir = Path(root) / HELP_PREFIX
    text_dir = help_dir / "text"
    if not text_dir.is_dir():
        print("help2jsonl: no such directory: %s" % text_dir, file=sys.stderr)
        return 2

    pages = sorted(text_dir.rglob("*.html"), key=lambda p: p.as_posix())
    seen = written = no_display = few_hangul = unreadable = 0
    with open(out_path, "w", encoding="utf-8", newline="\n") as out:
        for page in pages:
            if not page.is_file():
                continue
            seen += 1
            rel = page.relative_to(help_dir).as_posix()
            try:
                html = page.read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                print("help2jsonl: %s: %s" % (page, exc), file=sys.stderr)
                unreadable += 1
                continue
            parser = HelpPageParser()
            parser.feed(html)
            parser.close()
            if not parser.has_display_area:
                no_display += 1
                continue
            body = parser.body()
            if hangul_count(body) < MIN_HANGUL:
                few_hangul += 1
                continue
            doc = {
                "id": ID_PREFIX + rel,
                "title": parser.title(),
                "body": body,
                "url": URL_PREFIX + rel,
            }
            out.write(json.dumps(doc, ensure_ascii=False))
            out.write("\n")
            written += 1

    dropped = no_display + few_hangul + unreadable
    print("help2jsonl: pages seen: %d" % seen, file=sys.stderr)
    print("help2jsonl: written: %d" % written, file=sys.stderr)
    print("help2jsonl: dropped: %d (no div#DisplayArea: %d, fewer than %d "
          "Hangul syllables: %d, unreadable: %d)"
          % (dropped, no_display, MIN_HANGUL, few_hangul, unreadable),
          file=sys.stderr)
    return 0


def main(argv):
    if len(argv) == 2 and argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    if len(argv) != 3:
        print("usage: %s ROOT OUT" % Path(argv[0]).name, file=sys.stderr)
        return 2
    return convert(argv[1], argv[2])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
