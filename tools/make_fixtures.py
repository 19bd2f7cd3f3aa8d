#!/usr/bin/env python3
"""Tiny random-weight Qwen3.5-MoE / Qwen3-MoE checkpoints and their transformers reference outputs.

Each fixture is built with transformers' own classes, every parameter is redrawn from a seeded
generator, the checkpoint is written the way the real model family ships it, RELOADED with
from_pretrained(dtype=float32), and the reloaded model produces the references on CPU in float32:

    reference/<name>/input_ids.npy      int64   [64]       seeded random prompt
    reference/<name>/logits.npy         float32 [64, V]    model(input_ids).logits[0], no cache
    reference/<name>/greedy_ids.npy     int64   [16]       generate(do_sample=False, use_cache=True)
    reference/<name>/greedy_logits.npy  float32 [16, V]    the logits that chose each greedy token
    reference/<name>/meta.json          config summary, tensor layout, margins, seed
    reference/index.json                manifest of all fixtures (rebuilt from the meta.json files)
    models/<name>/                      config.json + *.safetensors (+ index for sharded)

A seed is accepted only when argmax is a well-posed test: at every prompt and greedy position
top-1 beats top-2 by more than 1e-2 * max(1, |top1|), and at every router call the k-th expert
beats the (k+1)-th by more than ROUTER_GAP, so float32 rounding differences between engines
cannot flip a token or an expert choice.

Run on the GPU machine (torch + transformers 5.x; the compute is on CPU):
    PYTHONUNBUFFERED=1 python3 tools/make_fixtures.py --out $OUT/fx
Rebuild reference/index.json from existing meta.json files (no torch needed):
    python3 tools/make_fixtures.py --out tests/fixtures --index-only
"""

import argparse
import inspect
import json
import math
import os
import re
import shutil
import sys
import time
import traceback
from pathlib import Path

PROMPT_LEN = 64
NEW_TOKENS = 16
MARGIN_REL = 1e-2      # top1 - top2 > MARGIN_REL * max(1, |top1|)
ROUTER_GAP = 5e-4      # router logit gap between the k-th and (k+1)-th expert
MIN_DISTINCT = 4       # prefer continuations that are not one repeated token
MAX_ATTEMPTS = 300     # seeds tried per fixture
STRICT_ATTEMPTS = 240  # the first ones also demand MIN_DISTINCT greedy tokens
LM_HEAD_ROW_SIGMA = 1.2  # log-normal spread of output-row norms: heavy-tailed logits, clear top-1
# Init scales a fixture may override ("init_variants", tried in turn, one per seed).
DEFAULT_INIT = {"embed_std": 1.0, "row_sigma": LM_HEAD_ROW_SIGMA, "out_scale": 1.0}

