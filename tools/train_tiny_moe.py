"""Trains the tiny Qwen3.5-MoE model that ships with streammoe and records its reference outputs.

Runs on the GPU machine (torch 2.11, transformers 5.17, tokenizers 0.23, no internet):

    python3 tools/train_tiny_moe.py --out /tmp/result     (or tools/train_tiny_moe.sh, which also packs $OUT)

and writes, under --out, the same layout as the repository:

    models/NAME/                           config.json, model.safetensors (bf16), generation_config.json,
                                           tokenizer.json, tokenizer_config.json, README.md (model card),
                                           metrics.json, corpus.json, heldout.txt, json_prompts.txt
    tests/fixtures/reference/NAME/
                                           input_ids.npy, logits.npy, prompts.json, tokenizer_cases.json,
                                           reference.json

Steps, in order: corpus (tools/corpus.py) -> byte-level BPE tokenizer in the Qwen style -> a
genuine `Qwen3_5MoeForCausalLM` trained with AdamW under bf16 autocast -> save_pretrained in bf16
-> evaluation of the SAVED folder by the stock transformers classes (loss, perplexity, routing
statistics, JSON validity) -> reference outputs from the saved folder reloaded in float32 on CPU.

Training replaces only the experts' forward with a dense equivalent (every expert on every token,
weighted by the router's top-k weights, zero elsewhere): the same function as the stock expert
loop, as two large matmuls instead of 32 small ones per layer. The checkpoint is untouched by it,
and every number in the model card and every reference output comes from the stock classes.

The step count is fixed (deterministic schedule); a wall-clock guard stops training early only if
the machine is slower than calibrated, so the outputs are always written. --smoke runs the whole
pipeline with a few steps and a throughput probe.

NAME is --name (default tiny-qwen35moe, the first model). The second model, tiny-qwen35moe-256e,
has the routing structure of Qwen3.5-35B-A3B (256 experts, top-8, aux-loss coefficient 0.001) and
reuses the first model's tokenizer so its prompts and traces are comparable:

    tools/train_tiny_moe.sh --name tiny-qwen35moe-256e --tokenizer models/tiny-qwen35moe/tokenizer.json \
        --layers 4 --hidden 64 --experts 256 --expert-size 64 --shared-size 64 --aux-coef 0.001 --steps N
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import random
import re
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus  # noqa: E402

SEED = 20261122
DEFAULT_NAME = "tiny-qwen35moe"
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
QWEN_PRETOKENIZE_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

START = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - START:7.1f}s] {message}", flush=True)


class PhaseTimer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str):
        timer = self

        class Phase:
            def __enter__(self):
                self.begin = time.monotonic()
                log(f"--- {name}")

            def __exit__(self, *exc):
                timer.seconds[name] = round(time.monotonic() - self.begin, 2)
                log(f"--- {name} done in {timer.seconds[name]:.1f}s")

        return Phase()


# ---- tokenizer -------------------------------------------------------------------------------


def train_tokenizer(texts: list[str], vocab_size: int):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers import trainers

    tokenizer = Tokenizer(models.BPE(byte_fallback=False))
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tokenizer.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    # Special tokens go after the merges, as in Qwen's tokenizer (ids vocab-3 .. vocab-1).
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(SPECIAL_TOKENS),
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    return tokenizer


def encode_all(tokenizer, texts: list[str]) -> list[list[int]]:
    encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
    return [e.ids for e in encode(texts, add_special_tokens=False)]


def token_stream(encoded: list[list[int]], eos_id: int) -> np.ndarray:
    """Documents back to back, each followed by <|endoftext|>."""
    total = sum(len(ids) + 1 for ids in encoded)
    stream = np.empty(total, dtype=np.int64)
    at = 0
    for ids in encoded:
        stream[at : at + len(ids)] = ids
        stream[at + len(ids)] = eos_id
        at += len(ids) + 1
    return stream


# ---- model -----------------------------------------------------------------------------------


def make_config(vocab_size: int, eos_id: int, args):
    from transformers import Qwen3_5MoeTextConfig

    layer_types = ["linear_attention", "linear_attention", "linear_attention", "full_attention"] * (args.layers // 4)
    return Qwen3_5MoeTextConfig(
        vocab_size=vocab_size,
        hidden_size=args.hidden,
        num_hidden_layers=args.layers,
        layer_types=layer_types,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=64,
        linear_conv_kernel_dim=4,
        linear_key_head_dim=32,
        linear_value_head_dim=32,
        linear_num_key_heads=4,
        linear_num_value_heads=8,
        num_experts=args.experts,
        num_experts_per_tok=args.top_k,
        moe_intermediate_size=args.expert_size,
        shared_expert_intermediate_size=args.shared_size,
        max_position_embeddings=args.max_positions,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25},
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
        router_aux_loss_coef=args.aux_coef,
        initializer_range=0.02,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
    )


def dense_experts_forward(experts, hidden_states, top_k_index, top_k_weights):
    """Same function as the stock Qwen3_5MoeExperts loop, as two matmuls over all experts.

    Unselected experts get weight zero, so their outputs and their gradients vanish exactly as in
    the sparse loop; the router gets the same gradient through top_k_weights.
    """
    tokens, hidden = hidden_states.shape
    num_experts, intermediate = experts.num_experts, experts.intermediate_dim
    dense_weights = torch.zeros(tokens, num_experts, dtype=top_k_weights.dtype, device=hidden_states.device)
    dense_weights.scatter_(1, top_k_index, top_k_weights)
    gate_up = F.linear(hidden_states, experts.gate_up_proj.reshape(num_experts * 2 * intermediate, hidden))
    gate, up = gate_up.view(tokens, num_experts, 2 * intermediate).chunk(2, dim=-1)
    mixed = experts.act_fn(gate) * up * dense_weights.unsqueeze(-1).to(up.dtype)
    down = experts.down_proj.permute(1, 0, 2).reshape(hidden, num_experts * intermediate)
    return F.linear(mixed.reshape(tokens, num_experts * intermediate), down).to(hidden_states.dtype)


def set_dense_experts(model, enabled: bool) -> None:
    from transformers.models.qwen3_5_moe.modeling_qwen3_5_moe import Qwen3_5MoeExperts

    for module in model.modules():
        if isinstance(module, Qwen3_5MoeExperts):
            if enabled:
                module.forward = functools.partial(dense_experts_forward, module)
            elif "forward" in module.__dict__:
                del module.forward


def parameter_counts(config, model) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    per_expert = 3 * config.hidden_size * config.moe_intermediate_size
    idle_experts = config.num_hidden_layers * (config.num_experts - config.num_experts_per_tok) * per_expert
    embeddings = model.model.embed_tokens.weight.numel() + model.lm_head.weight.numel()
    return {
        "total": total,
        "active_per_token": total - idle_experts,
        "routed_experts": config.num_hidden_layers * config.num_experts * per_expert,
        "per_expert": per_expert,
        "embeddings_and_lm_head": embeddings,
        "total_non_embedding": total - embeddings,
        "active_non_embedding": total - idle_experts - embeddings,
    }


# ---- training --------------------------------------------------------------------------------


def learning_rate(step: int, args) -> float:
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))


def sample_windows(stream: torch.Tensor, batch: int, seq: int, generator: torch.Generator) -> torch.Tensor:
    starts = torch.randint(0, stream.numel() - seq - 1, (batch,), generator=generator, device=stream.device)
    return stream[starts.unsqueeze(1) + torch.arange(seq + 1, device=stream.device)]


def train_step(model, optimizer, windows: torch.Tensor, aux_coef: float):
    inputs, targets = windows[:, :-1], windows[:, 1:]
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = model(input_ids=inputs, output_router_logits=True, use_cache=False)
    ce = F.cross_entropy(out.logits.float().reshape(-1, out.logits.shape[-1]), targets.reshape(-1))
    loss = ce + aux_coef * out.aux_loss
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return ce.detach(), out.aux_loss.detach(), grad_norm.detach()


def make_optimizer(model, args):
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.95), eps=1e-8, fused=True)


def throughput_probe(model, args, stream: torch.Tensor) -> dict[str, float]:
    """ms per optimizer step for a few shapes (smoke only); the model is re-initialised after."""
    results = {}
    generator = torch.Generator(device="cuda").manual_seed(1)
    for batch, seq in ((64, 512), (32, 1024), (128, 512)):
        optimizer = make_optimizer(model, args)
        for i in range(6):
            if i == 2:
                torch.cuda.synchronize()
                began = time.monotonic()
            train_step(model, optimizer, sample_windows(stream, batch, seq, generator), args.aux_coef)
        torch.cuda.synchronize()
        ms = (time.monotonic() - began) / 4 * 1000
        results[f"dense_b{batch}_t{seq}_ms"] = round(ms, 1)
        results[f"dense_b{batch}_t{seq}_tok_per_s"] = round(batch * seq / ms * 1000)
        log(f"probe dense B={batch} T={seq}: {ms:.1f} ms/step, {batch * seq / ms * 1000:,.0f} tok/s, "
            f"peak {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    set_dense_experts(model, False)
    optimizer = make_optimizer(model, args)
    for i in range(3):
        if i == 1:
            torch.cuda.synchronize()
            began = time.monotonic()
        train_step(model, optimizer, sample_windows(stream, 64, 512, generator), args.aux_coef)
    torch.cuda.synchronize()
    ms = (time.monotonic() - began) / 2 * 1000
    results["stock_experts_b64_t512_ms"] = round(ms, 1)
    log(f"probe stock experts B=64 T=512: {ms:.1f} ms/step")
    set_dense_experts(model, True)
    return results


def load_stock(model_dir: str, attention: str):
    """The saved folder through the stock classes in float32, experts by the reference loop."""
    from transformers import Qwen3_5MoeForCausalLM

    try:
        model = Qwen3_5MoeForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation=attention,
                                                      experts_implementation="eager")
    except (TypeError, ValueError) as error:
        log(f"experts_implementation not accepted ({error}); loading with the default")
        model = Qwen3_5MoeForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation=attention)
    log(f"loaded {model_dir}: attention {model.config._attn_implementation}, "
        f"experts {getattr(model.config, '_experts_implementation', '?')}")
    return model.eval()


# ---- evaluation with the stock classes -------------------------------------------------------


@torch.no_grad()
def mean_loss(model, windows: torch.Tensor, batch: int = 32) -> tuple[float, int]:
    total, count = 0.0, 0
    for start in range(0, windows.shape[0], batch):
        chunk = windows[start : start + batch].cuda()
        logits = model(input_ids=chunk[:, :-1], use_cache=False).logits.float()
        losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), chunk[:, 1:].reshape(-1), reduction="sum")
        total += losses.item()
        count += chunk[:, 1:].numel()
    return total / count, count


def stream_windows(stream: np.ndarray, seq: int, limit: int) -> torch.Tensor:
    count = min(limit, (len(stream) - 1) // seq)
    return torch.stack([torch.from_numpy(stream[i * seq : i * seq + seq + 1]) for i in range(count)])


@torch.no_grad()
def routing_statistics(model, windows: torch.Tensor, config) -> dict[str, object]:
    num_experts, top_k = config.num_experts, config.num_experts_per_tok
    counts = torch.zeros(config.num_hidden_layers, num_experts, dtype=torch.float64)
    reuse_sum = torch.zeros(config.num_hidden_layers, dtype=torch.float64)
    reuse_pairs = 0
    for start in range(0, windows.shape[0], 16):
        chunk = windows[start : start + 16, :-1].cuda()
        batch, seq = chunk.shape
        out = model(input_ids=chunk, output_router_logits=True, use_cache=False)
        for layer, router_logits in enumerate(out.router_logits):
            probs = torch.softmax(router_logits.float(), dim=-1)
            chosen = torch.topk(probs, top_k, dim=-1).indices  # [batch*seq, top_k]
            counts[layer] += torch.bincount(chosen.reshape(-1), minlength=num_experts).double().cpu()
            mask = torch.zeros(batch * seq, num_experts, device=chosen.device)
            mask.scatter_(1, chosen, 1.0)
            mask = mask.view(batch, seq, num_experts)
            shared = (mask[:, 1:] * mask[:, :-1]).sum(-1) / top_k  # share of t+1's experts already used at t
            reuse_sum[layer] += shared.sum().double().cpu()
        reuse_pairs += batch * (seq - 1)
    layers = []
    for layer in range(config.num_hidden_layers):
        popularity = counts[layer] / counts[layer].sum()
        entropy = -(popularity[popularity > 0] * popularity[popularity > 0].log2()).sum().item()
        ranked = popularity.sort(descending=True).values
        layers.append(
            {
                "layer": layer,
                "type": config.layer_types[layer],
                "entropy_bits": round(entropy, 3),
                "top1_share": round(ranked[0].item(), 4),
                "top4_share": round(ranked[:4].sum().item(), 4),
                "least_share": round(ranked[-1].item(), 5),
                "reuse_next_token": round((reuse_sum[layer] / reuse_pairs).item(), 4),
                "popularity": [round(p, 5) for p in popularity.tolist()],
            }
        )
    return {
        "tokens": reuse_pairs + windows.shape[0],
        "uniform_entropy_bits": round(math.log2(num_experts), 3),
        "uniform_top1_share": round(1 / num_experts, 4),
        "uniform_top4_share": round(4 / num_experts, 4),
        "uniform_reuse": round(top_k / num_experts, 4),
        "layers": layers,
    }


@torch.no_grad()
def batched_greedy(model, prompts: list[list[int]], max_new: int, pad_id: int, stop_id: int | None):
    """Greedy continuations without a cache: right padding never reaches earlier positions of a
    causal model, so each row's next token is read at its own last position."""
    rows = [list(p) for p in prompts]
    done = [False] * len(rows)
    for _ in range(max_new):
        width = max(len(r) for r in rows)
        batch = torch.full((len(rows), width), pad_id, dtype=torch.long)
        for i, r in enumerate(rows):
            batch[i, : len(r)] = torch.tensor(r)
        logits = model(input_ids=batch.cuda(), use_cache=False).logits
        for i, r in enumerate(rows):
            if done[i]:
                continue
            token = int(logits[i, len(r) - 1].argmax())
            r.append(token)
            done[i] = token == stop_id
        if all(done):
            break
    return [r[len(p) :] for r, p in zip(rows, prompts)]


