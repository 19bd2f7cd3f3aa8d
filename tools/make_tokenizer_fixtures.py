#!/usr/bin/env python3
"""Golden data for the C++ tokenizer (tests/unit/tokenizer), made with Hugging Face `tokenizers`.

Trains, deterministically, a small byte-level BPE (vocab ~3000) on Python standard-library
sources found on this machine, with Qwen3.5's exact pipeline (NFC normalizer, Split(Regex,
Isolated) + ByteLevel(add_prefix_space=False, use_regex=False) pre-tokenizer, ByteLevel decoder)
and Qwen's special tokens, then writes three tokenizers that share that vocabulary and merges:

  qwen35/  Qwen3.5 split pattern (marks \\p{M} join letters); merges as ["a", "b"] pairs
  qwen3/   Qwen2/Qwen3 split pattern; merges in the legacy "a b" string form
  gpt2/    no normalizer, ByteLevel(use_regex=True) (the GPT-2 pattern)

and for each, cases.json: every test text with its ids (special tokens matched and, where the
text has some, not matched), the decoded string, the NFC text and the raw pre-tokenizer pieces,
plus decodes of single ids and of random id sequences (lossy UTF-8).

Where transformers is installed, its Qwen3_5Tokenizer / Qwen2Tokenizer classes are built from the
same vocab and merges and must encode every text the same way (a check that the pipeline here
is the one Qwen ships); the result is printed.

Run on the GPU machine:  python3 tools/make_tokenizer_fixtures.py --out $OUT
Writes <out>/tokenizer_fixtures.tar.gz (unpack into tests/fixtures/tokenizer/) and a log.
"""
import argparse
import hashlib
import io
import json
import os
import random
import sys
import sysconfig
import tarfile
import traceback
import unicodedata

import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, processors, trainers

QWEN35_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}"
                  r"| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
                 r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"

VOCAB_SIZE = 3000
CORPUS_BYTES = 6_000_000

# Qwen's special tokens (special=True, normalized=False) and the non-special ones it marks with
# special=False; then two tokens that exercise added-token options Qwen does not use.
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>"]
PLAIN_ADDED_TOKENS = ["<think>", "</think>", "<tool_call>", "</tool_call>"]
OPTION_SPECIAL_TOKENS = [
    AddedToken("<mask>", special=True, lstrip=True, rstrip=False, normalized=False),
    AddedToken("<sep>", special=True, rstrip=True, normalized=False),
]
OPTION_PLAIN_TOKENS = [AddedToken("café", special=False, normalized=True)]  # matched after NFC