# One entry per fixture. `config` holds constructor kwargs for the config class named by `kind`;
# `expect` is checked against the built model so a config field that transformers ignores or
# renames fails loudly instead of producing a fixture that tests less than its name says.
FIXTURES = [
    {
        "name": "q35_text_f32",
        "kind": "q35_text",
        "storage": "float32",
        "writer": "save_pretrained",
        "base_seed": 1000,
        "exercises": "Qwen3_5MoeForCausalLM (qwen3_5_moe_text, tensors under model.), f32, "
                     "layers [linear x3, full], partial rotary 0.25, K=2 of 8, linear value "
                     "heads 4 vs key heads 2 (repeat_interleave), per-expert tensors",
        "config": dict(
            vocab_size=320, hidden_size=48, num_hidden_layers=4,
            layer_types=["linear_attention", "linear_attention", "linear_attention", "full_attention"],
            num_attention_heads=4, num_key_value_heads=2, head_dim=16,
            partial_rotary_factor=0.25,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25},
            linear_conv_kernel_dim=4, linear_key_head_dim=16, linear_value_head_dim=16,
            linear_num_key_heads=2, linear_num_value_heads=4,
            num_experts=8, num_experts_per_tok=2, moe_intermediate_size=32,
            shared_expert_intermediate_size=48, rms_norm_eps=1e-6, tie_word_embeddings=False,
        ),
        "expect": dict(rotary_dim=4, head_dim=16, tied=False),
    },
    {
        "name": "q35_vl_bf16_sharded",
        "kind": "q35_vl",
        "storage": "bfloat16",
        "writer": "save_pretrained",
        "min_shards": 3,
        "base_seed": 2000,
        "exercises": "Qwen3_5MoeForConditionalGeneration (qwen3_5_moe, nested text_config, tensors "
                     "under model.language_model.), bf16, >=3 shards + index, layers [linear, full, "
                     "linear, linear, full], partial rotary 0.5, 8 q / 2 kv heads, head_dim 16, "
                     "K=4 of 16, linear value heads == key heads",
        "config": dict(
            text_config=dict(
                vocab_size=512, hidden_size=64, num_hidden_layers=5,
                layer_types=["linear_attention", "full_attention", "linear_attention",
                             "linear_attention", "full_attention"],
                num_attention_heads=8, num_key_value_heads=2, head_dim=16,
                partial_rotary_factor=0.5,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                 "partial_rotary_factor": 0.5, "mrope_section": [2, 1, 1],
                                 "mrope_interleaved": True},
                linear_conv_kernel_dim=4, linear_key_head_dim=16, linear_value_head_dim=16,
                linear_num_key_heads=4, linear_num_value_heads=4,
                num_experts=16, num_experts_per_tok=4, moe_intermediate_size=16,
                shared_expert_intermediate_size=32, rms_norm_eps=1e-6, tie_word_embeddings=False,
            ),
            vision_config=dict(
                depth=1, hidden_size=32, intermediate_size=64, num_heads=2, in_channels=3,
                patch_size=2, temporal_patch_size=2, spatial_merge_size=2, out_hidden_size=64,
                num_position_embeddings=16,
            ),
            tie_word_embeddings=False,
        ),
        "expect": dict(rotary_dim=8, head_dim=16, tied=False),
    },
    {
        "name": "q35_fused_f16",
        "kind": "q35_text",
        "storage": "float16",
        "writer": "fused_save_file",
        "base_seed": 3000,
        # Tied rows are also the inputs: a large-norm row dominates the residual stream and
        # predicts itself, so greedy decoding locks onto one token. Smaller embedding rows and
        # larger block outputs (out_scale on o_proj/out_proj/down_proj) keep the blocks in charge.
        "init_variants": [
            {"embed_std": 0.3, "row_sigma": 0.8, "out_scale": 3.0},
            {"embed_std": 0.1, "row_sigma": 0.8, "out_scale": 1.0},
            {"embed_std": 0.3, "row_sigma": 0.8, "out_scale": 6.0},
        ],
        "exercises": "qwen3_5_moe_text with fused 3-D experts (mlp.experts.gate_up_proj [E,2I,H], "
                     "down_proj [E,H,I]) written by safetensors save_file, f16 storage, conv kernel 3, "
                     "K=1 of 4, shared expert size != expert size, tied embeddings (no lm_head "
                     "tensor), linear value heads 6 vs key heads 2",
        "config": dict(
            vocab_size=256, hidden_size=32, num_hidden_layers=3,
            layer_types=["linear_attention", "full_attention", "linear_attention"],
            num_attention_heads=2, num_key_value_heads=1, head_dim=16,
            partial_rotary_factor=0.25,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25},
            linear_conv_kernel_dim=3, linear_key_head_dim=8, linear_value_head_dim=8,
            linear_num_key_heads=2, linear_num_value_heads=6,
            num_experts=4, num_experts_per_tok=1, moe_intermediate_size=24,
            shared_expert_intermediate_size=40, rms_norm_eps=1e-6, tie_word_embeddings=True,
        ),
        "expect": dict(rotary_dim=4, head_dim=16, tied=True),
    },
    {
        "name": "q3moe_f32",
        "kind": "q3moe",
        "storage": "float32",
        "writer": "save_pretrained",
        "base_seed": 4000,
        "exercises": "Qwen3MoeForCausalLM (qwen3_moe), f32, norm_topk_prob=True, GQA 4 q / 2 kv, "
                     "mlp_only_layers=[1] (dense MLP, intermediate_size 80 != moe 24), K=2 of 8, "
                     "head_dim not in the config (hidden/heads = 12)",
        "config": dict(
            vocab_size=384, hidden_size=48, intermediate_size=80, num_hidden_layers=4,
            num_attention_heads=4, num_key_value_heads=2,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
            num_experts=8, num_experts_per_tok=2, moe_intermediate_size=24,
            norm_topk_prob=True, mlp_only_layers=[1], decoder_sparse_step=1,
            rms_norm_eps=1e-6, tie_word_embeddings=False,
        ),
        "expect": dict(rotary_dim=12, head_dim=12, tied=False, moe_layers=[True, False, True, True]),
    },
    {
        "name": "q3moe_bf16",
        "kind": "q3moe",
        "storage": "bfloat16",
        "writer": "save_pretrained",
        "base_seed": 5000,
        "exercises": "qwen3_moe, bf16, norm_topk_prob=False, decoder_sparse_step=2 (layers 1,3 MoE, "
                     "0,2 dense), head_dim 16 != hidden/heads 10, rope_theta 1e6, 4 q / 1 kv heads, "
                     "K=3 of 6",
        "config": dict(
            vocab_size=448, hidden_size=40, intermediate_size=56, num_hidden_layers=4,
            num_attention_heads=4, num_key_value_heads=1, head_dim=16,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
            num_experts=6, num_experts_per_tok=3, moe_intermediate_size=20,
            norm_topk_prob=False, mlp_only_layers=[], decoder_sparse_step=2,
            rms_norm_eps=1e-6, tie_word_embeddings=False,
        ),
        "expect": dict(rotary_dim=16, head_dim=16, tied=False, rope_theta=1e6,
                       moe_layers=[False, True, False, True]),
    },
]


