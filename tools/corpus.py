"""Training corpus for the tiny Qwen3.5-MoE model, built from text already on the machine.

The GPU machine has no internet, so the corpus is the Python installation itself: the standard
library and site-packages sources (code), their Markdown/reST/text files and the dist-info
METADATA long descriptions (docs), the real .json files found there (json), and JSON records
synthesised from module and package metadata (json_synth), serialised with varied formatting so
the model sees compact, indented and key-sorted JSON alike.

Everything is deterministic for a given file tree: candidates are visited in the order of a hash
of their root-relative name, each kind stops at its byte cap, and a document is held out when the
hash of its source name falls below HELDOUT_PER_MILLE (records synthesised from a file share that
file's split, so held-out names never leak into training).

Standard library only, so the recipe can be checked on any machine: `python3 tools/corpus.py`
prints the summary of the corpus it would build here.
"""

from __future__ import annotations

import dataclasses
import email.parser
import hashlib
import json
import os
import random
import re
import sys
import sysconfig

HELDOUT_PER_MILLE = 20
SPECIAL_STRINGS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")

# Byte caps per kind (about 20M tokens at a 6k vocab on the GPU machine, where docs and real JSON
# fall short of their caps).
DEFAULT_CAPS = {"code": 56_000_000, "docs": 14_000_000, "json": 9_000_000, "json_synth": 14_000_000}

CODE_SUFFIXES = (".py", ".pyi")
DOC_SUFFIXES = (".md", ".rst", ".txt")
# Packaging bookkeeping and licence boilerplate teach nothing but repetition.
SKIPPED_DOC_NAMES = re.compile(
    r"^(RECORD|top_level\.txt|entry_points\.txt|requires\.txt|SOURCES\.txt|dependency_links\.txt|"
    r"namespace_packages\.txt|not-zip-safe|INSTALLER|REQUESTED|WHEEL|(LICEN[CS]E|COPYING|NOTICE)[\w.-]*)$",
    re.IGNORECASE,
)
SKIPPED_DIRS = {"__pycache__", ".git", "site-packages", "dist-packages"}

SIZE_LIMITS = {"code": (256, 200_000), "docs": (200, 200_000), "json": (64, 48_000)}
# No single top-level package may fill more than this share of a kind's cap (variety over volume).
PACKAGE_SHARE = 0.12


@dataclasses.dataclass
class Document:
    kind: str  # code | docs | json | json_synth
    source: str  # root label + root-relative path, e.g. "site:numpy/linalg/linalg.py"
    text: str
    heldout: bool
    note: str = ""  # e.g. "reformatted" for minified JSON written back with indentation


def stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "big")


def is_heldout(source: str) -> bool:
    return stable_hash("split:" + source) % 1000 < HELDOUT_PER_MILLE


def scan_roots() -> list[tuple[str, str]]:
    """(label, path) of the Python installation's source trees, without duplicates."""
    paths = sysconfig.get_paths()
    candidates = [("stdlib", paths["stdlib"]), ("site", paths["purelib"]), ("site", paths["platlib"])]
    candidates.append(("dist", "/usr/lib/python3/dist-packages"))
    roots: list[tuple[str, str]] = []
    seen: set[str] = set()
    for label, path in candidates:
        real = os.path.realpath(path)
        if os.path.isdir(real) and real not in seen:
            seen.add(real)
            roots.append((label, real))
    return roots


def kind_of(relpath: str) -> str | None:
    name = os.path.basename(relpath)
    if name.endswith(CODE_SUFFIXES):
        return "code"
    if name == "METADATA" and ".dist-info" in relpath:
        return "docs"
    if name.endswith(".json"):
        return "json"
    if name.endswith(DOC_SUFFIXES) and not SKIPPED_DOC_NAMES.match(name) and ".dist-info" not in relpath:
        return "docs"
    return None


