"""HTML-to-text on hostile markup: CPU seconds against input size, per candidate, each run in
its own process with a time limit (html.parser does not finish on some shapes).

Candidates: Deskgate's html_to_text (lxml's HTML parser, SAX-style target, no tree), the
standard library's html.parser (what Deskgate used before), and, when installed in the
running Python, an lxml tree walk, selectolax (lexbor) and resiliparse (lexbor) — those are not
dependencies of Deskgate: `pip install selectolax resiliparse` to include them.
A size-independent figure for a shape means the parser stopped early (and lost the rest).

Run: .venv/bin/python bench/html_to_text.py [--limit 20] [--candidates deskgate,html.parser]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys

SHAPES = {
    "'<a ' repeated": "'<a ' * (n // 3)",
    "'<a>x' repeated": "'<a>x' * (n // 4)",
    "unclosed '<!--'": "'<!--' + 'x' * n",
    "'<!--' repeated": "'<!--' * (n // 4)",
    "'<![CDATA[' repeated": "'<![CDATA[' * (n // 9)",
    "'</' repeated": "'</' * (n // 2)",
    "'<div>' nesting": "'<div>' * (n // 5) + 'x'",
    "cite nesting": "'<blockquote type=\"cite\">' * (n // 24) + 'x'",
    "table nesting": "'<table><tr><td>' * (n // 15)",
    "'<b id=N>' then 100 '<p>'": "''.join(f'<b id={i}>' for i in range(n // 12)) + '<p>x' * 100",
    "unclosed attribute": "'<a href=\"' + 'x' * n",
    "many attributes": "'<a ' + 'b=c ' * (n // 4)",
    "'&amp;' repeated": "'&amp;' * (n // 5)",
    "'&#' repeated": "'&#' * (n // 2)",
    "normal mail HTML": ("('<div dir=\"ltr\">Hello, my order <b>#12345</b> has not arrived.<br>'"
                         " '<p>Thanks &amp; regards</p></div>') * (n // 100)"),
}
CANDIDATES = {
    "deskgate": ("deskgate", "from deskgate.connectors.email_text import html_to_text",
                 "html_to_text(M)"),
    "html.parser": ("html", "from html.parser import HTMLParser",
                    "p = HTMLParser(convert_charrefs=True); p.feed(M); p.close()"),
    "lxml tree": ("lxml", "import lxml.html, lxml.etree",
                  "[0 for _ in lxml.etree.iterwalk(lxml.html.document_fromstring(M or ' '),"
                  " events=('start', 'end'))]"),
    "selectolax": ("selectolax", "from selectolax.lexbor import LexborHTMLParser",
                   "[n.tag for n in LexborHTMLParser(M).root.traverse(include_text=True)]"),
    "resiliparse": ("resiliparse", "from resiliparse.parse.html import HTMLTree\n"
                    "from resiliparse.extract.html2text import extract_plain_text",
                    "extract_plain_text(HTMLTree.parse(M))"),
}
SIZES = [3_000, 12_000, 24_000, 240_000, 2_000_000]


def measure(candidate: str, shape: str, size: int, limit: float) -> str:
    _, setup, body = CANDIDATES[candidate]
    code = (f"import time\n{setup}\nn = {size}\nM = {SHAPES[shape]}\n"
            f"t = time.process_time()\n{body}\nprint(time.process_time() - t)")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        return f">{limit:g} s"
    if out.returncode:
        return "error"
    return f"{float(out.stdout):.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=float, default=20.0,
                    help="seconds one run may take before it is reported as over the limit")
    ap.add_argument("--candidates", default=",".join(CANDIDATES),
                    help="comma-separated subset of: " + ", ".join(CANDIDATES))
    args = ap.parse_args()
    wanted = [c for c in args.candidates.split(",")
              if importlib.util.find_spec(CANDIDATES[c][0]) is not None]
    print(f"CPU seconds by input size (target: linear, 2 MB well under 1 s); limit {args.limit:g} s")
    print(f"{'shape':28} {'candidate':12} " + " ".join(f"{s // 1000:>7} KB" for s in SIZES))
    for shape in SHAPES:
        for candidate in wanted:
            cells: list[str] = []
            for size in SIZES:
                cells.append(measure(candidate, shape, size, args.limit))
                if cells[-1].startswith(">"):
                    break  # a larger input only takes longer
            print(f"{shape:28} {candidate:12} " + " ".join(f"{c:>10}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