def log(msg):
    print(msg, flush=True)


# --------------------------------------------------------------------------------------------
# Model construction
# --------------------------------------------------------------------------------------------

def model_class(kind):
    import transformers as tf
    return {
        "q35_text": tf.Qwen3_5MoeForCausalLM,
        "q35_vl": tf.Qwen3_5MoeForConditionalGeneration,
        "q3moe": tf.Qwen3MoeForCausalLM,
    }[kind]


def make_config(spec):
    import transformers as tf
    kind, cfg = spec["kind"], json.loads(json.dumps(spec["config"]))  # deep copy
    if kind == "q35_text":
        config = tf.Qwen3_5MoeTextConfig(**cfg)
    elif kind == "q35_vl":
        config = tf.Qwen3_5MoeConfig(**cfg)
    else:
        config = tf.Qwen3MoeConfig(**cfg)
        if "head_dim" in cfg and getattr(config, "head_dim", None) != cfg["head_dim"]:
            setattr(config, "head_dim", cfg["head_dim"])  # real Qwen3 configs carry it
    return config


def text_config_of(model, kind):
    return model.config.text_config if kind == "q35_vl" else model.config


def text_model_of(model, kind):
    return model.model.language_model if kind == "q35_vl" else model.model


def use_eager(model):
    """Plain per-expert loops and explicit attention: the math the engine mirrors."""
    for setter in ("set_attn_implementation", "set_experts_implementation"):
        try:
            getattr(model, setter)("eager")
        except Exception as exc:  # older/newer API: report, the reload path also asks for eager
            log(f"    note: {setter}('eager') failed: {exc!r}")


def check_structure(model, spec):
    """Fail if the built model does not have the shape the fixture promises."""
    kind, expect = spec["kind"], spec["expect"]
    tcfg = text_config_of(model, kind)
    tm = text_model_of(model, kind)
    problems = []
    rotary_dim = 2 * tm.rotary_emb.inv_freq.numel()
    if rotary_dim != expect["rotary_dim"]:
        problems.append(f"rotary dim {rotary_dim} != {expect['rotary_dim']}")
    if "rope_theta" in expect:
        theta = tcfg.rope_parameters["rope_theta"]
        if abs(theta - expect["rope_theta"]) > 1e-3 * expect["rope_theta"]:
            problems.append(f"rope_theta {theta} != {expect['rope_theta']}")
    attn = next(layer.self_attn for layer in tm.layers if hasattr(layer, "self_attn"))
    if attn.head_dim != expect["head_dim"]:
        problems.append(f"head_dim {attn.head_dim} != {expect['head_dim']}")
    tied = model.lm_head.weight.data_ptr() == tm.embed_tokens.weight.data_ptr()
    if tied != expect["tied"]:
        problems.append(f"tied embeddings {tied} != {expect['tied']}")
    if kind.startswith("q35"):
        got = ["linear_attention" if hasattr(layer, "linear_attn") else "full_attention" for layer in tm.layers]
        if got != list(tcfg.layer_types):
            problems.append(f"layer kinds {got} != {tcfg.layer_types}")
    if "moe_layers" in expect:
        got = [hasattr(layer.mlp, "experts") for layer in tm.layers]
        if got != expect["moe_layers"]:
            problems.append(f"moe layers {got} != {expect['moe_layers']}")
    if problems:
        raise RuntimeError(f"{spec['name']}: structure check failed: " + "; ".join(problems))