def json_validity(model, tokenizer, prompts: list[str], eos_id: int) -> dict[str, object]:
    encoded = [tokenizer.encode(p, add_special_tokens=False).ids for p in prompts]
    continuations = batched_greedy(model, encoded, 256, eos_id, eos_id)
    strict, prefix, results = 0, 0, []
    for prompt, ids in zip(prompts, continuations):
        ended = bool(ids) and ids[-1] == eos_id
        text = prompt + tokenizer.decode([t for t in ids if t != eos_id], skip_special_tokens=False)
        ok_strict, ok_prefix = False, False
        try:
            json.loads(text)
            ok_strict = ended
        except ValueError:
            pass
        try:
            json.JSONDecoder().raw_decode(text)
            ok_prefix = True
        except ValueError:
            pass
        strict += ok_strict
        prefix += ok_prefix
        results.append({"prompt": prompt, "continuation": text[len(prompt) :], "ended_with_eos": ended,
                        "valid": ok_strict, "valid_prefix": ok_prefix})
    return {"prompts": len(prompts), "valid_with_eos": strict, "valid_prefix": prefix, "max_new_tokens": 256,
            "samples": results[:6]}


# ---- reference outputs (stock classes, float32, CPU) -----------------------------------------


@torch.no_grad()
def greedy_cached(model, prompt_ids: list[int], steps: int):
    """Greedy argmax with the transformers cache; EOS is not a stop. Returns ids and top1-top2 margins."""
    out = model(input_ids=torch.tensor([prompt_ids]), use_cache=True)
    cache, ids, margins = out.past_key_values, [], []
    logits = out.logits[0, -1]
    for step in range(steps):
        top2 = torch.topk(logits, 2)
        token = int(top2.indices[0])
        ids.append(token)
        margins.append(float(top2.values[0] - top2.values[1]))
        position = torch.tensor([[len(prompt_ids) + step]])  # explicit: the hybrid cache's length is not relied on
        out = model(input_ids=torch.tensor([[token]]), position_ids=position, past_key_values=cache, use_cache=True)
        cache, logits = out.past_key_values, out.logits[0, -1]
    return ids, margins