TEXTS = [
    "",
    "Hello world",
    "Hello, world! How's it going? I'LL be there, we'VE seen it, they'RE here, I'M sure, "
    "he'D go, don'T.",
    "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'VE 'M 'LL 'D 'sa 'x ''s 'Ll 'lL '",
    "Long s and Kelvin: 'ſ 'ſt 'K 'k",
    "The quick brown fox jumps over the lazy dog.\n",
    "  leading spaces and trailing spaces   ",
    "multiple   spaces\tand\ttabs\t\tand\n\nnewlines\r\nwindows\r\n\r\nend",
    " \n \n\n   \n\t\n",
    "   ", "\n", "\r\n", "\t", " a", "a ", "a  b", "a \nb", "a\n b", "a \n b", "a\r\r\n\n b",
    "x  \n\n  y\t \t z",
    "numbers: 0 12 345 6789 1234567890123456789 3.14159 -42 1e10 0x1F 1,000,000",
    "digits everywhere: a1b2c3 ٣٤٥ १२३ １２３ ² ½ Ⅻ ①",
    "中文测试：你好，世界！今天是2026年8月13日。",
    "日本語のテキスト、カタカナとひらがな。한국어 텍스트입니다.",
    "emoji: 🎉🚀👍🏽 👨\u200d👩\u200d👧\u200d👦 🇫🇷 ❤️ ✨",
    "accents composed: café naïve résumé Ångström Øresund ﬁ",
    "accents decomposed: cafe\u0301 nai\u0308ve re\u0301sume\u0301 A\u030angstro\u0308m",
    "combining order: a\u0301\u0328 a\u0328\u0301 q\u0307\u0323 x\u0300 e\u0301\u0301",
    "singletons: \u212b \u2126 \u212a \uf900 \u0344 \u0958 \u1e9b\u0323",
    "hangul jamo: \u1100\u1161\u11a8 \u1112\u1161\u11ab\u1100\u1173\u11af \uac00\u11a8",
    "RTL: שָׁלוֹם עולם مرحبا بالعالم اَلْعَرَبِيَّةُ",
    "Thai: สวัสดีครับ ผมชื่ออเล็กซ์",
    "Hindi: नमस्ते दुनिया, हिन्दी",
    "Greek and Cyrillic: Καλημέρα κόσμε, Привет мир",
    "whitespace kinds: a\u00a0b\u3000c\u2028d\u2029e\u0085f\u000bg\u000ch\u200bi\u180ej\u1680k"
    "\u202fl\u2003m",
    "controls: \x00\x01\x1c\x1d\x1e\x1f\x7f end \x1c\n",
    "mark first: \u0301abc \u0301\u0302 123\u0301 !\u0301? a \u0301b ?\u0301",
    "def fib(n: int) -> int:\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    if n < 2:\n"
    "        return n\n    return fib(n - 1) + fib(n - 2)\n\n\nprint([fib(i) for i in range(10)])\n",
    "#include <vector>\n\nint main() {\n\tstd::vector<int> v{1, 2, 3};\n\tfor (auto& x : v) "
    "{ x *= 2; }\n\treturn v.size() > 2 ? 0 : 1; // done\n}\n",
    "{\"key\": [1, 2.5, null, true], \"nested\": {\"a\": \"b\\n\"}}",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>",
    "before<|endoftext|>after",
    "<|im_end|><|im_end|>  <|im_start|>",
    "partial <|im_end| and <|im_end and |im_end|> <|im_start|im_end|>",
    "<think>\n\n</think>\n\nThe answer is 4.<|im_end|>",
    "lstrip test   <mask> and x<mask>y \t<mask>",
    "rstrip test <sep>   after<sep>\n\nend",
    "normalized added token: cafe\u0301 and café, cafés",
    "supercalifragilisticexpialidocious" * 60,
    "x" * 3000,
    "数" * 500,
    " " * 200 + "end",
    "\n" * 50,
    "!!!???...,,,;;;" * 20,
    "$%^&*()_+-=[]{}|;':\",./<>?`~",
    "mixed: Hello世界123abc😀def",
    "URL https://example.com/path?query=1&b=2#frag and email a.b@c.de",
    "snake_case camelCase PascalCase kebab-case SCREAMING_CASE __dunder__",
    "curly apostrophes: it\u2019s don\u2019t 'S\u2019s",
    "fullwidth: \uff28\uff45\uff4c\uff4c\uff4f\uff01 soft\u00adhyphen tab\t!\t\t? ! \r!",
    "\r\r\rcarriage\rreturns\r",
]


def stdlib_corpus():
    """Sorted stdlib .py files, concatenated up to CORPUS_BYTES (deterministic per install)."""
    root = sysconfig.get_paths()["stdlib"]
    paths = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in ("site-packages", "dist-packages",
                                                              "__pycache__"))
        paths += [os.path.join(dirpath, f) for f in sorted(filenames) if f.endswith(".py")]
    paths.sort()
    texts, total = [], 0
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        texts.append(text)
        total += len(text.encode())
        if total >= CORPUS_BYTES:
            break
    return root, texts


def qwen35_pipeline(tok):
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN35_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)


def train(corpus):
    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False,
                               ignore_merges=False))
    qwen35_pipeline(tok)
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[])
    tok.train_from_iterator(corpus, trainer=trainer)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in PLAIN_ADDED_TOKENS])
    tok.add_special_tokens(OPTION_SPECIAL_TOKENS)
    tok.add_tokens(OPTION_PLAIN_TOKENS)
    return tok


def variant_json(base, name):
    spec = json.loads(base.to_str())
    if name == "qwen3":
        spec["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {"Regex": QWEN2_PATTERN}
        spec["model"]["merges"] = [" ".join(pair) for pair in spec["model"]["merges"]]
    elif name == "gpt2":
        spec["normalizer"] = None
        spec["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": False,
                                 "trim_offsets": True, "use_regex": True}
    return json.dumps(spec, ensure_ascii=False, separators=(",", ":"))


def encode_ids(tok, text, split_special):
    tok.encode_special_tokens = split_special
    try:
        return tok.encode(text, add_special_tokens=False).ids
    finally:
        tok.encode_special_tokens = False


def make_cases(tok, name):
    pattern = {"qwen35": QWEN35_PATTERN, "qwen3": QWEN2_PATTERN, "gpt2": GPT2_PATTERN}[name]
    splitter = pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False)
    added = [t.content for t in tok.get_added_tokens_decoder().values()]
    cases = []
    for text in TEXTS:
        ids = encode_ids(tok, text, False)
        case = {
            "text": text,
            "ids": ids,
            "decoded": tok.decode(ids, skip_special_tokens=False),
            "normalized": tok.normalizer.normalize_str(text) if tok.normalizer else text,
            "pieces": [p for p, _ in splitter.pre_tokenize_str(text)],
        }
        if any(a in text for a in added):
            case["ids_no_special"] = encode_ids(tok, text, True)
        cases.append(case)
    rng = random.Random(20260813)
    n = tok.get_vocab_size(with_added_tokens=True)
    single = sorted({i for c in cases[:40] for i in c["ids"]})[:400]
    sequences = [[rng.randrange(n) for _ in range(rng.randint(1, 8))] for _ in range(40)]
    sequences += [[i] for i in single]
    decodes = [{"ids": s, "decoded": tok.decode(s, skip_special_tokens=False)} for s in sequences]
    return {"variant": name, "tokenizers_version": tokenizers.__version__,
            "vocab_size": n, "cases": cases, "decodes": decodes}


