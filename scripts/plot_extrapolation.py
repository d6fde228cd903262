#!/usr/bin/env python3
"""Plots for goatlm's length-extrapolation results (headless, matplotlib Agg).

Input: one `goatlm extrapolate` JSON (schema goatlm.extrapolate/1) or a study's results.json
(goatlm.study/1, several variants x seeds). Output PNGs in --out:
  ppl_vs_length.png   NO (and SW, FT) perplexity vs evaluation length, log-x, one line per variant
  per_position.png    PP: mean loss per position bin vs position, log-x, training length marked
  passkey.png         passkey accuracy heatmaps (length x depth), one panel per variant
  sinks.png           sink bars: mean excess attention to token 0 per layer, per variant
Study mode averages over seeds (error bars: std). Lengths that a variant does not define
("not defined beyond N") are simply absent from its line.

usage: /usr/bin/python3 scripts/plot_extrapolation.py RESULTS.json --out DIR [--dpi 80]
"""
import argparse
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load_runs(path):
    """{variant: [extrapolate-json, ...]} and the training length."""
    with open(path) as f:
        r = json.load(f)
    schema = r.get("schema", "")
    if schema.startswith("goatlm.study"):
        runs = {v["name"]: list(r["runs"].get(v["name"], {}).values()) for v in r["variants"]}
        runs = {k: v for k, v in runs.items() if v}
    elif schema.startswith("goatlm.extrapolate"):
        runs = {r.get("variant", "model"): [r]}
    else:
        sys.exit(f"{path}: unknown schema {schema!r}")
    any_run = next(iter(runs.values()))[0]
    return runs, any_run["protocol"]["train_len"]


def mean_std(xs):
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return m, sd


def by_length(seeds, rows_of, metric):
    acc = {}
    for run in seeds:
        for row in rows_of(run) or []:
            if metric in row and isinstance(row[metric], (int, float)):
                acc.setdefault(row["length"], []).append(row[metric])
    ls = sorted(acc)
    return ls, [mean_std(acc[L]) for L in ls]


def plot_ppl(runs, T, out, dpi):
    modes = [m for m in ("no", "sw", "ft") if any(m in s for seeds in runs.values() for s in seeds)]
    fig, axes = plt.subplots(1, len(modes), figsize=(5 * len(modes), 4), squeeze=False)
    for ax, mode in zip(axes[0], modes):
        for name, seeds in runs.items():
            ls, st = by_length(seeds, lambda r: r.get(mode), "ppl")
            if ls:
                ax.errorbar(ls, [m for m, _ in st], yerr=[s for _, s in st], marker="o", capsize=3, label=name)
        ax.axvline(T, color="gray", ls=":", lw=1)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("evaluation length L (tokens)")
        ax.set_ylabel("perplexity")
        ax.set_title(f"{mode.upper()} (train length {T})")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "ppl_vs_length.png"), dpi=dpi)
    plt.close(fig)


def plot_pp(runs, T, out, dpi):
    fig, ax = plt.subplots(figsize=(6, 4))
    drawn = False
    for name, seeds in runs.items():
        curves = [s["pp"]["bins"] for s in seeds if isinstance(s.get("pp"), dict) and "bins" in s["pp"]]
        if not curves:
            continue
        xs = [max(1, (b["lo"] + b["hi"]) / 2) for b in curves[0]]
        ys = [sum(c[i]["loss"] for c in curves) / len(curves) for i in range(len(xs))]
        ax.plot(xs, ys, marker=".", label=name)
        drawn = True
    ax.axvline(T, color="gray", ls=":", lw=1)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("position in window")
    ax.set_ylabel("mean loss (nats)")
    ax.set_title("per-position loss (PP)")
    if drawn:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "per_position.png"), dpi=dpi)
    plt.close(fig)


def plot_passkey(runs, out, dpi):
    names = [n for n, seeds in runs.items() if any("passkey" in s for s in seeds)]
    if not names:
        return
    fig, axes = plt.subplots(1, len(names), figsize=(3 * len(names), 3), squeeze=False)
    for ax, name in zip(axes[0], names):
        acc = {}
        for s in runs[name]:
            for c in s.get("passkey", {}).get("cells", []):
                acc.setdefault((c["length"], c["depth"]), []).append(c["accuracy"])
        ls = sorted({k[0] for k in acc})
        ds = sorted({k[1] for k in acc})
        grid = [[(sum(acc[(L, d)]) / len(acc[(L, d)])) if (L, d) in acc else float("nan") for L in ls] for d in ds]
        im = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto", origin="lower")
        ax.set_xticks(range(len(ls)), [str(L) for L in ls], rotation=45, fontsize=7)
        ax.set_yticks(range(len(ds)), [f"{d:.2f}" for d in ds], fontsize=7)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("length", fontsize=8)
    axes[0][0].set_ylabel("depth")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="accuracy")
    fig.savefig(os.path.join(out, "passkey.png"), dpi=dpi)
    plt.close(fig)


def plot_sinks(runs, T, out, dpi):
    fig, ax = plt.subplots(figsize=(6, 4))
    names = list(runs)
    width = 0.8 / max(1, len(names))
    drawn = False
    for k, name in enumerate(names):
        per_layer = {}
        for s in runs[name]:
            for row in s.get("sinks", []) if isinstance(s.get("sinks"), list) else []:
                if row.get("length") != T or "layers" not in row:
                    continue
                for layer in row["layers"]:
                    ex = [h["excess"] for h in layer["heads"]]
                    per_layer.setdefault(layer["layer"], []).append(sum(ex) / len(ex))
        if not per_layer:
            continue
        ls = sorted(per_layer)
        ax.bar([l + k * width for l in ls], [sum(per_layer[l]) / len(per_layer[l]) for l in ls], width, label=name)
        drawn = True
    ax.axhline(0, color="black", lw=0.5)
    ax.set_xlabel("layer")
    ax.set_ylabel("attention to token 0 − uniform")
    ax.set_title(f"sink mass excess at L = T = {T}")
    if drawn:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "sinks.png"), dpi=dpi)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results")
    ap.add_argument("--out", required=True)
    ap.add_argument("--dpi", type=int, default=80)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    runs, T = load_runs(a.results)
    plot_ppl(runs, T, a.out, a.dpi)
    plot_pp(runs, T, a.out, a.dpi)
    plot_passkey(runs, a.out, a.dpi)
    plot_sinks(runs, T, a.out, a.dpi)
    print(f"wrote plots to {a.out}")


if __name__ == "__main__":
    main()