@torch.no_grad()
def greedy_uncached(model, prompt_ids: list[int], steps: int) -> list[int]:
    ids = list(prompt_ids)
    for _ in range(steps):
        ids.append(int(model(input_ids=torch.tensor([ids]), use_cache=False).logits[0, -1].argmax()))
    return ids[len(prompt_ids) :]


def cut_at_line(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit)
    return text[: cut + 1] if cut > limit // 3 else text[:limit]


def prompt_candidates(heldout: list[corpus.Document], tokenizer) -> dict[str, list[str]]:
    """Beginnings of held-out documents, 8..48 tokens, per category."""
    def fits(text: str) -> bool:
        n = len(tokenizer.encode(text, add_special_tokens=False).ids)
        return 8 <= n <= 48

    out: dict[str, list[str]] = {"code": [], "json": [], "prose": []}
    for doc in heldout:
        if doc.kind == "code" and len(out["code"]) < 3:
            lines = doc.text.split("\n")
            for i, line in enumerate(lines):
                if line.lstrip().startswith(("def ", "class ")) and i + 1 < len(lines):
                    text = "\n".join(lines[i : i + 2]) + "\n"
                    if fits(text):
                        out["code"].append(text)
                    break
        elif doc.kind in ("json", "json_synth") and len(out["json"]) < 3 and len(doc.text) > 120:
            text = cut_at_line(doc.text, 90)
            if "\n" not in text.strip():  # one-line JSON: end after a separator, before its space
                cut = text.rfind(",", 0, 90)
                text = text[: cut + 1] if cut > 20 else text
            if fits(text):
                out["json"].append(text)
        elif doc.kind == "docs" and len(out["prose"]) < 3:  # header blocks fail the word test below
            for paragraph in doc.text.split("\n\n"):
                words = paragraph.split()
                if len(words) >= 12 and sum(w.isalpha() for w in words) > 0.7 * len(words):
                    text = " ".join(words[:10])
                    if fits(text):
                        out["prose"].append(text)
                    break
    return out