def perturb(model, spec, generator, init):
    """Redraw every parameter so that no default init (ones, zeros) hides a missing term."""
    import torch

    kind = spec["kind"]
    hidden = text_config_of(model, kind).hidden_size
    tied = spec["expect"]["tied"]
    qwen35_norm = kind.startswith("q35")  # Qwen3.5 RMSNorm is (1 + w) * x_hat

    def normal(shape, std, mean=0.0):
        return torch.randn(shape, generator=generator, dtype=torch.float32) * std + mean

    def row_scale(rows):
        return torch.exp(normal((rows, 1), init["row_sigma"]))

    # Projections that write into the residual stream.
    writes_residual = ("o_proj.weight", "linear_attn.out_proj.weight", "experts.down_proj",
                       "shared_expert.down_proj.weight")

    def draw_scaled(name, shape):
        value = draw(name, shape)
        if init["out_scale"] != 1.0 and name.endswith(writes_residual):
            value = value * init["out_scale"]
        return value

    def draw(name, shape):
        if name.startswith("model.visual."):  # vision tower: unused by text, but not left at init
            if len(shape) == 1:
                return normal(shape, 0.1, 1.0 if "norm" in name and name.endswith("weight") else 0.0)
            return normal(shape, 1.0 / math.sqrt(math.prod(shape[1:])))
        if name.endswith("A_log"):
            return torch.log(torch.rand(shape, generator=generator) * 1.45 + 0.05)
        if name.endswith("dt_bias"):
            return normal(shape, 0.5)
        if name.endswith("conv1d.weight"):  # [channels, 1, kernel]
            return normal(shape, 1.0 / math.sqrt(shape[-1]))
        if len(shape) == 1 and "norm" in name:
            if qwen35_norm and not name.endswith("linear_attn.norm.weight"):
                return normal(shape, 0.2)          # stored w, applied as (1 + w)
            return normal(shape, 0.2, 1.0)         # gated norm and Qwen3 norms: w applied as is
        if name.endswith("embed_tokens.weight"):
            w = normal(shape, init["embed_std"])
            return w * row_scale(shape[0]) if tied else w
        if name == "lm_head.weight":
            return normal(shape, 2.0 / math.sqrt(hidden)) * row_scale(shape[0])
        if name.endswith("mlp.gate.weight"):  # router: decisive expert choice
            return normal(shape, 2.0 / math.sqrt(shape[1]))
        if name.endswith("experts.gate_up_proj") or name.endswith("experts.down_proj"):
            return normal(shape, 1.0 / math.sqrt(shape[2]))  # [E, out, in]
        if len(shape) == 2:
            return normal(shape, 1.0 / math.sqrt(shape[1]))
        if len(shape) == 1:
            return normal(shape, 0.1)
        raise RuntimeError(f"{spec['name']}: no perturbation rule for {name} {tuple(shape)}")

    with torch.no_grad():
        for name, param in sorted(model.named_parameters(), key=lambda item: item[0]):
            param.copy_(draw_scaled(name, tuple(param.shape)).to(param.dtype))


def build_model(spec, seed, init):
    import torch

    torch.manual_seed(seed)
    config = make_config(spec)
    model = model_class(spec["kind"])(config)
    model.eval()
    use_eager(model)
    check_structure(model, spec)
    generator = torch.Generator().manual_seed(seed)
    perturb(model, spec, generator, init)
    # Round every value to the storage dtype now, so the in-memory float32 model computes with
    # exactly the numbers the reloaded checkpoint will hold.
    storage = getattr(torch, spec["storage"])
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(param.to(storage).to(torch.float32))
    return model


# --------------------------------------------------------------------------------------------
# Reference computation and acceptance
# --------------------------------------------------------------------------------------------

def relative_margins(logits):
    import torch
    top2 = torch.topk(logits, 2, dim=-1).values
    return (top2[:, 0] - top2[:, 1]) / torch.clamp(top2[:, 0].abs(), min=1.0)


