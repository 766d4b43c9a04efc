#!/usr/bin/env python3
"""Time PEFT's own rank_pattern rule in pure Python (no PEFT install; stdlib only).

PEFT (peft.utils.other.get_pattern_key) resolves a module name against rank_pattern /
alpha_pattern keys like this, first match wins:

    for key in pattern_keys:
        if re.match(rf"(.*\\.)?({key})$", key_to_match):
            return key

Variants timed (one JSON line each):
  as-written   exactly that: the f-string pattern is rebuilt and handed to re.match for
               every (name, key) pair. Python 3.11 caches 512 compiled patterns
               (re._MAXCACHE); with more keys the cyclic scan thrashes the cache and
               patterns get recompiled. The re cache is cleared before each run.
  precompiled  the same patterns compiled once up front (compile time reported apart);
               then pattern.match(name) in key order.

The winner index is the position of the key in the JSON object (file order), -1 for
none. checksum = sum of winner indices over the timed names (-1 counts as -1), so the
Rust side can check it resolves identically on the same names.

Sampling: when a full pass would not fit in --limit-seconds (EVA-48k takes hours as
written), an evenly spaced sample is timed instead: names[i * N // n] for i in range(n),
with n chosen from a short probe so the run fits the limit. The output says so
("sampled": n < "names", "sample_rule"). A fast full pass is repeated (after one warm-up
pass) while time remains, and the best pass is reported.

--dump-winners OUT writes the winner index of every name (one per line, file order).
Method "loop" is the precompiled loop above. For big key sets (> 2000 keys) the default
is "masked-hash" (exact): keys made only of [A-Za-z0-9_] and unescaped '.' (EVA keys) are
hashed by (length, '.' positions); every dot-suffix of the name (the name itself and the
text after each '.') is looked up with those positions masked, and the winner is the min
index found; any other key is tried with the PEFT pattern. That is the same set as
`(.*\.)?(K)$` for names without newline; --verify N checks it against the plain loop on
N evenly spaced names.

Examples:
    python3 benches/peft_loop.py --rules benches/data/r5.json --names benches/data/llama-3-70b.txt
    python3 benches/peft_loop.py --rules benches/data/eva-48k.json --names benches/data/deepseek-v3-experts.txt --limit-seconds 120
    python3 benches/peft_loop.py --rules benches/data/r100.json --names benches/data/deepseek-v3-experts.txt --dump-winners /tmp/r100-dsv3.txt
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time


def load_keys(path):
    with open(path, encoding="utf-8") as f:
        obj = json.load(f)
    if not isinstance(obj, dict):
        raise SystemExit(f"{path}: expected a JSON object")
    return list(obj.keys())


def load_names(path):
    with open(path, encoding="utf-8") as f:
        names = [line.rstrip("\n") for line in f]
    return [n for n in names if n]


def resolve_as_written(keys, name):
    for i, key in enumerate(keys):
        if re.match(rf"(.*\.)?({key})$", name):
            return i
    return -1


def make_precompiled(keys):
    pats = [re.compile(rf"(.*\.)?({key})$") for key in keys]

    def resolve(name):
        for i, p in enumerate(pats):
            if p.match(name):
                return i
        return -1
    return resolve


def time_pass(resolve, names, idx):
    t0 = time.perf_counter_ns()
    s = 0
    for i in idx:
        s += resolve(names[i])
    return time.perf_counter_ns() - t0, s


def run_variant(variant, keys, names, limit_s, max_passes):
    N = len(names)
    re.purge()
    compile_ns = 0
    if variant == "as-written":
        def resolve(name):
            return resolve_as_written(keys, name)
    else:
        t0 = time.perf_counter_ns()
        resolve = make_precompiled(keys)
        compile_ns = time.perf_counter_ns() - t0

    wall0 = time.perf_counter()
    budget_ns = int(limit_s * 1e9)
    probe_budget = budget_ns * 0.1
    probe_n, probe_ns = 0, 0
    # probe: the middle name of 65 evenly spaced slots, then pairs of slots symmetric
    # around the middle (so the mean is unbiased when the cost grows with the key index);
    # stop after a complete pair once 10% of the budget is used
    slots = min(65, N)
    mid = slots // 2
    pairs = sorted(range(1, mid + 1), key=lambda d: (int(f"{d:06b}"[::-1], 2), d))
    order = [[mid]] + [[mid - d, mid + d] for d in pairs if mid + d < slots]
    for group in order:
        for slot in group:
            t, _ = time_pass(resolve, names, [(2 * slot + 1) * N // (2 * slots)])
            probe_n += 1
            probe_ns += t
        if probe_ns >= probe_budget:
            break
    est = probe_ns / probe_n
    remaining = budget_ns - probe_ns

    if est * N <= remaining:
        idx = list(range(N))
        sampled = N
        rule = "all"
        # warm-up pass (fills the re cache the way a long-running process would) if cheap
        best, checksum, passes = None, None, 0
        t_start = time.perf_counter_ns()
        if est * N * 2 <= remaining:
            time_pass(resolve, names, idx)
        while True:
            t, s = time_pass(resolve, names, idx)
            passes += 1
            best = t if best is None else min(best, t)
            checksum = s
            spent = time.perf_counter_ns() - t_start
            if passes >= max_passes or spent + t > remaining:
                break
    else:
        n = max(1, min(N, int(remaining / est)))
        idx = [i * N // n for i in range(n)]
        sampled = n
        rule = f"names[i*{N}//{n}] for i in range({n})"
        best, checksum = time_pass(resolve, names, idx)
        passes = 1

    ns = best / sampled
    return {
        "engine": "peft-python",
        "variant": variant,
        "rules": len(keys),
        "names": N,
        "sampled": sampled,
        "sample_rule": rule,
        "passes": passes,
        "ns_per_name": round(ns, 1),
        "names_per_s": round(1e9 / ns, 1) if ns else None,
        "checksum": checksum,
        "compile_ms": round(compile_ns / 1e6, 3),
        "wall_s": round(time.perf_counter() - wall0, 2),
        "python": platform.python_version(),
    }


# ----------------------------------------------------------------------------- winners dump

def dot_suffixes(name):
    yield name
    for i, ch in enumerate(name):
        if ch == ".":
            yield name[i + 1:]


_SIMPLE = re.compile(r"[A-Za-z0-9_.]*")


def make_masked_hash(keys):
    """Exact fast resolver for big key sets of EVA style.

    A "simple" key consists of [A-Za-z0-9_] literals and unescaped '.', which matches any
    one character except newline. Such a key K fullmatches a string s iff len(s) == len(K)
    and s equals K at every non-'.' position. Keys are bucketed by (length, positions of
    '.'); a suffix s is looked up by masking those positions of s. All other keys go
    through the precompiled PEFT pattern. The winner is the min index over every
    dot-suffix of the name (the name itself and the text after each '.'), which is exactly
    `(.*\\.)?(K)$` for names without newline.
    """
    buckets = {}          # (len, mask) -> {masked text: min key index}
    complex_keys = []     # (index, compiled PEFT pattern)
    for i, k in enumerate(keys):
        if _SIMPLE.fullmatch(k):
            mask = tuple(j for j, ch in enumerate(k) if ch == ".")
            d = buckets.setdefault((len(k), mask), {})
            d.setdefault(k, i)
        else:
            complex_keys.append((i, re.compile(rf"(.*\.)?({k})$")))
    by_len = {}
    for (n, mask), d in buckets.items():
        by_len.setdefault(n, []).append((mask, d))

    def resolve(name):
        best = -1
        for s in dot_suffixes(name):
            for mask, d in by_len.get(len(s), ()):
                if mask:
                    lst = list(s)
                    for j in mask:
                        lst[j] = "."
                    t = "".join(lst)
                else:
                    t = s
                i = d.get(t)
                if i is not None and (best == -1 or i < best):
                    best = i
        for i, p in complex_keys:
            if best != -1 and i >= best:
                break
            if p.match(name):
                best = i
                break
        return best
    return resolve, len(keys) - len(complex_keys)


def dump_winners(keys, names, out, method, verify):
    t0 = time.perf_counter()
    if method == "auto":
        method = "loop" if len(keys) <= 2000 else "masked-hash"
    simple = None
    if method == "loop":
        resolve = make_precompiled(keys)
    else:
        resolve, simple = make_masked_hash(keys)
    build = time.perf_counter() - t0
    ws = [resolve(n) for n in names]
    with open(out, "w", encoding="utf-8") as f:
        f.write("".join(f"{w}\n" for w in ws))
    info = {"dump": out, "method": method, "simple_keys": simple, "rules": len(keys), "names": len(names),
            "checksum": sum(ws), "unmatched": ws.count(-1),
            "seconds": round(time.perf_counter() - t0, 2), "build_s": round(build, 2)}
    if verify:
        loop = make_precompiled(keys)
        n = min(verify, len(names))
        idx = [i * len(names) // n for i in range(n)]
        bad = [i for i in idx if loop(names[i]) != ws[i]]
        info["verified_against_loop"] = n
        info["verify_mismatches"] = len(bad)
        if bad:
            info["first_mismatch"] = names[bad[0]]
    print(json.dumps(info), flush=True)
    return 0 if not info.get("verify_mismatches") else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description="Time PEFT's get_pattern_key loop in pure Python.")
    ap.add_argument("--rules", required=True, help="JSON object: key -> attrs/null (file order)")
    ap.add_argument("--names", required=True, help="one module name per line")
    ap.add_argument("--limit-seconds", type=float, default=60.0,
                    help="time budget per variant (default 60); sample evenly if a full pass does not fit")
    ap.add_argument("--variant", choices=["as-written", "precompiled", "both"], default="both")
    ap.add_argument("--max-passes", type=int, default=5, help="max timed full passes (best is reported)")
    ap.add_argument("--dump-winners", metavar="OUT", help="write the winning key index per name and exit")
    ap.add_argument("--dump-method", choices=["auto", "loop", "masked-hash"], default="auto")
    ap.add_argument("--verify", type=int, default=0, metavar="N",
                    help="with --dump-winners: check N evenly spaced names against the plain loop")
    args = ap.parse_args(argv)

    keys = load_keys(args.rules)
    names = load_names(args.names)
    if any("\n" in n for n in names):
        raise SystemExit("names must not contain newlines")
    if args.dump_winners:
        return dump_winners(keys, names, args.dump_winners, args.dump_method, args.verify)
    variants = ["as-written", "precompiled"] if args.variant == "both" else [args.variant]
    for v in variants:
        res = run_variant(v, keys, names, args.limit_seconds, args.max_passes)
        res["rules_file"] = args.rules
        res["names_file"] = args.names
        print(json.dumps(res), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