def pick_prompts(model, tokenizer, candidates: dict[str, list[str]], steps: int):
    """2 code, 2 JSON, 1 prose: among the candidates, those whose greedy steps have the widest
    smallest top-1 margin, so the engine's comparison is not decided by rounding."""
    wanted = {"code": 2, "json": 2, "prose": 1}
    chosen = []
    for kind, texts in candidates.items():
        scored = []
        for text in texts:
            ids = tokenizer.encode(text, add_special_tokens=False).ids
            greedy, margins = greedy_cached(model, ids, steps)
            scored.append((min(margins), text, ids, greedy, margins))
        scored.sort(key=lambda s: -s[0])
        for n, (low, text, ids, greedy, margins) in enumerate(scored[: wanted[kind]]):
            chosen.append({"name": f"{kind}_{n + 1}", "kind": kind, "text": text, "prompt_ids": ids,
                           "greedy_ids": greedy, "greedy_text": tokenizer.decode(greedy, skip_special_tokens=False),
                           "min_margin": round(low, 5), "step_margins": [round(m, 5) for m in margins]})
    return chosen


TOKENIZER_CASES = [
    "Hello, world!",
    "def add(a, b):\n    return a + b\n",
    '{"name": "numpy", "version": "2.1.3", "requires": ["python>=3.10"], "ok": true, "n": null}',
    "    indented\n\tTabbed\r\nwindows line\n\n\n",
    "trailing spaces   \nand  double  spaces",
    "numbers 1234567 3.14159 -42 1e-6 0x1F",
    "I'm sure they'll say we've done what you'd expect, can't you?",
    "unicode: café naïve Ünïcödé 日本語のテキスト 😀 ∑∫√",
    "NFC: e\u0301 vs \u00e9",
    "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n",
    "end of document<|endoftext|>next document",
    "x = [i ** 2 for i in range(10) if i % 3 != 0]  # squares",
    "https://example.org/path?query=1&other=two#frag",
    "    ",
    "a",
]


def tokenizer_cases(tokenizer) -> list[dict[str, object]]:
    cases = []
    for text in TOKENIZER_CASES:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        cases.append({"text": text, "ids": ids, "decoded": tokenizer.decode(ids, skip_special_tokens=False)})
    return cases


# ---- files for the lab -----------------------------------------------------------------------


def heldout_text(heldout: list[corpus.Document]) -> str:
    budget = {"code": 16_000, "docs": 12_000, "json": 6_000, "json_synth": 6_000}
    parts = []
    for doc in heldout:
        if doc.kind == "docs" and doc.source.endswith("METADATA"):
            continue
        if budget.get(doc.kind, 0) <= 0:
            continue
        text = cut_at_line(doc.text, 4000).rstrip() + "\n"
        budget[doc.kind] -= len(text)
        parts.append(text)
    return "\n".join(parts)