def evaluate(model, input_ids):
    """Forward without cache, greedy generation with cache, plus the checks around them."""
    import torch

    router_gaps = []

    def router_hook(module, _inputs, output):
        router_logits = (output[0] if isinstance(output, tuple) else output).float()
        k = module.top_k
        if k < router_logits.shape[-1]:
            ranked = torch.sort(router_logits, dim=-1, descending=True).values
            router_gaps.append(float((ranked[:, k - 1] - ranked[:, k]).min()))

    routers = [m for m in model.modules() if type(m).__name__.endswith("TopKRouter")]
    if not routers:
        raise RuntimeError("no TopKRouter module found: cannot check router margins")
    handles = [m.register_forward_hook(router_hook) for m in routers]
    ids = torch.as_tensor(input_ids, dtype=torch.long).unsqueeze(0)
    try:
        with torch.no_grad():
            logits = model(input_ids=ids, use_cache=False).logits[0].float().clone()
            again = model(input_ids=ids, use_cache=False).logits[0].float()
            generated = model.generate(
                input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False, num_beams=1,
                max_new_tokens=NEW_TOKENS, use_cache=True, output_logits=True,
                return_dict_in_generate=True)
    finally:
        for handle in handles:
            handle.remove()
    greedy_ids = generated.sequences[0, PROMPT_LEN:].clone()
    greedy_logits = torch.stack([step[0] for step in generated.logits]).float()
    if greedy_ids.numel() != NEW_TOKENS or greedy_logits.shape[0] != NEW_TOKENS:
        raise RuntimeError(f"generate returned {greedy_ids.numel()} tokens, {greedy_logits.shape[0]} logits")
    # The cached decode path (recurrent delta rule, KV cache) against one uncached forward over
    # prompt + continuation: how far apart transformers' own two paths are.
    with torch.no_grad():
        extended = torch.cat([ids, greedy_ids[None, :-1]], dim=1)
        full = model(input_ids=extended, use_cache=False).logits[0, PROMPT_LEN - 1:].float()
    return {
        "logits": logits,
        "greedy_ids": greedy_ids,
        "greedy_logits": greedy_logits,
        "deterministic": bool(torch.equal(logits, again)),
        "router_min_gap": min(router_gaps),
        "router_calls": len(router_gaps),
        "prompt_margin": float(relative_margins(logits).min()),
        "greedy_margin": float(relative_margins(greedy_logits).min()),
        "greedy_is_argmax": bool(torch.equal(greedy_logits.argmax(-1), greedy_ids)),
        "full_argmax_matches": bool(torch.equal(full.argmax(-1), greedy_ids)),
        "prefill_vs_forward_max_abs": float((greedy_logits[0] - logits[-1]).abs().max()),
        "cached_vs_full_max_abs": float((greedy_logits - full).abs().max()),
        "distinct_greedy": int(torch.unique(greedy_ids).numel()),
        "logit_std": float(logits.std()),
        "finite": bool(torch.isfinite(logits).all() and torch.isfinite(greedy_logits).all()),
    }


def judge(result, require_distinct):
    """Return the list of reasons this seed is rejected (empty: accepted)."""
    reasons = []
    if not result["finite"]:
        reasons.append("non-finite logits")
    if not result["deterministic"]:
        reasons.append("two forwards differ")
    if result["prompt_margin"] <= MARGIN_REL:
        reasons.append(f"prompt margin {result['prompt_margin']:.2e}")
    if result["greedy_margin"] <= MARGIN_REL:
        reasons.append(f"greedy margin {result['greedy_margin']:.2e}")
    if not result["greedy_is_argmax"]:
        reasons.append("greedy token != argmax of its logits")
    if not result["full_argmax_matches"]:
        reasons.append("uncached forward disagrees with cached greedy")
    if result["router_min_gap"] <= ROUTER_GAP:
        reasons.append(f"router gap {result['router_min_gap']:.2e}")
    if result["logit_std"] < 1.0:
        reasons.append(f"logit std {result['logit_std']:.2f}")
    if require_distinct and result["distinct_greedy"] < MIN_DISTINCT:
        reasons.append(f"{result['distinct_greedy']} distinct greedy tokens")
    return reasons


# --------------------------------------------------------------------------------------------
# Writing and reloading checkpoints
# --------------------------------------------------------------------------------------------

def set_config_dtype(config, dtype):
    for cfg in (config, getattr(config, "text_config", None)):
        if cfg is None:
            continue
        try:
            cfg.dtype = dtype
        except Exception as exc:
            log(f"    note: cannot set config dtype: {exc!r}")


def save_kwargs(model):
    params = inspect.signature(model.save_pretrained).parameters
    return {"safe_serialization": True} if "safe_serialization" in params else {}


