#!/usr/bin/env python3
"""Tiny MLX 4-bit checkpoints in the layout mlx_lm.convert writes, each with its Hugging Face twin.

Pure Python (no numpy, no mlx): safetensors is written by hand. For each fixture:

    tests/fixtures/mlx/<name>/        config.json with "quantization" (+ "quantization_config"),
                                      model.safetensors: every Linear/Embedding whose input dim the
                                      group size divides is affine-quantised (weight uint32 codes,
                                      scales/biases bf16), experts stacked as
                                      mlp.switch_mlp.{gate,up,down}_proj.{weight,scales,biases};
                                      routers (mlp.gate, shared_expert_gate) at 8 bits, as
                                      mlx_lm's Qwen3.5/Qwen3-MoE quant_predicate asks
    tests/fixtures/mlx/<name>_hf/     the same model as transformers names and lays it out: experts
                                      fused [E, 2I, H] / [E, H, I] in f32 holding exactly
                                      q * scale + bias; quantised resident weights as
                                      bf16(f32(q * scale + bias)), what `streammoe pack` writes when
                                      it dequantises them

Qwen3.5 specifics that mlx_lm's sanitize() applies and the packer must undo: tensors live under
language_model.model. (lm_head under language_model.), conv1d weights are [C, K, 1], and the
RMSNorm weights applied as (1 + w) (input/post-attention/final/q/k norms) are stored as w + 1.

Quantisation per group of 64 consecutive values of a row: scale = bf16((max - min) / (2^b - 1)),
bias = bf16(min), q = clamp(round((w - bias) / scale)); codes packed little end first into
uint32 words (8 per word at 4 bits, 4 at 8 bits).

Usage: python3 tools/make_mlx_fixture.py [--out tests/fixtures/mlx]
"""

import argparse
import array
import json
import math
import random
import struct
from pathlib import Path

GROUP = 64


# ---- number formats --------------------------------------------------------------------------

def f32_bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f32_round(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def bf16_bits(x):
    """Round to nearest even, from the f32 value (as torch and the engine do)."""
    b = f32_bits(f32_round(x))
    return ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) & 0xFFFF


def bf16_value(bits):
    return struct.unpack("<f", struct.pack("<I", bits << 16))[0]


# ---- quantisation ----------------------------------------------------------------------------