def list_candidates(roots: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    """kind -> [(source, absolute path)] in hash order, filtered by size."""
    by_kind: dict[str, list[tuple[str, str]]] = {"code": [], "docs": [], "json": []}
    for label, root in roots:
        for directory, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
            for name in sorted(filenames):
                path = os.path.join(directory, name)
                relpath = os.path.relpath(path, root)
                kind = kind_of(relpath)
                if kind is None or os.path.islink(path):
                    continue
                low, high = SIZE_LIMITS[kind]
                try:
                    size = os.path.getsize(path)
                except OSError:
                    continue
                if low <= size <= high:
                    by_kind[kind].append((f"{label}:{relpath}", path))
    for items in by_kind.values():
        items.sort(key=lambda item: stable_hash(item[0]))
    return by_kind


def package_of(source: str) -> str:
    """The top-level package (or stdlib module) a source belongs to, e.g. "site:numpy"."""
    label, relpath = source.split(":", 1)
    top = relpath.split(os.sep, 1)[0]
    top = top.split("-", 1)[0] if top.endswith(".dist-info") else top
    return f"{label}:{top.removesuffix('.py')}"


def read_text(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            raw = f.read()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    text = text.replace("\r\n", "\n")
    for special in SPECIAL_STRINGS:
        # The tokenizer would read these as control tokens; the corpus must not contain them.
        text = text.replace(special, special.replace("|", ""))
    return text


def looks_like_text(text: str, max_line: int) -> bool:
    if not text.strip():
        return False
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\t")
    if controls > len(text) // 1000:
        return False
    lines = text.split("\n")
    if max(len(line) for line in lines) > max_line:
        return False
    return len(text) / len(lines) < 120


def json_document(text: str, source: str) -> tuple[str, str] | None:
    """The JSON text to train on (as written, or re-indented when minified), or None if invalid."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if looks_like_text(text, max_line=1000):
        return text, ""
    rng = random.Random(stable_hash("indent:" + source))
    reformatted = json.dumps(value, indent=rng.choice([1, 2, 4]), ensure_ascii=False)
    if len(reformatted) > SIZE_LIMITS["json"][1] or not looks_like_text(reformatted, max_line=1000):
        return None
    return reformatted, "reformatted"


# ---- JSON records synthesised from sources -------------------------------------------------

DEF_PATTERN = re.compile(
    r"^([ \t]*)(async[ \t]+)?def[ \t]+(\w+)[ \t]*\(([^)]*)\)[ \t]*(?:->[ \t]*([^:\n]+?))?[ \t]*:", re.M
)
CLASS_PATTERN = re.compile(r"^class[ \t]+(\w+)[ \t]*(?:\(([^)]*)\))?[ \t]*:", re.M)
IMPORT_PATTERN = re.compile(r"^(?:from[ \t]+([\w.]+)[ \t]+import|import[ \t]+([\w.]+))", re.M)
TOP_LEVEL_PATTERN = re.compile(r"^[^\s#]", re.M)  # the first line of the next top-level statement
DOCSTRING_PATTERN = re.compile(r'^(?:#[^\n]*\n|\s)*[rRuU]?("""|\'\'\')(.*?)\1', re.S)


def module_name(source: str) -> str:
    relpath = source.split(":", 1)[1]
    stem = relpath.rsplit(".", 1)[0].replace(os.sep, ".")
    return stem[: -len(".__init__")] if stem.endswith(".__init__") else stem


def first_line(text: str | None) -> str | None:
    if not text:
        return None
    for line in text.strip().split("\n"):
        if line.strip():
            return line.strip()[:160]
    return None


def unique(names) -> list[str]:
    return list(dict.fromkeys(names))


def split_args(args: str) -> list[str]:
    names = []
    for part in args.split(","):
        name = part.split(":")[0].split("=")[0].strip()
        if name and name not in ("self", "cls", "/") and re.fullmatch(r"\*{0,2}\w+|\*", name):
            names.append(name)
    return names


def code_records(doc: Document) -> list[object]:
    text = doc.text
    defs = DEF_PATTERN.findall(text)
    classes = CLASS_PATTERN.findall(text)
    imports = [a or b for a, b in IMPORT_PATTERN.findall(text)]
    docstring = DOCSTRING_PATTERN.match(text)
    lines = text.split("\n")
    records: list[object] = [
        {
            "module": module_name(doc.source),
            "package": module_name(doc.source).split(".")[0],
            "lines": len(lines),
            "blank_lines": sum(1 for line in lines if not line.strip()),
            "comment_lines": sum(1 for line in lines if line.lstrip().startswith("#")),
            "size_bytes": len(text.encode("utf-8")),
            "doc": first_line(docstring.group(2)) if docstring else None,
            "classes": [name for name, _ in classes[:10]],
            "functions": unique(d[2] for d in defs if not d[0])[:12],
            "imports": sorted(set(imports))[:10],
            "has_main": "__main__" in text,
        }
    ]
    functions = []
    for indent, is_async, name, args, returns in defs[:24]:
        line = text.count("\n", 0, text.find(f"def {name}")) + 1
        functions.append(
            {
                "name": name,
                "args": split_args(args),
                "returns": returns.strip() if returns else None,
                "line": line,
                "async": bool(is_async),
                "method": bool(indent),
                "private": name.startswith("_"),
            }
        )
    for start in range(0, len(functions), 8):
        records.append(functions[start : start + 8])
    for match in list(CLASS_PATTERN.finditer(text))[:6]:
        name, bases = match.group(1), match.group(2)
        body_end = TOP_LEVEL_PATTERN.search(text, match.end())
        body = text[match.end() : body_end.start() if body_end else len(text)]
        records.append(
            {
                "class": name,
                "module": module_name(doc.source),
                "bases": [b.strip() for b in bases.split(",") if b.strip()] if bases else [],
                "methods": unique(d[2] for d in DEF_PATTERN.findall(body) if d[0])[:8],
            }
        )
    return records


def metadata_record(text: str) -> dict[str, object]:
    message = email.parser.Parser().parsestr(text, headersonly=True)
    classifiers = message.get_all("Classifier") or []
    return {
        "name": message.get("Name"),
        "version": message.get("Version"),
        "summary": message.get("Summary"),
        "requires_python": message.get("Requires-Python"),
        "license": first_line(message.get("License")) or message.get("License-Expression"),
        "requires": [r.split(";")[0].strip() for r in (message.get_all("Requires-Dist") or [])][:16],
        "extras": message.get_all("Provides-Extra") or [],
        "classifiers": classifiers[:8],
        "urls": dict(u.split(", ", 1) for u in (message.get_all("Project-URL") or []) if ", " in u),
    }


def serialise(value: object, rng: random.Random) -> str:
    """One JSON text, formatted the way some real program would write it."""
    style = rng.random()
    sort_keys = rng.random() < 0.3
    if style < 0.3:
        return json.dumps(value, sort_keys=sort_keys, ensure_ascii=False)
    if style < 0.4:
        return json.dumps(value, sort_keys=sort_keys, separators=(",", ":"))
    return json.dumps(value, indent=rng.choice([2, 2, 4, 1]), sort_keys=sort_keys, ensure_ascii=False)


def synthesise(doc: Document) -> list[Document]:
    if doc.kind == "code":
        records = code_records(doc)
    elif doc.source.endswith("METADATA"):
        records = [metadata_record(doc.text)]
    else:
        return []
    rng = random.Random(stable_hash("synth:" + doc.source))
    if len(records) > 2 and rng.random() < 0.25:
        records = [records]  # sometimes a file's records arrive as one array
    return [
        Document("json_synth", f"{doc.source}#{i}", serialise(r, rng), doc.heldout) for i, r in enumerate(records)
    ]


# ---- the whole corpus ----------------------------------------------------------------------


def build(caps: dict[str, int] | None = None, roots: list[tuple[str, str]] | None = None) -> list[Document]:
    caps = dict(DEFAULT_CAPS, **(caps or {}))
    roots = roots or scan_roots()
    candidates = list_candidates(roots)
    documents: list[Document] = []
    used = {kind: 0 for kind in caps}
    used_by_package: dict[tuple[str, str], int] = {}
    seen_contents: set[int] = set()
    synth: list[Document] = []
    synth_bytes = 0
    for kind in ("code", "docs", "json"):
        for source, path in candidates[kind]:
            # Past the code cap, further sources still feed the JSON records until those are full.
            synth_only = used[kind] >= caps[kind]
            if synth_only and (kind != "code" or synth_bytes >= caps["json_synth"]):
                break
            package = (kind, package_of(source))
            if not synth_only and used_by_package.get(package, 0) >= PACKAGE_SHARE * caps[kind]:
                continue
            text = read_text(path)
            if text is None:
                continue
            note = ""
            if kind == "json":
                result = json_document(text, source)
                if result is None:
                    continue
                text, note = result
            elif not looks_like_text(text, max_line=1000):
                continue
            content_hash = stable_hash(text)
            if content_hash in seen_contents:
                continue
            seen_contents.add(content_hash)
            doc = Document(kind, source, text, is_heldout(source), note)
            records = synthesise(doc)
            synth.extend(records)
            synth_bytes += sum(len(r.text.encode("utf-8")) for r in records)
            if synth_only:
                continue
            documents.append(doc)
            size = len(text.encode("utf-8"))
            used[kind] += size
            used_by_package[package] = used_by_package.get(package, 0) + size
    rng = random.Random(1234)
    rng.shuffle(synth)
    for doc in synth:
        if used["json_synth"] >= caps["json_synth"]:
            break
        documents.append(doc)
        used["json_synth"] += len(doc.text.encode("utf-8"))
    return documents


def summary(documents: list[Document]) -> dict[str, object]:
    table: dict[str, dict[str, int]] = {}
    for doc in documents:
        row = table.setdefault(doc.kind, {"docs": 0, "bytes": 0, "heldout_docs": 0, "heldout_bytes": 0})
        size = len(doc.text.encode("utf-8"))
        row["docs"] += 1
        row["bytes"] += size
        if doc.heldout:
            row["heldout_docs"] += 1
            row["heldout_bytes"] += size
    return table


if __name__ == "__main__":
    caps = {k: int(float(v)) for k, v in (arg.split("=") for arg in sys.argv[1:])}
    docs = build(caps)
    print(json.dumps({"roots": scan_roots(), "summary": summary(docs)}, indent=2))