def write_with_save_pretrained(model, spec, model_dir):
    import torch

    storage = getattr(torch, spec["storage"])
    model.to(storage)
    set_config_dtype(model.config, storage)
    min_shards = spec.get("min_shards")
    if not min_shards:
        model.save_pretrained(model_dir, **save_kwargs(model))
        return
    total_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    shard_bytes = max(total_bytes // (min_shards + 2), 1024)
    for _ in range(6):
        if model_dir.exists():
            shutil.rmtree(model_dir)
        model.save_pretrained(model_dir, max_shard_size=shard_bytes, **save_kwargs(model))
        shards = sorted(model_dir.glob("*.safetensors"))
        if len(shards) >= min_shards and (model_dir / "model.safetensors.index.json").exists():
            return
        shard_bytes //= 2
    raise RuntimeError(f"{spec['name']}: could not get {min_shards} shards (last {len(shards)})")


def write_fused(model, spec, model_dir):
    """The in-memory transformers-5 layout written verbatim: fused 3-D expert tensors."""
    import torch
    from safetensors.torch import save_file

    storage = getattr(torch, spec["storage"])
    tied = spec["expect"]["tied"]
    tensors = {}
    for name, tensor in model.state_dict().items():
        if tied and name == "lm_head.weight":
            continue  # tied to model.embed_tokens.weight: not stored, as save_pretrained does
        tensors[name] = tensor.detach().to(storage).contiguous().clone()
    model_dir.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(model_dir / "model.safetensors"), metadata={"format": "pt"})
    model.config.architectures = [type(model).__name__]
    set_config_dtype(model.config, storage)
    model.config.save_pretrained(model_dir)
    try:
        model.generation_config.save_pretrained(model_dir)
    except Exception as exc:
        log(f"    note: generation_config not written: {exc!r}")


def reload(spec, model_dir):
    import torch

    cls = model_class(spec["kind"])
    kwargs = dict(dtype=torch.float32, attn_implementation="eager", experts_implementation="eager",
                  output_loading_info=True)
    try:
        model, info = cls.from_pretrained(model_dir, **kwargs)
    except TypeError as exc:
        if "experts_implementation" not in str(exc):
            raise
        kwargs.pop("experts_implementation")
        model, info = cls.from_pretrained(model_dir, **kwargs)
    model.eval()
    use_eager(model)
    return model, {k: sorted(map(str, v)) for k, v in info.items() if v}


def inventory(model_dir):
    """Tensor names, dtypes and files as written: what the engine's loader will see."""
    from safetensors import safe_open

    tensors = {}
    for path in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as handle:
            for name in handle.keys():
                sl = handle.get_slice(name)
                tensors[name] = {"file": path.name, "dtype": str(sl.get_dtype()), "shape": list(sl.get_shape())}
    return tensors


def check_layout(spec, tensors):
    names = list(tensors)
    per_expert = any(re.search(r"\.mlp\.experts\.\d+\.", n) for n in names)
    fused = any(n.endswith("mlp.experts.gate_up_proj") for n in names)
    layout = "per_expert" if per_expert and not fused else "fused" if fused and not per_expert else "mixed"
    problems = []
    text_prefix = "model.language_model." if spec["kind"] == "q35_vl" else "model."
    for n in names:
        if n == "lm_head.weight" or n.startswith("model.visual."):
            continue
        if not n.startswith(text_prefix) or (spec["kind"] != "q35_vl" and n.startswith("model.language_model.")):
            problems.append(f"{n} not under {text_prefix}")
    if spec["expect"]["tied"] == ("lm_head.weight" in tensors):
        problems.append(f"lm_head.weight stored={'lm_head.weight' in tensors} but tied={spec['expect']['tied']}")
    if spec["writer"] == "fused_save_file" and layout != "fused":
        problems.append(f"expected fused experts, found {layout}")
    if problems:
        raise RuntimeError(f"{spec['name']}: layout check failed: " + "; ".join(problems[:5]))
    return layout


# --------------------------------------------------------------------------------------------
# One fixture end to end
# --------------------------------------------------------------------------------------------