def check_with_transformers(files, log):
    """Rebuild Qwen's own tokenizer classes from the same vocab/merges; compare encodings."""
    try:
        import transformers
        from transformers import Qwen2Tokenizer, Qwen3_5Tokenizer
    except Exception as e:  # noqa: BLE001 - report any import problem and go on
        log(f"transformers check skipped: {e!r}")
        return
    for name, cls in (("qwen35", Qwen3_5Tokenizer), ("qwen3", Qwen2Tokenizer)):
        try:
            spec = json.loads(files[name])
            vocab = spec["model"]["vocab"]
            merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m)
                      for m in spec["model"]["merges"]]
            ref = cls(vocab=vocab, merges=merges)
            ours = Tokenizer.from_str(files[name])
            ours.encode_special_tokens = False
            backend = json.loads(ref.backend_tokenizer.to_str())
            for key in ("normalizer", "pre_tokenizer", "decoder"):
                same = backend.get(key) == spec.get(key)
                log(f"transformers {transformers.__version__} {cls.__name__} {key}: "
                    f"{'same' if same else 'DIFFERS: ' + json.dumps(backend.get(key))}")
            added = [t["content"] for t in spec["added_tokens"]]
            plain = [t for t in TEXTS if not any(a in unicodedata.normalize("NFC", t)
                                                 for a in added)]
            bad = [t for t in plain
                   if ref.backend_tokenizer.encode(t, add_special_tokens=False).ids
                   != ours.encode(t, add_special_tokens=False).ids]
            log(f"{cls.__name__}: {len(plain) - len(bad)}/{len(plain)} texts encode the same"
                + (f"; first differing: {bad[0]!r}" if bad else ""))
        except Exception:  # noqa: BLE001
            log(f"{cls.__name__} check failed:\n{traceback.format_exc()}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    log_lines = []

    def log(msg):
        print(msg, flush=True)
        log_lines.append(msg)

    log(f"python {sys.version.split()[0]}, tokenizers {tokenizers.__version__}")
    root, stdlib = stdlib_corpus()
    # The test texts are added a few times so that merges inside multi-byte characters (CJK,
    # emoji, accents) exist and get exercised.
    corpus = stdlib + TEXTS * 5
    digest = hashlib.sha256("\x00".join(corpus).encode()).hexdigest()[:16]
    log(f"corpus: {len(stdlib)} files from {root}, {sum(len(t) for t in corpus)} chars, "
        f"sha256 {digest}")

    base = train(corpus)
    again = train(corpus)
    log(f"training deterministic (two runs identical): {base.to_str() == again.to_str()}")

    files, archive = {}, io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        def add(path, text):
            data = text.encode("utf-8")
            info = tarfile.TarInfo(path)
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))

        for name in ("qwen35", "qwen3", "gpt2"):
            files[name] = variant_json(base, name)
            tok = Tokenizer.from_str(files[name])  # encode with what was written
            cases = make_cases(tok, name)
            add(f"{name}/tokenizer.json", files[name])
            add(f"{name}/cases.json", json.dumps(cases, ensure_ascii=True, indent=0))
            log(f"{name}: vocab {cases['vocab_size']}, {len(cases['cases'])} cases, "
                f"{sum(len(c['ids']) for c in cases['cases'])} ids")
        add("qwen35/tokenizer_config.json", json.dumps({
            "bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
            "unk_token": None, "model_max_length": 262144}, indent=2))
        check_with_transformers(files, log)
        add("README.md", "Generated by tools/make_tokenizer_fixtures.py; do not edit.\n\n"
            + "\n".join(log_lines) + "\n")
    with open(os.path.join(args.out, "tokenizer_fixtures.tar.gz"), "wb") as f:
        f.write(archive.getvalue())
    log(f"wrote {args.out}/tokenizer_fixtures.tar.gz ({len(archive.getvalue())} bytes)")


if __name__ == "__main__":
    main()
