#!/usr/bin/env python3
"""Whole-process benchmark of the re-optimizer on testdata/reopt (hot kernels that run 2-3x
faster at -O2 than at -O0).

For each compiler (gcc, clang-19) it compiles main.c at -O0 and kernels.c at -O0 and -O2 into
target/bench-cache/reopt/, then runs, alternating, with the same arguments:

  tier-0 only   jitlink main-O0.o kernels-O0.o
  tier-1 only   jitlink main-O0.o kernels-O2.o
  tiered        jitlink main-O0.o kernels-O0.o --reopt kernels-O2.o [--reopt-threshold N]

and reports the median wall time of each and the ratios tiered/tier-1 (goal <= 1.2) and
tiered/tier-0 (goal <= 0.6). Also checks that the three runs print the same results.
Standard library only; needs cargo, gcc and clang-19.

  python3 benches/reopt.py [--runs 11] [--rounds 20000] [--threshold 1000]
                           [--counters per-thread|atomic|plain]
"""

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "target" / "bench-cache" / "reopt"
SRC = ROOT / "testdata" / "reopt"


def build(cc):
    CACHE.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, src, opt in [("main0", "main.c", "-O0"), ("k0", "kernels.c", "-O0"),
                           ("k2", "kernels.c", "-O2")]:
        obj = CACHE / f"{cc}-{name}.o"
        subprocess.run([cc, opt, "-c", str(SRC / src), "-o", str(obj)], check=True)
        out[name] = obj
    return out


def timed(cmd):
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, cmd))}\n{p.stderr}")
    return dt, p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--rounds", type=int, default=20000)
    ap.add_argument("--threshold", type=int, default=1000)
    ap.add_argument("--counters", choices=["per-thread", "atomic", "plain"],
                    default="per-thread")
    ap.add_argument("--plain-counters", action="store_true",
                    help="same as --counters plain")
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    if a.plain_counters:
        a.counters = "plain"
    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "--bin", "jitlink"], cwd=ROOT, check=True)
    jl = str(ROOT / "target" / "release" / "jitlink")
    args = ["--", "quiet", str(a.rounds)]
    print(f"{a.rounds} rounds (kernel_sum and kernel_poly each, kernel_dispatch every 4th), "
          f"threshold {a.threshold}, "
          f"{a.counters} counters, median of {a.runs} runs")
    print(f"{'compiler':10} {'tier-0 only':>12} {'tier-1 only':>12} {'tiered':>12} "
          f"{'tiered/t1':>10} {'tiered/t0':>10}")
    for cc in ["gcc", "clang-19"]:
        o = build(cc)
        tiered = [jl, o["main0"], o["k0"], "--reopt", o["k2"],
                  "--reopt-threshold", str(a.threshold)]
        tiered += ["--reopt-counters", a.counters]
        variants = {
            "t0": [jl, o["main0"], o["k0"]],
            "t1": [jl, o["main0"], o["k2"]],
            "tiered": tiered,
        }
        times = {k: [] for k in variants}
        outputs = {}
        for _ in range(2):  # warm-up
            for cmd in variants.values():
                timed(cmd + args)
        for _ in range(a.runs):
            for k, cmd in variants.items():
                dt, out = timed(cmd + args)
                times[k].append(dt)
                outputs[k] = out
        if len(set(outputs.values())) != 1:
            sys.exit(f"{cc}: outputs differ: {outputs}")
        m = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        print(f"{cc:10} {m['t0']:10.1f}ms {m['t1']:10.1f}ms {m['tiered']:10.1f}ms "
              f"{m['tiered'] / m['t1']:10.2f} {m['tiered'] / m['t0']:10.2f}")


if __name__ == "__main__":
    main()
