"""Markdown tables for a model card from `streammoe eval --expert-stats FILE`.

    build/bin/streammoe eval --model DIR --text-file DIR/heldout.txt --max-tokens 4096 --expert-stats stats.json
    python3 tools/expert_stats_md.py stats.json DIR/config.json

Prints, per MoE layer, the popularity entropy, the shares of the most popular expert, of the 10%
most popular experts and of the least popular one, and the share of a token's experts that the
previous token also used (each beside its value under independent uniform routing); then the LRU
stack distances of the (layer, expert) accesses and the hit rate an LRU cache of C blocks would get
(the accesses whose stack distance is below C). Standard library only.
"""

from __future__ import annotations

import json
import math
import sys


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: expert_stats_md.py STATS_JSON CONFIG_JSON")
    with open(sys.argv[1]) as f:
        stats = json.load(f)
    with open(sys.argv[2]) as f:
        config = json.load(f)
    config = config.get("text_config", config)
    experts, top_k = stats["num_experts"], config["num_experts_per_tok"]
    layer_types = config.get("layer_types") or ["?"] * len(stats["layers"])
    top10 = max(1, experts // 10)
    print(f"{stats['tokens']:,} tokens; uniform routing: entropy {math.log2(experts):.1f} bits, top-1 share "
          f"{1 / experts:.4f}, top-10% ({top10} experts) share {top10 / experts:.3f}, reuse K/E = {top_k / experts:.4f}\n")
    print("| layer | type | entropy (bits) | top-1 share | top-10% share | least share | never chosen | "
          "reused by next token |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in stats["layers"]:
        counts = sorted(row["counts"], reverse=True)
        total = sum(counts)
        print(f"| {row['layer']} | {layer_types[row['layer']]} | {row['popularity_entropy_bits']:.3f} | "
              f"{counts[0] / total:.3f} | {row['top10pct_share']:.3f} | {counts[-1] / total:.4f} | "
              f"{sum(c == 0 for c in counts)} | {row['reuse_from_previous_token']:.3f} |")
    accesses, cold = stats["accesses"], stats["cold_accesses"]
    buckets = [b for b in stats["stack_distance_histogram"] if b["count"]]
    print(f"\nLRU stack distances of the {accesses:,} (layer, expert) accesses ({cold:,} cold); "
          "bucket lower bound: accesses")
    print(", ".join(f"{b['min_distance']}: {b['count']}" for b in buckets))
    blocks = len(stats["layers"]) * experts
    print(f"\n| LRU capacity (blocks of {blocks}) | " + " | ".join(
        str(1 << k) for k in range(4, int(math.log2(blocks)) + 1)) + " |")
    print("| --- |" + " --- |" * (int(math.log2(blocks)) - 3))
    rates = []
    for k in range(4, int(math.log2(blocks)) + 1):
        # bucket [m, 2m) lies below the power of two C exactly when m < C
        hits = sum(b["count"] for b in stats["stack_distance_histogram"] if b["min_distance"] < (1 << k))
        rates.append(f"{hits / accesses:.3f}")
    print("| hit rate | " + " | ".join(rates) + " |")


if __name__ == "__main__":
    main()
