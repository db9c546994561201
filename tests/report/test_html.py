"""Golden smoke test of the report's HTML: renders a fixed database and
compares the page's outline (element ids, header facts, cards, findings,
table, histograms, and the embedded model with its columns unpacked) with
tests/report/golden/two_threads.json; checks that the page is self-contained
and that its Content-Security-Policy admits exactly its own script.

GILSCOPE_UPDATE_GOLDEN=1 rewrites the golden file (review the diff;
tests/README.md)."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Dict, List, Optional

HERE = Path(__file__).resolve().parent
import reportdb  # noqa: E402

reportdb.import_report()
from gilscope_report import data, render  # noqa: E402
from test_data import lane_data  # noqa: E402

from gstest import check, fail, golden_update  # noqa: E402

GOLDEN = HERE / "golden" / "two_threads.json"
VOID = {"meta", "link", "br", "img", "input", "hr", "col", "area", "base", "source", "wbr"}


class Node:
    def __init__(self, tag: str, attrs: Dict[str, Optional[str]], parent: Optional["Node"]):
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: List[Any] = []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def walk(self):
        yield self
        for c in self.children:
            if isinstance(c, Node):
                yield from c.walk()

    def find_all(self, tag: Optional[str] = None, cls: Optional[str] = None, id_: Optional[str] = None) -> List["Node"]:
        return [n for n in self.walk() if (tag is None or n.tag == tag)
                and (cls is None or cls in (n.attrs.get("class") or "").split())
                and (id_ is None or n.attrs.get("id") == id_)]


class Tree(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, None)
        self.cur = self.root
        self.doctype = None

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag, attrs) -> None:
        n = Node(tag, dict(attrs), self.cur)
        self.cur.children.append(n)
        if tag not in VOID:
            self.cur = n

    def handle_startendtag(self, tag, attrs) -> None:
        self.cur.children.append(Node(tag, dict(attrs), self.cur))

    def handle_endtag(self, tag) -> None:
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is None:
            fail(f"unbalanced </{tag}>")
        self.cur = n.parent

    def handle_data(self, d) -> None:
        self.cur.children.append(d)


def squash(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def outline(page: str, model: Dict[str, Any]) -> Dict[str, Any]:
    t = Tree()
    t.feed(page)
    t.close()
    root = t.root
    check(t.doctype == "DOCTYPE html", "the page starts with <!DOCTYPE html>")
    check(t.cur is root, "every element is closed")
    table = root.find_all("table", "threads")
    rows = table[0].find_all("tr") if table else []
    m = json.loads(json.dumps(model))
    for lane in m["lanes"]:
        lane.update(lane_data(lane))
        for k in ("h", "hc", "w", "wc", "wt", "t", "f"):
            del lane[k]
    d = m["drops"]
    d["ts"] = data.unpack_times(d["ts"])
    for k, code in (("req", "H"), ("hold", "H"), ("resp", "f")):
        import array
        a = array.array(code)
        a.frombytes(base64.b64decode(d[k]))
        d[k] = list(a)
    return {
        "ids": [n.attrs["id"] for n in root.walk() if n.attrs.get("id")],
        "title": squash(root.find_all("title")[0].text()),
        "h1": squash(root.find_all("h1")[0].text()),
        "command": [squash(n.text()) for n in root.find_all("div", "cmd")],
        "facts": [[squash(n.find_all("dt")[0].text()), squash(n.find_all("dd")[0].text()),
                   n.find_all("dd")[0].attrs.get("class")] for n in root.find_all("dl", "facts")[0].find_all("div")],
        "cards": [[squash(n.find_all("div", "v")[0].text()), squash(n.find_all("div", "l")[0].text())]
                  for n in root.find_all("div", "card")],
        "findings": [[n.attrs.get("class"), squash(n.text())] for n in root.find_all("ul", "findings")[0].find_all("li")],
        "table": [[squash(c.text()) for c in r.children if isinstance(c, Node)] for r in rows],
        "histograms": [[squash(h.find_all("h3")[0].text()), squash(h.find_all("p")[-1].text()),
                        len(h.find_all("rect"))] for h in root.find_all("div", "hist")],
        "model": m,
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="gilscope-report-html-") as tmp:
        os.chdir(tmp)
        reportdb.two_thread_db(Path("run.db"))
        model = data.load("run.db")
        page = render.render(model, "0.0.0-test")

    # self-contained, and only its own script may run
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    check(csp is not None, "the page has a Content-Security-Policy")
    policy = csp.group(1)
    check("default-src 'none'" in policy, "the policy fetches nothing by default")
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    check(len(scripts) == 2, "two script elements: the data and the code")
    check(scripts[0][0].strip() == 'type="application/json" id="gilscope-data"', "the data is a JSON script element")
    json.loads(scripts[0][1])
    check("<" not in scripts[0][1], "the embedded JSON has no '<'")
    digest = base64.b64encode(hashlib.sha256(scripts[1][1].encode()).digest()).decode()
    check(f"script-src 'sha256-{digest}'" in policy, "the policy admits the page's script by its hash")
    external = re.findall(r'(?:src|href)\s*=\s*"(?!data:|#)([^"]*)"', page)
    check(external == [], f"no external resource is referenced ({external})")
    check(not re.search(r"https?://", page), "no http(s) URL anywhere in the page")

    got = json.loads(json.dumps(outline(page, model)))  # tuples become lists, as in the file
    golden_update(GOLDEN, json.dumps(got, indent=1, ensure_ascii=False) + "\n")
    want = json.loads(GOLDEN.read_text(encoding="utf-8"))
    for key in want:
        if got.get(key) != want[key]:
            print(f"--- golden {key}:\n{json.dumps(want[key], indent=1, ensure_ascii=False)[:3000]}")
            print(f"+++ got {key}:\n{json.dumps(got.get(key), indent=1, ensure_ascii=False)[:3000]}")
        check(got.get(key) == want[key], f"golden: {key}")
    check(set(got) == set(want), "golden: no new or missing part")


if __name__ == "__main__":
    main()