class Quantised:
    def __init__(self, rows, cols, values, bits):
        self.rows, self.cols, self.bits = rows, cols, bits
        levels = (1 << bits) - 1
        per_word = 32 // bits
        self.words = [0] * (rows * cols // per_word)
        self.scales, self.biases = [], []
        self.dequant = [0.0] * (rows * cols)  # exact q * scale + bias (float64)
        for r in range(rows):
            for g in range(cols // GROUP):
                chunk = values[r * cols + g * GROUP:r * cols + (g + 1) * GROUP]
                lo, hi = min(chunk), max(chunk)
                s_bits = bf16_bits(max((hi - lo) / levels, 1e-8))
                b_bits = bf16_bits(lo)
                s, b = bf16_value(s_bits), bf16_value(b_bits)
                self.scales.append(s_bits)
                self.biases.append(b_bits)
                for i, v in enumerate(chunk):
                    q = min(max(int(round((v - b) / s)), 0), levels)
                    col = g * GROUP + i
                    index = r * cols + col
                    self.words[index // per_word] |= q << ((col % per_word) * bits)
                    self.dequant[index] = q * s + b


# ---- safetensors -----------------------------------------------------------------------------

DTYPE_BYTES = {"F32": 4, "BF16": 2, "U32": 4}


def write_safetensors(path, tensors):
    """tensors: list of (name, dtype, shape, bytes)."""
    header, offset = {"__metadata__": {"format": "mlx"}}, 0
    for name, dtype, shape, data in tensors:
        assert len(data) == math.prod(shape) * DTYPE_BYTES[dtype], name
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text.encode())
        for _, _, _, data in tensors:
            f.write(data)


def u32(values):
    return array.array("I", values).tobytes()


def u16(values):
    return array.array("H", values).tobytes()


def f32(values):
    return array.array("f", values).tobytes()


def bf16(values):
    return u16([bf16_bits(v) for v in values])


# ---- fixtures --------------------------------------------------------------------------------

def qwen35_text():
    return {
        "model_type": "qwen3_5_moe_text", "vocab_size": 256, "hidden_size": 64, "num_hidden_layers": 2,
        "layer_types": ["linear_attention", "full_attention"],
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "attn_output_gate": True,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25},
        "linear_conv_kernel_dim": 4, "linear_key_head_dim": 16, "linear_value_head_dim": 16,
        "linear_num_key_heads": 2, "linear_num_value_heads": 4,
        "num_experts": 8, "num_experts_per_tok": 2, "moe_intermediate_size": 64,
        "shared_expert_intermediate_size": 64, "rms_norm_eps": 1e-6, "tie_word_embeddings": False,
    }


FIXTURES = {
    "q35_mlx4": {
        "config": {"architectures": ["Qwen3_5MoeForConditionalGeneration"], "model_type": "qwen3_5_moe",
                   "tie_word_embeddings": False, "text_config": qwen35_text()},
        "hf_prefix": "model.language_model.", "mlx_prefix": "language_model.model.",
        "hf_head": "lm_head.weight", "mlx_head": "language_model.lm_head.weight",
        "qwen35": True, "seed": 35,
    },
    "q3moe_mlx4": {
        "config": {"architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "vocab_size": 192,
                   "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                   "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
                   "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0},
                   "num_experts": 8, "num_experts_per_tok": 2, "moe_intermediate_size": 64,
                   "norm_topk_prob": True, "mlp_only_layers": [0], "rms_norm_eps": 1e-6,
                   "tie_word_embeddings": False},
        "hf_prefix": "model.", "mlx_prefix": "model.", "hf_head": "lm_head.weight", "mlx_head": "lm_head.weight",
        "qwen35": False, "seed": 3,
    },
}


def resident_shapes(c, qwen35):
    """(name relative to the text prefix, shape, kind) for every non-expert tensor."""
    H, V = c["hidden_size"], c["vocab_size"]
    out = [("embed_tokens.weight", [V, H], "embed"), ("norm.weight", [H], "norm")]
    dense_layers = set(c.get("mlp_only_layers", []))
    for l in range(c["num_hidden_layers"]):
        L = f"layers.{l}."
        out += [(L + "input_layernorm.weight", [H], "norm"), (L + "post_attention_layernorm.weight", [H], "norm")]
        linear = qwen35 and c["layer_types"][l] == "linear_attention"
        if linear:
            kd, vd = c["linear_num_key_heads"] * c["linear_key_head_dim"], c["linear_num_value_heads"] * c["linear_value_head_dim"]
            vh, conv = c["linear_num_value_heads"], 2 * kd + vd
            a = L + "linear_attn."
            out += [(a + "in_proj_qkv.weight", [conv, H], "linear"), (a + "in_proj_z.weight", [vd, H], "linear"),
                    (a + "in_proj_b.weight", [vh, H], "linear"), (a + "in_proj_a.weight", [vh, H], "linear"),
                    (a + "out_proj.weight", [H, vd], "linear_out"), (a + "conv1d.weight", [conv, 1, c["linear_conv_kernel_dim"]], "conv"),
                    (a + "A_log", [vh], "a_log"), (a + "dt_bias", [vh], "dt_bias"),
                    (a + "norm.weight", [c["linear_value_head_dim"]], "gated_norm")]
        else:
            hd, nh, kv = c["head_dim"], c["num_attention_heads"], c["num_key_value_heads"]
            q_rows = nh * hd * (2 if c.get("attn_output_gate") else 1)
            a = L + "self_attn."
            out += [(a + "q_proj.weight", [q_rows, H], "linear"), (a + "k_proj.weight", [kv * hd, H], "linear"),
                    (a + "v_proj.weight", [kv * hd, H], "linear"), (a + "o_proj.weight", [H, nh * hd], "linear_out"),
                    (a + "q_norm.weight", [hd], "norm"), (a + "k_norm.weight", [hd], "norm")]
        m = L + "mlp."
        if l in dense_layers:
            I = c["intermediate_size"]
            out += [(m + "gate_proj.weight", [I, H], "linear"), (m + "up_proj.weight", [I, H], "linear"),
                    (m + "down_proj.weight", [H, I], "linear_out")]
            continue
        out.append((m + "gate.weight", [c["num_experts"], H], "router"))
        S = c.get("shared_expert_intermediate_size", 0)
        if S:
            out += [(m + "shared_expert.gate_proj.weight", [S, H], "linear"),
                    (m + "shared_expert.up_proj.weight", [S, H], "linear"),
                    (m + "shared_expert.down_proj.weight", [H, S], "linear_out"),
                    (m + "shared_expert_gate.weight", [1, H], "router")]
    return out


def draw(rng, kind, shape, qwen35):
    n = math.prod(shape)
    fan_in = shape[-1]
    if kind == "norm":
        mean = 0.0 if qwen35 else 1.0  # Qwen3.5 scales by (1 + w)
        return [rng.gauss(mean, 0.1) for _ in range(n)]
    if kind == "gated_norm":
        return [rng.gauss(1.0, 0.1) for _ in range(n)]
    if kind == "a_log":
        return [math.log(0.05 + 1.45 * rng.random()) for _ in range(n)]
    if kind == "dt_bias":
        return [rng.gauss(0.0, 0.5) for _ in range(n)]
    if kind == "conv":
        return [rng.gauss(0.0, 1.0 / math.sqrt(fan_in)) for _ in range(n)]
    if kind == "embed":
        return [rng.gauss(0.0, 1.0) for _ in range(n)]
    if kind == "router":
        return [rng.gauss(0.0, 2.0 / math.sqrt(fan_in)) for _ in range(n)]
    if kind == "head":  # log-normal row norms: a clear top-1
        out = []
        for _ in range(shape[0]):
            row_scale = math.exp(0.8 * rng.gauss(0.0, 1.0))
            out += [rng.gauss(0.0, 2.0 / math.sqrt(fan_in)) * row_scale for _ in range(shape[1])]
        return out
    scale = 0.5 if kind == "linear_out" else 1.0
    return [rng.gauss(0.0, scale / math.sqrt(fan_in)) for _ in range(n)]


def build(name, spec, out_root):
    rng = random.Random(spec["seed"])
    config = spec["config"]
    c = config.get("text_config", config)
    qwen35 = spec["qwen35"]
    mlx, hf = [], []
    quant_overrides = {}

    def add_quantised(rel_hf, rel_mlx, shape, values, bits):
        q = Quantised(shape[0], shape[1], values, bits)
        mlx.append((rel_mlx + ".weight", "U32", [shape[0], shape[1] * bits // 32], u32(q.words)))
        mlx.append((rel_mlx + ".scales", "BF16", [shape[0], shape[1] // GROUP], u16(q.scales)))
        mlx.append((rel_mlx + ".biases", "BF16", [shape[0], shape[1] // GROUP], u16(q.biases)))
        hf.append((rel_hf, "BF16", shape, bf16(q.dequant)))  # bf16(f32(q*s+b)), as pack writes it
        if bits != 4:
            quant_overrides[rel_mlx] = {"group_size": GROUP, "bits": bits}

    shapes = resident_shapes(c, qwen35)
    if not c.get("tie_word_embeddings"):
        shapes.append(("__head__", [c["vocab_size"], c["hidden_size"]], "head"))
    for rel, shape, kind in shapes:
        values = draw(rng, kind, shape, qwen35)
        if rel == "__head__":
            hf_name, mlx_name = spec["hf_head"], spec["mlx_head"]
        else:
            hf_name, mlx_name = spec["hf_prefix"] + rel, spec["mlx_prefix"] + rel
        if len(shape) == 2 and kind not in ("conv",) and shape[1] % GROUP == 0:
            add_quantised(hf_name, mlx_name[:-len(".weight")], shape, values, 8 if kind == "router" else 4)
        elif kind == "conv":  # MLX layout [C, K, 1], same values in the same order
            hf.append((hf_name, "BF16", shape, bf16(values)))
            mlx.append((mlx_name, "BF16", [shape[0], shape[2], 1], bf16(values)))
        elif kind == "norm" and qwen35:  # mlx_lm stores w + 1
            shifted = [bf16_value(bf16_bits(v + 1.0)) for v in values]
            mlx.append((mlx_name, "BF16", shape, u16([bf16_bits(v) for v in shifted])))
            hf.append((hf_name, "F32", shape, f32([v - 1.0 for v in shifted])))
        else:
            hf.append((hf_name, "BF16", shape, bf16(values)))
            mlx.append((mlx_name, "BF16", shape, bf16(values)))

    E, I, H = c["num_experts"], c["moe_intermediate_size"], c["hidden_size"]
    for l in range(c["num_hidden_layers"]):
        if l in set(c.get("mlp_only_layers", [])):
            continue
        fused = {"gate_up": [], "down": []}
        stacked = {p: {"weight": [], "scales": [], "biases": []} for p in ("gate_proj", "up_proj", "down_proj")}
        for e in range(E):
            for proj, rows, cols in (("gate_proj", I, H), ("up_proj", I, H), ("down_proj", H, I)):
                values = draw(rng, "linear_out" if proj == "down_proj" else "linear", [rows, cols], qwen35)
                q = Quantised(rows, cols, values, 4)
                stacked[proj]["weight"] += q.words
                stacked[proj]["scales"] += q.scales
                stacked[proj]["biases"] += q.biases
                fused["down" if proj == "down_proj" else "gate_up"].append((proj, q.dequant))
        gate_up = []
        for e in range(E):  # per expert: gate rows, then up rows
            gate_up += fused["gate_up"][2 * e][1] + fused["gate_up"][2 * e + 1][1]
        down = [v for _, d in fused["down"] for v in d]
        base_hf = f"{spec['hf_prefix']}layers.{l}.mlp.experts."
        hf.append((base_hf + "gate_up_proj", "F32", [E, 2 * I, H], f32(gate_up)))
        hf.append((base_hf + "down_proj", "F32", [E, H, I], f32(down)))
        base_mlx = f"{spec['mlx_prefix']}layers.{l}.mlp.switch_mlp."
        for proj, rows, cols in (("gate_proj", I, H), ("up_proj", I, H), ("down_proj", H, I)):
            mlx.append((base_mlx + proj + ".weight", "U32", [E, rows, cols // 8], u32(stacked[proj]["weight"])))
            mlx.append((base_mlx + proj + ".scales", "BF16", [E, rows, cols // GROUP], u16(stacked[proj]["scales"])))
            mlx.append((base_mlx + proj + ".biases", "BF16", [E, rows, cols // GROUP], u16(stacked[proj]["biases"])))

    quantization = {"group_size": GROUP, "bits": 4, "mode": "affine", **quant_overrides}
    mlx_dir, hf_dir = out_root / name, out_root / f"{name}_hf"
    for d in (mlx_dir, hf_dir):
        d.mkdir(parents=True, exist_ok=True)
    write_safetensors(mlx_dir / "model.safetensors", sorted(mlx))
    write_safetensors(hf_dir / "model.safetensors", sorted(hf))
    (hf_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (mlx_dir / "config.json").write_text(
        json.dumps({**config, "quantization": quantization, "quantization_config": quantization}, indent=2) + "\n")
    print(f"{name}: {len(mlx)} MLX tensors, {len(hf)} HF tensors")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "tests/fixtures/mlx")
    args = parser.parse_args()
    for name, spec in FIXTURES.items():
        build(name, spec, args.out)


if __name__ == "__main__":
    main()