def json_prompt_lines(heldout: list[corpus.Document], count: int = 32) -> list[str]:
    """Single-line JSON beginnings from held-out records, cut right after a ':' or ',' about a third
    of the way in (never after a space, which the tokenizer would otherwise strand as its own token)."""
    prompts = []
    for doc in heldout:
        text = doc.text.strip()
        if doc.kind not in ("json", "json_synth") or "\n" in text or not 60 <= len(text) <= 2000:
            continue
        cut = JSON_CUT.search(text, len(text) // 3)
        if cut is None or cut.end() > 200:
            continue
        prompts.append(text[: cut.end()])
        if len(prompts) == count:
            break
    return prompts


JSON_CUT = re.compile(r'":|,')


# ---- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--name", default=DEFAULT_NAME, help="folder name under models/ and tests/fixtures/reference/")
    parser.add_argument("--tokenizer", help="reuse this tokenizer.json instead of training one (same vocabulary)")
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seq", type=int, default=1024)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--vocab", type=int, default=6144)
    parser.add_argument("--hidden", type=int, default=192)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--experts", type=int, default=32)
    parser.add_argument("--top-k", type=int, default=8)
    parser.add_argument("--expert-size", type=int, default=64)
    parser.add_argument("--shared-size", type=int, default=128)
    parser.add_argument("--max-positions", type=int, default=4096)
    parser.add_argument("--aux-coef", type=float, default=0.01)
    parser.add_argument("--deadline", type=float, default=530.0, help="seconds from start by which all is written")
    parser.add_argument("--reserve", type=float, default=95.0, help="seconds kept for everything after training")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()

    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    import tokenizers
    import transformers
    from transformers import GenerationConfig, Qwen3_5MoeForCausalLM

    model_dir = os.path.join(args.out, "models", args.name)
    fixture_dir = os.path.join(args.out, "tests", "fixtures", "reference", args.name)
    os.makedirs(model_dir, exist_ok=True)
    os.makedirs(fixture_dir, exist_ok=True)
    phase = PhaseTimer()
    metrics: dict[str, object] = {
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "tokenizers": tokenizers.__version__, "python": platform.python_version(),
                     "gpu": torch.cuda.get_device_name(0)},
        "args": vars(args),
        "seed": SEED,
    }
    log(json.dumps(metrics["versions"]))

    with phase("corpus"):
        documents = corpus.build()
        random.Random(SEED).shuffle(documents)
        train_docs = [d for d in documents if not d.heldout]
        heldout_docs = sorted((d for d in documents if d.heldout), key=lambda d: corpus.stable_hash(d.source))
        corpus_summary = corpus.summary(documents)
        log(json.dumps(corpus_summary))

    with phase("tokenizer"):
        if args.tokenizer:
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(args.tokenizer)
            metrics["tokenizer_source"] = args.tokenizer
        else:
            sample, size = [], 0
            for doc in train_docs:  # a shuffled, kind-proportional 24 MB sample is plenty for 6k merges
                if size > 24_000_000:
                    break
                sample.append(doc.text)
                size += len(doc.text)
            tokenizer = train_tokenizer(sample, args.vocab)
        vocab_size = tokenizer.get_vocab_size()
        eos_id = tokenizer.token_to_id("<|endoftext|>")
        im_end_id = tokenizer.token_to_id("<|im_end|>")
        log(f"vocab {vocab_size}, eos {eos_id}, im_end {im_end_id}")

    with phase("encode"):
        train_encoded = encode_all(tokenizer, [d.text for d in train_docs])
        heldout_encoded = encode_all(tokenizer, [d.text for d in heldout_docs])
        train_stream = token_stream(train_encoded, eos_id)
        heldout_stream = token_stream(heldout_encoded, eos_id)
        for kind, row in corpus_summary.items():
            row["tokens"] = sum(len(ids) + 1 for d, ids in zip(train_docs, train_encoded) if d.kind == kind) + sum(
                len(ids) + 1 for d, ids in zip(heldout_docs, heldout_encoded) if d.kind == kind)
            row["bytes_per_token"] = round(row["bytes"] / row["tokens"], 2)
        log(f"train tokens {len(train_stream):,}, held-out tokens {len(heldout_stream):,}")
        metrics["corpus"] = {"train_tokens": len(train_stream), "heldout_tokens": len(heldout_stream),
                             "kinds": corpus_summary}

    with phase("model"):
        config = make_config(vocab_size, eos_id, args)
        torch.manual_seed(SEED)
        model = Qwen3_5MoeForCausalLM(config).cuda()
        counts = parameter_counts(config, model)
        metrics["parameters"] = counts
        log(f"parameters {json.dumps(counts)}; attn impl {model.config._attn_implementation}")
        stream_gpu = torch.from_numpy(train_stream).cuda()
        check = sample_windows(stream_gpu, 4, 128, torch.Generator(device="cuda").manual_seed(7))[:, :-1]
        log(f"experts implementation {getattr(model.config, '_experts_implementation', '?')}")
        torch.backends.cuda.matmul.allow_tf32 = False  # full fp32, so rounding cannot flip near-tied routes
        with torch.no_grad():
            try:
                stock = model(input_ids=check, use_cache=False).logits
            except Exception as error:  # the check is informative; training does not depend on it
                log(f"stock forward failed: {error!r}")
                stock = None
            set_dense_experts(model, True)
            dense = model(input_ids=check, use_cache=False).logits
        torch.backends.cuda.matmul.allow_tf32 = True
        if stock is not None:
            metrics["dense_vs_stock_max_abs_logit_diff"] = float((stock - dense).abs().max())
            log(f"dense experts vs stock, logits max |diff| {metrics['dense_vs_stock_max_abs_logit_diff']:.3g} "
                f"(fp32; logits abs max {float(dense.abs().max()):.3g})")
        if args.smoke:
            metrics["throughput_probe"] = throughput_probe(model, args, stream_gpu)
            torch.manual_seed(SEED)
            model = Qwen3_5MoeForCausalLM(config).cuda()
            set_dense_experts(model, True)

    with phase("train"):
        optimizer = make_optimizer(model, args)
        generator = torch.Generator(device="cuda").manual_seed(SEED)
        ce_history = torch.zeros(args.steps, device="cuda")
        model.train()
        train_deadline = args.deadline - args.reserve
        torch.cuda.synchronize()
        began = time.monotonic()
        steps_done = 0
        for step in range(args.steps):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, args)
            ce, aux, grad_norm = train_step(model, optimizer, sample_windows(stream_gpu, args.batch, args.seq,
                                                                             generator), args.aux_coef)
            ce_history[step] = ce
            steps_done = step + 1
            if step % 100 == 0 or step == args.steps - 1:
                elapsed = time.monotonic() - began
                log(f"step {step:5d} ce {ce.item():.4f} aux {aux.item():.3f} gnorm {grad_norm.item():.2f} "
                    f"lr {learning_rate(step, args):.2e} {steps_done * args.batch * args.seq / elapsed:,.0f} tok/s")
            if time.monotonic() - START > train_deadline:
                log(f"WALL-CLOCK GUARD: stopping after {steps_done} of {args.steps} steps")
                break
        torch.cuda.synchronize()
        train_seconds = time.monotonic() - began
        history = ce_history[:steps_done].cpu()
        metrics["training"] = {
            "steps_planned": args.steps, "steps_done": steps_done, "batch": args.batch, "seq": args.seq,
            "tokens_seen": steps_done * args.batch * args.seq, "seconds": round(train_seconds, 1),
            "tokens_per_second": round(steps_done * args.batch * args.seq / train_seconds),
            "final_train_ce_last50_steps": round(history[-50:].mean().item(), 4),
            "ce_every_100_steps": [round(v, 4) for v in history[::100].tolist()],
            "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
            "optimizer": f"AdamW lr {args.lr} betas (0.9, 0.95) wd 0.1 (matrices), warmup {args.warmup}, "
                         "cosine to 10%, grad clip 1.0, bf16 autocast, fp32 master weights",
        }

    with phase("save"):
        model.eval()
        set_dense_experts(model, False)
        model.to(torch.bfloat16)
        model.generation_config = GenerationConfig(eos_token_id=[eos_id, im_end_id], pad_token_id=eos_id,
                                                   do_sample=False)
        model.save_pretrained(model_dir)
        tokenizer.save(os.path.join(model_dir, "tokenizer.json"))
        with open(os.path.join(model_dir, "tokenizer_config.json"), "w") as f:
            json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": args.max_positions,
                       "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "bos_token": None,
                       "unk_token": None, "add_bos_token": False, "clean_up_tokenization_spaces": False,
                       "errors": "replace", "split_special_tokens": False}, f, indent=2)
        del model, optimizer, stream_gpu
        torch.cuda.empty_cache()
        log("saved: " + ", ".join(f"{n} {os.path.getsize(os.path.join(model_dir, n)):,}" for n in
                                  sorted(os.listdir(model_dir))))
        held_text = heldout_text(heldout_docs)
        with open(os.path.join(model_dir, "heldout.txt"), "w") as f:
            f.write(held_text)
        json_prompts = json_prompt_lines(heldout_docs)
        with open(os.path.join(model_dir, "json_prompts.txt"), "w") as f:
            f.write("\n".join(json_prompts) + "\n")

    with phase("evaluate saved model (stock classes, fp32, GPU)"):
        stock = load_stock(model_dir, "sdpa").cuda()
        eval_windows = 64 if args.smoke else 128
        heldout_loss, heldout_count = mean_loss(stock, stream_windows(heldout_stream, args.seq, eval_windows))
        train_loss, train_count = mean_loss(stock, sample_windows(
            torch.from_numpy(train_stream), eval_windows, args.seq, torch.Generator().manual_seed(SEED + 2)))
        held_ids = tokenizer.encode(held_text, add_special_tokens=False).ids
        file_windows = [held_ids[i : i + args.seq] for i in range(0, len(held_ids) - 1, args.seq)]
        file_total, file_count = 0.0, 0
        with torch.no_grad():
            for window in file_windows:
                if len(window) < 2:
                    continue
                x = torch.tensor([window]).cuda()
                logits = stock(input_ids=x[:, :-1], use_cache=False).logits.float()[0]
                file_total += F.cross_entropy(logits, x[0, 1:], reduction="sum").item()
                file_count += len(window) - 1
        metrics["evaluation"] = {
            "uniform_loss": round(math.log(vocab_size), 4), "uniform_perplexity": vocab_size,
            "train_loss": round(train_loss, 4), "train_perplexity": round(math.exp(train_loss), 2),
            "train_tokens_scored": train_count,
            "heldout_loss": round(heldout_loss, 4), "heldout_perplexity": round(math.exp(heldout_loss), 2),
            "heldout_tokens_scored": heldout_count,
            "heldout_txt": {"tokens": len(held_ids), "windows": len(file_windows), "window": args.seq,
                            "loss": round(file_total / file_count, 4),
                            "perplexity": round(math.exp(file_total / file_count), 2),
                            "method": f"tokenize heldout.txt without special tokens, split into consecutive "
                                      f"{args.seq}-token windows, score tokens 2..n of each window independently"},
        }
        log(json.dumps(metrics["evaluation"]))
        metrics["routing"] = routing_statistics(stock, stream_windows(heldout_stream, args.seq, 64), config)
        log(json.dumps({k: v for k, v in metrics["routing"].items() if k != "layers"}))
        for row in metrics["routing"]["layers"]:
            log(f"layer {row['layer']} {row['type']}: entropy {row['entropy_bits']} top1 {row['top1_share']} "
                f"top4 {row['top4_share']} reuse {row['reuse_next_token']}")
        metrics["json_validity"] = json_validity(stock, tokenizer, json_prompts, eos_id)
        log(f"json validity: {metrics['json_validity']['valid_with_eos']}/{len(json_prompts)} with EOS, "
            f"{metrics['json_validity']['valid_prefix']} prefix")
        samples = {}
        sample_prompts = {k: v[0] for k, v in prompt_candidates(heldout_docs, tokenizer).items() if v}
        continuations = batched_greedy(stock, [tokenizer.encode(t, add_special_tokens=False).ids
                                               for t in sample_prompts.values()], 64, eos_id, None)
        for (kind, text), ids in zip(sample_prompts.items(), continuations):
            samples[kind] = {"prompt": text, "continuation": tokenizer.decode(ids, skip_special_tokens=False)}
        metrics["samples"] = samples
        del stock
        torch.cuda.empty_cache()

    with phase("reference outputs (stock classes, fp32, CPU)"):
        reference = load_stock(model_dir, "eager")
        code_doc = next(d for d, ids in zip(heldout_docs, heldout_encoded) if d.kind == "code" and len(ids) >= 64)
        input_ids = np.array(tokenizer.encode(code_doc.text, add_special_tokens=False).ids[:64], dtype=np.int64)
        with torch.no_grad():
            logits = reference(input_ids=torch.from_numpy(input_ids)[None], use_cache=False).logits[0].float()
        np.save(os.path.join(fixture_dir, "input_ids.npy"), input_ids)
        np.save(os.path.join(fixture_dir, "logits.npy"), logits.numpy().astype(np.float32))
        top2 = torch.topk(logits, 2, dim=-1).values
        logits_info = {"source": code_doc.source, "text": tokenizer.decode(input_ids.tolist()),
                       "argmax": logits.argmax(-1).tolist(),
                       "min_top1_margin": round(float((top2[:, 0] - top2[:, 1]).min()), 5),
                       "abs_max": round(float(logits.abs().max()), 4)}
        candidates = prompt_candidates(heldout_docs, tokenizer)
        log("prompt candidates: " + json.dumps({k: len(v) for k, v in candidates.items()}))
        prompts = pick_prompts(reference, tokenizer, candidates, 32)
        for p in prompts:
            p["uncached_greedy_ids"] = greedy_uncached(reference, p["prompt_ids"], 32)
            p["uncached_agrees"] = p["uncached_greedy_ids"] == p["greedy_ids"]
            log(f"{p['name']}: min margin {p['min_margin']:.4f}, uncached agrees {p['uncached_agrees']}: "
                f"{p['text']!r} -> {p['greedy_text']!r}")
        min_margin = min(p["min_margin"] for p in prompts)
        note = ("greedy argmax for 32 new tokens after the prompt ids; EOS is not a stop; no BOS is prepended; "
                "greedy_ids come from the transformers cache path (prefill then one token at a time), "
                "uncached_greedy_ids from a full forward per step")
        with open(os.path.join(fixture_dir, "prompts.json"), "w") as f:
            json.dump({"model": f"models/{args.name}", "generation": note, "steps": 32,
                       "min_margin": min_margin, "prompts": prompts}, f, indent=1, ensure_ascii=False)
        try:
            from transformers import AutoTokenizer

            auto = AutoTokenizer.from_pretrained(model_dir)
            same = all(auto.encode(t, add_special_tokens=False) == tokenizer.encode(t, add_special_tokens=False).ids
                       for t in TOKENIZER_CASES)
            metrics["auto_tokenizer"] = f"{type(auto).__name__}, same ids as tokenizer.json: {same}"
        except Exception as error:
            metrics["auto_tokenizer"] = f"AutoTokenizer failed: {error!r}"
        log(metrics["auto_tokenizer"])
        with open(os.path.join(fixture_dir, "tokenizer_cases.json"), "w") as f:
            json.dump({"tokenizer": f"models/{args.name}/tokenizer.json", "add_special_tokens": False,
                       "cases": tokenizer_cases(tokenizer)}, f, indent=1, ensure_ascii=False)
        reference_info = {
            "model": f"models/{args.name}",
            "how": "Qwen3_5MoeForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation='eager', "
                   "experts_implementation='eager') on CPU: the bf16 weights upcast, float32 math",
            "versions": metrics["versions"],
            "input_ids.npy": "int64 [64]: the first 64 tokens of a held-out source file",
            "logits.npy": f"float32 [64, {vocab_size}]: logits at every position, one forward without cache",
            "logits_info": logits_info,
            "prompts.json": note,
            "greedy_min_margin": min_margin,
        }
        with open(os.path.join(fixture_dir, "reference.json"), "w") as f:
            json.dump(reference_info, f, indent=1, ensure_ascii=False)
        log(f"logits min top1 margin {logits_info['min_top1_margin']}, greedy min margin {min_margin}")
        metrics["references"] = {"greedy_min_margin": min_margin, "logits_min_margin": logits_info["min_top1_margin"],
                                 "uncached_agrees_all": all(p["uncached_agrees"] for p in prompts)}

    metrics["phase_seconds"] = phase.seconds
    metrics["total_seconds"] = round(time.monotonic() - START, 1)
    with open(os.path.join(model_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1, ensure_ascii=False)
    with open(os.path.join(model_dir, "corpus.json"), "w") as f:
        json.dump(corpus_record(documents, corpus_summary), f, indent=1)
    with open(os.path.join(model_dir, "README.md"), "w") as f:
        f.write(model_card(args.name, config, metrics))
    log(f"all written in {metrics['total_seconds']}s")


def corpus_record(documents: list[corpus.Document], kinds: dict) -> dict[str, object]:
    packages: dict[str, dict[str, int]] = {}
    for doc in documents:
        row = packages.setdefault(corpus.package_of(doc.source.split("#")[0]), {})
        row[doc.kind] = row.get(doc.kind, 0) + len(doc.text.encode("utf-8"))
    return {
        "recipe": {
            "roots": corpus.scan_roots(),
            "kinds": {"code": "*.py, *.pyi", "docs": "*.md, *.rst, *.txt (not licences or packaging lists) and "
                      "dist-info METADATA", "json": "*.json that parse (minified ones re-indented)",
                      "json_synth": "records from module sources and METADATA (past the code cap, further code "
                      "files in the same order feed records only), json.dumps with varied indent, key order and "
                      "separators"},
            "size_limits_bytes": corpus.SIZE_LIMITS, "caps_bytes": corpus.DEFAULT_CAPS,
            "package_share_cap": corpus.PACKAGE_SHARE,
            "order": "candidates sorted by sha1 of 'label:relpath'; exact duplicates dropped",
            "split": f"held out when int(sha1('split:'+source)[:8 bytes]) % 1000 < {corpus.HELDOUT_PER_MILLE}; "
                     "synthesised records follow their source file",
            "special_strings": "<|endoftext|>, <|im_start|>, <|im_end|> written without the bars",
            "shuffle_seed": SEED,
        },
        "kinds": kinds,
        "heldout_sources": sorted({d.source.split("#")[0] for d in documents if d.heldout}),
        "bytes_by_package": dict(sorted(packages.items(), key=lambda kv: -sum(kv[1].values()))),
    }


def model_card(name: str, config, m: dict) -> str:
    p, t, e, r = m["parameters"], m["training"], m["evaluation"], m["routing"]
    kinds = m["corpus"]["kinds"]
    corpus_rows = "\n".join(
        f"| {k} | {v['docs']:,} | {v['bytes'] / 1e6:.1f} MB | {v['tokens']:,} | {v['bytes_per_token']} | "
        f"{v['heldout_docs']:,} docs, {v['heldout_bytes'] / 1e6:.2f} MB |" for k, v in kinds.items())
    routing_rows = "\n".join(
        f"| {row['layer']} | {row['type']} | {row['entropy_bits']:.3f} | {row['top1_share']:.3f} | "
        f"{row['top4_share']:.3f} | {row['least_share']:.4f} | {row['reuse_next_token']:.3f} |" for row in r["layers"])
    samples = "\n\n".join(
        f"**{kind}** — prompt:\n\n```\n{s['prompt']}\n```\n\ngreedy continuation:\n\n```\n"
        f"{s['continuation']}\n```" for kind, s in m.get("samples", {}).items())
    jv = m["json_validity"]
    guard = "" if t["steps_done"] == t["steps_planned"] else (
        f"\n**Note:** the wall-clock guard stopped training after {t['steps_done']} of {t['steps_planned']} steps.\n")
    if m.get("tokenizer_source"):
        tokenizer_origin = (f"the tokenizer of the first model, reused unchanged (`{m['tokenizer_source']}`), so "
                            "prompts and traces tokenize alike: byte-level BPE trained with HF `tokenizers` on a 24 MB "
                            "sample of the training split")
    else:
        tokenizer_origin = "byte-level BPE trained with HF `tokenizers` on a 24 MB sample of the training\nsplit"
    return f"""# {name}

A small Qwen3.5-MoE (`qwen3_5_moe_text`, `Qwen3_5MoeForCausalLM`) trained from scratch for the
streammoe engine and lab: real weights with real routing, small enough to ship in the repository.
Made by `tools/train_tiny_moe.py` (corpus recipe in `tools/corpus.py`) on one {m['versions']['gpu']}
with torch {m['versions']['torch']}, transformers {m['versions']['transformers']}, tokenizers
{m['versions']['tokenizers']}. All numbers below are in `metrics.json`.

## Architecture

| | |
| --- | --- |
| layers | {config.num_hidden_layers}: `{', '.join(t_[0] for t_ in config.layer_types)}` (l = Gated DeltaNet linear attention, f = gated full attention) |
| hidden size | {config.hidden_size} |
| full attention | {config.num_attention_heads} query heads, {config.num_key_value_heads} KV heads, head_dim {config.head_dim}, output gate, q/k RMSNorm, partial RoPE (factor 0.25, theta 10000) |
| linear attention | {config.linear_num_key_heads} key heads x {config.linear_key_head_dim}, {config.linear_num_value_heads} value heads x {config.linear_value_head_dim}, conv kernel {config.linear_conv_kernel_dim} |
| MoE | {config.num_experts} routed experts (intermediate {config.moe_intermediate_size}), top-{config.num_experts_per_tok}, softmax then top-k renormalised; 1 shared expert (intermediate {config.shared_expert_intermediate_size}) with sigmoid gate |
| vocabulary | {config.vocab_size} (byte-level BPE, 3 special tokens at the end), untied embeddings |
| max positions | {config.max_position_embeddings} (trained on {t['seq']}-token windows) |
| weights | bf16 safetensors; save_pretrained writes the experts per expert (`mlp.experts.N.gate_proj/up_proj/down_proj.weight`) |

Parameters: **{p['total']:,} total**, **{p['active_per_token']:,} active per token**
({p['total_non_embedding']:,} / {p['active_non_embedding']:,} without embeddings and lm_head;
one routed expert is {p['per_expert']:,} parameters, {p['per_expert'] * 2:,} bytes in bf16).

## Tokenizer

`tokenizer.json`: {tokenizer_origin}: NFC normalizer; pre-tokenizer Split(Qwen regex, isolated) + ByteLevel(add_prefix_space=false,
use_regex=false); ByteLevel decoder; specials `<|endoftext|>` ({config.vocab_size - 3}), `<|im_start|>`
({config.vocab_size - 2}), `<|im_end|>` ({config.vocab_size - 1}). No BOS token is prepended;
documents end with `<|endoftext|>`, which is also the EOS (generation_config also stops at `<|im_end|>`).

## Corpus

Built on the GPU machine from its Python installation (no internet): the standard library and
site-packages sources, their documentation files and dist-info METADATA, the .json files found
there, and JSON records synthesised from module and package metadata (module summaries, function
signatures, classes, package metadata; compact, indented or key-sorted). Files are taken in the
order of a hash of their name up to a byte cap per kind (and 12% of a cap per top-level package);
exact duplicates are dropped. A document is held out when sha1 of its source name falls in the
lowest 2% (records synthesised from a file share its split). `corpus.json` lists the recipe, the
held-out files and the bytes per package.

| kind | documents | text | tokens | bytes/token | held out |
| --- | --- | --- | --- | --- | --- |
{corpus_rows}

## Training

{t['steps_done']:,} steps of {t['batch']} x {t['seq']} tokens = {t['tokens_seen'] / 1e6:.1f}M tokens
(about {t['tokens_seen'] / m['corpus']['train_tokens']:.1f} epochs of {m['corpus']['train_tokens'] / 1e6:.1f}M training tokens)
in {t['seconds']:.0f} s ({t['tokens_per_second']:,} tokens/s); {t['optimizer']}; load-balancing loss
coefficient {config.router_aux_loss_coef}; seed {m['seed']} (GPU kernels are not bitwise deterministic).
Training used a dense equivalent of the experts' forward (all experts, weighted by the top-k
router weights, zero elsewhere); every number here comes from the saved bf16 checkpoint run by the
stock transformers classes in float32.
{guard}
## Quality

| | loss (nats/token) | perplexity |
| --- | --- | --- |
| uniform over the vocabulary | {e['uniform_loss']:.3f} | {e['uniform_perplexity']:,} |
| training split ({e['train_tokens_scored']:,} tokens) | {e['train_loss']:.3f} | {e['train_perplexity']:.2f} |
| held-out split ({e['heldout_tokens_scored']:,} tokens) | {e['heldout_loss']:.3f} | {e['heldout_perplexity']:.2f} |
| `heldout.txt` ({e['heldout_txt']['tokens']:,} tokens) | {e['heldout_txt']['loss']:.3f} | {e['heldout_txt']['perplexity']:.2f} |

Training and held-out losses are over {t['seq']}-token windows (random windows of the training
stream; consecutive windows of the held-out stream). `heldout.txt` ({e['heldout_txt']['method']})
is held-out code, docs and JSON for the engine's perplexity evaluation. Last 50 training steps'
mean cross-entropy: {t['final_train_ce_last50_steps']:.3f}.

JSON: of the {jv['prompts']} prompts in `json_prompts.txt` (single-line beginnings of held-out JSON
records, one per line), greedy decoding (at most {jv['max_new_tokens']} tokens) gives valid JSON
ending with `<|endoftext|>` for **{jv['valid_with_eos']}**, and a valid JSON value at the start of the
text for {jv['valid_prefix']}.

## Routing statistics

Over {r['tokens']:,} held-out tokens: popularity of each expert among the top-{config.num_experts_per_tok}
choices, its entropy (uniform: {r['uniform_entropy_bits']} bits), the share of choices taken by
the most popular expert (uniform {r['uniform_top1_share']}) and by the 4 most popular (uniform
{r['uniform_top4_share']}), the least popular expert's share, and the fraction of a token's experts
that the previous token also used (independent uniform routing: K/E = {r['uniform_reuse']}).

| layer | type | entropy (bits) | top-1 share | top-4 share | least share | reused by next token |
| --- | --- | --- | --- | --- | --- | --- |
{routing_rows}

## Samples (greedy, 64 tokens, stock transformers in float32, EOS not a stop)

{samples}

## Files

config.json, model.safetensors, generation_config.json, tokenizer.json, tokenizer_config.json,
metrics.json (every number above), corpus.json (recipe and held-out list), heldout.txt,
json_prompts.txt. Reference outputs for the engine's tests are in
`tests/fixtures/reference/{name}/` (see its reference.json).
"""


if __name__ == "__main__":
    main()