def make_fixture(spec, out_root):
    import numpy as np
    import torch

    name = spec["name"]
    model_dir = out_root / "models" / name
    ref_dir = out_root / "reference" / name
    vocab = None
    started = time.time()
    rejected = []
    for attempt in range(MAX_ATTEMPTS):
        seed = spec["base_seed"] + attempt
        require_distinct = attempt < STRICT_ATTEMPTS
        variants = spec.get("init_variants", [{}])
        init = {**DEFAULT_INIT, **variants[attempt % len(variants)]}
        model = build_model(spec, seed, init)
        vocab = text_config_of(model, spec["kind"]).vocab_size
        input_ids = np.random.default_rng(seed).integers(0, vocab, size=PROMPT_LEN, dtype=np.int64)
        result = evaluate(model, input_ids)
        reasons = judge(result, require_distinct)
        if reasons:
            rejected.append(seed)
            log(f"  {name} seed {seed}: rejected in memory: {', '.join(reasons)}")
            continue

        snapshot = {k: v.detach().clone().float() for k, v in model.state_dict().items()}
        param_count = sum(p.numel() for p in model.parameters())
        if model_dir.exists():
            shutil.rmtree(model_dir)
        if spec["writer"] == "save_pretrained":
            write_with_save_pretrained(model, spec, model_dir)
        else:
            write_fused(model, spec, model_dir)
        del model

        reloaded, loading_info = reload(spec, model_dir)
        check_structure(reloaded, spec)
        state = reloaded.state_dict()
        if set(state) != set(snapshot):
            raise RuntimeError(f"{name}: reloaded keys differ: missing {sorted(set(snapshot) - set(state))[:5]}, "
                               f"extra {sorted(set(state) - set(snapshot))[:5]}")
        differing = [k for k in snapshot if not torch.equal(state[k].float(), snapshot[k])]
        if differing:
            raise RuntimeError(f"{name}: from_pretrained did not load the written values: {differing[:5]}")
        tensors = inventory(model_dir)
        layout = check_layout(spec, tensors)

        final = evaluate(reloaded, input_ids)
        reasons = judge(final, require_distinct)
        if reasons:
            rejected.append(seed)
            log(f"  {name} seed {seed}: rejected after reload: {', '.join(reasons)}")
            continue
        if not torch.equal(final["logits"], result["logits"]):
            log(f"  {name}: note: reloaded logits differ from in-memory by "
                f"{float((final['logits'] - result['logits']).abs().max()):.2e}")

        if ref_dir.exists():
            shutil.rmtree(ref_dir)
        ref_dir.mkdir(parents=True)
        np.save(ref_dir / "input_ids.npy", np.ascontiguousarray(input_ids, dtype="<i8"))
        np.save(ref_dir / "logits.npy", np.ascontiguousarray(final["logits"].numpy(), dtype="<f4"))
        np.save(ref_dir / "greedy_ids.npy", np.ascontiguousarray(final["greedy_ids"].numpy(), dtype="<i8"))
        np.save(ref_dir / "greedy_logits.npy", np.ascontiguousarray(final["greedy_logits"].numpy(), dtype="<f4"))

        config_json = json.loads((model_dir / "config.json").read_text())
        text_json = config_json.get("text_config", config_json)
        dtypes = {}
        for info in tensors.values():
            dtypes[info["dtype"]] = dtypes.get(info["dtype"], 0) + 1
        files = {p.name: p.stat().st_size for p in sorted(model_dir.iterdir())}
        tcfg = text_config_of(reloaded, spec["kind"])
        meta = {
            "name": name,
            "exercises": spec["exercises"],
            "model_dir": f"models/{name}",
            "reference_dir": f"reference/{name}",
            "architecture": type(reloaded).__name__,
            "model_type": config_json.get("model_type"),
            "text_model_type": text_json.get("model_type"),
            "storage_dtype": spec["storage"],
            "writer": spec["writer"],
            "expert_layout": layout,
            "tied_embeddings": spec["expect"]["tied"],
            "vocab_size": tcfg.vocab_size,
            "hidden_size": tcfg.hidden_size,
            "num_layers": tcfg.num_hidden_layers,
            "num_experts": tcfg.num_experts,
            "experts_per_tok": tcfg.num_experts_per_tok,
            "config_has_head_dim": "head_dim" in text_json,
            "seed": seed,
            "init": init,
            "seeds_rejected": len(rejected),
            "parameters": param_count,
            "files": files,
            "shards": sum(1 for f in files if f.endswith(".safetensors")),
            "tensor_count": len(tensors),
            "tensor_dtypes": dtypes,
            "loading_info": loading_info,
            "prompt_len": PROMPT_LEN,
            "new_tokens": NEW_TOKENS,
            "greedy_ids": final["greedy_ids"].tolist(),
            "checks": {k: final[k] for k in (
                "prompt_margin", "greedy_margin", "router_min_gap", "router_calls", "logit_std",
                "distinct_greedy", "prefill_vs_forward_max_abs", "cached_vs_full_max_abs",
                "deterministic", "greedy_is_argmax", "full_argmax_matches")},
            "thresholds": {"margin_rel": MARGIN_REL, "router_gap": ROUTER_GAP},
            "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__},
            "seconds": round(time.time() - started, 1),
        }
        (ref_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        log(f"  {name}: accepted seed {seed} after {len(rejected)} rejected, layout {layout}, "
            f"{meta['shards']} file(s), loading_info {loading_info or 'clean'}")
        return meta
    raise RuntimeError(f"{name}: no seed in {MAX_ATTEMPTS} attempts passed the checks")


# --------------------------------------------------------------------------------------------
# Manifest and summary
# --------------------------------------------------------------------------------------------

INDEX_FIELDS = ("name", "model_dir", "reference_dir", "architecture", "model_type", "text_model_type",
                "storage_dtype", "expert_layout", "tied_embeddings", "shards", "vocab_size",
                "hidden_size", "num_layers", "num_experts", "experts_per_tok", "prompt_len",
                "new_tokens", "seed", "exercises")


def write_index(out_root):
    """reference/index.json from every reference/*/meta.json, in the FIXTURES order."""
    order = {spec["name"]: i for i, spec in enumerate(FIXTURES)}
    metas = []
    for path in sorted((out_root / "reference").glob("*/meta.json")):
        metas.append(json.loads(path.read_text()))
    metas.sort(key=lambda m: (order.get(m["name"], len(order)), m["name"]))
    index = {
        "generated_by": "tools/make_fixtures.py",
        "paths_relative_to": "tests/fixtures",
        "files": ["input_ids.npy", "logits.npy", "greedy_ids.npy", "greedy_logits.npy", "meta.json"],
        "margin_rel": MARGIN_REL,
        "fixtures": [{k: m[k] for k in INDEX_FIELDS if k in m} for m in metas],
    }
    path = out_root / "reference" / "index.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(index, indent=2) + "\n")
    return metas


def print_summary(metas):
    header = (f"{'name':22} {'dtype':9} {'layout':10} {'params':>8} {'bytes':>9} {'shards':>6} "
              f"{'logit_std':>9} {'min_margin':>10} {'router_gap':>10} {'cache_diff':>10} {'seed':>5}")
    log(header)
    log("-" * len(header))
    for m in metas:
        c = m["checks"]
        size = sum(m["files"].values())
        margin = min(c["prompt_margin"], c["greedy_margin"])
        log(f"{m['name']:22} {m['storage_dtype']:9} {m['expert_layout']:10} {m['parameters']:>8} {size:>9} "
            f"{m['shards']:>6} {c['logit_std']:>9.3f} {margin:>10.4f} {c['router_min_gap']:>10.4f} "
            f"{c['cached_vs_full_max_abs']:>10.2e} {m['seed']:>5}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="folder that receives models/ and reference/")
    parser.add_argument("--only", nargs="*", default=None, help="fixture names to build (default: all)")
    parser.add_argument("--index-only", action="store_true", help="only rebuild reference/index.json")
    args = parser.parse_args()

    if args.index_only:
        print_summary(write_index(args.out))
        return 0

    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # the references are CPU float32 by design
    import torch
    import transformers

    torch.set_num_threads(1)  # fixed reduction order, independent of the machine's core count
    torch.use_deterministic_algorithms(True, warn_only=True)
    transformers.logging.set_verbosity_error()
    log(f"torch {torch.__version__}, transformers {transformers.__version__}, numpy "
        f"{__import__('numpy').__version__}, python {sys.version.split()[0]}")

    wanted = [s for s in FIXTURES if args.only is None or s["name"] in args.only]
    unknown = set(args.only or []) - {s["name"] for s in FIXTURES}
    if unknown:
        log(f"unknown fixtures: {sorted(unknown)}")
        return 2
    failed = []
    for spec in wanted:
        log(f"== {spec['name']}")
        try:
            make_fixture(spec, args.out)
        except Exception:
            failed.append(spec["name"])
            traceback.print_exc()
            sys.stdout.flush()
    metas = write_index(args.out)
    print_summary(metas)
    if failed:
        log(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
