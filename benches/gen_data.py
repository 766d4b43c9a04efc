#!/usr/bin/env python3
"""Generate the benchmark inputs in benches/data/ (Python 3.11 standard library only).

Usage (from the repo root):

    python3 benches/gen_data.py                 # reads ../shared/models, writes benches/data/
    python3 benches/gen_data.py --shared DIR    # another shared directory
    python3 benches/gen_data.py --check-only    # generate in memory, print stats, write nothing

Deterministic: every random choice comes from random.Random(SEED + tag), there are no
timestamps, dictionaries are written in insertion order. Running it twice gives
byte-identical files; a file whose bytes are unchanged is not rewritten ("unchanged").

Name lists
----------
* llama-3-70b.txt: the Linear-like modules (classes Linear, Conv1D) of
  models/llama-3-70b.tsv in tree order: 80 x 7 projections + lm_head = 561 names.
* deepseek-v3-experts.txt: DeepSeek-V3 with per-expert checkpoint names. transformers 5
  fuses the routed experts into one `DeepseekV3Experts` module (3-D parameters), so the
  TSV has no per-expert Linear. We expand every `*.mlp.experts` module of class
  DeepseekV3Experts the way checkpoints name the weights (checked against the Kimi-K2-style
  DeepseekV3 index in model-indexes: `model.layers.N.mlp.experts.E.{gate,up,down}_proj`,
  `model.layers.N.mlp.shared_experts.{gate,up,down}_proj`): 256 routed experts
  (n_routed_experts of DeepSeek-V3), each gate_proj, up_proj, down_proj, experts in
  numeric order, at the tree position of the fused module (after self_attn, before
  shared_experts, which is where the TSV puts it). All other names are the TSV's Linear
  modules (MLA self_attn.{q_a_proj,q_b_proj,kv_a_proj_with_mqa,kv_b_proj,o_proj}, the
  3 dense mlp.{gate,up,down}_proj of layers 0-2, shared_experts, lm_head).
  DECISION: the router `mlp.gate` is NOT included: its TSV class is DeepseekV3TopkRouter
  (not Linear; it also carries e_score_correction_bias in real checkpoints), so PEFT's
  Linear targeting never sees it. Count: 61*5 + 3*3 + 58*(256*3 + 3) + 1 = 45,033 names
  (the brief said "~48k"; the exact figure for DeepSeek-V3's shape is 45,033).

The 1M-name stream (NOT written to disk; the Rust bench builds it in memory)
----------------------------------------------------------------------------
Take deepseek-v3-experts.txt (45,033 names) and repeat it k = 0, 1, 2, ... until 1,000,000
names have been produced (the last repetition is cut short: 22 full copies + 9,274
names). In repetition k every name `model.layers.L.<rest>` becomes
`model.layers.{L + 61*k}.<rest>` (L is the layer number, 61 = number of layers), so all
names are distinct and layer numbers grow past 60 like a deeper model would have;
`lm_head` (no layer number) is repeated unchanged. Repetition 0 is the file itself. The
same construction applied to llama-3-70b.txt uses 80 instead of 61.

Rule sets
---------
* r5.lora / r5.json: the five hand rules R1 of ENGINE-NOTES.md. r5.json holds exactly
  R1's regexes as PEFT keys; r5.lora expresses the same selection with path patterns, a
  regex, a key rule and a `&` / `!` combination, plus defaults. Both give identical
  winners (rule indices) on both name lists (checked below).
* r100.lora: 100 mixed rules, seeded random (SEED below): 30 `key` rules (escaped
  literals), 40 full-name `re` rules (about 15 end in `.*`), 30 path patterns with
  {a..b}, {x,y,z}, `*`, `**`, some combined with `&`, `!`, `|`. Broad catch-all rules are
  placed in the last 20 positions so that winners spread over many rules.
* r100.json: the same rules as PEFT keys where possible:
    - key rules: the key itself;
    - re rules: the regex verbatim as key. A key K means `(?:.*\\.)?(?:K)`, so keys that
      start with `.*` are exactly equivalent; keys that start with `model\\.` would also
      accept an extra `xxx.` prefix (no such name exists in our lists, the winners are
      identical on them);
    - path rules: translated to a regex (path_to_regex below); a leading `**.` becomes
      nothing (PEFT's `(.*\\.)?` prefix plays its role); `|` of paths becomes `|` of the
      translated regexes;
    - DROPPED: rules that use `&` or `!` (no look-around in the key language we accept:
      Rust has none), and any key already present earlier (JSON keys are unique, the later
      one could never win anyway). The dropped rules are listed in data/README.md and
      marked `# json: dropped` in r100.lora. JSON key indices therefore differ from the
      .lora rule indices; README.md gives the mapping.
* eva-560.json / eva-48k.json: what PEFT's EVA writes into rank_pattern: one key per
  target module, the raw module name (unescaped dots), value {"rank": r}, r in 4..64 drawn
  deterministically (seeded, skewed towards small ranks the way EVA's explained-variance
  redistribution does). lm_head is not a target (PEFT's all-linear excludes the output
  layer), so: 560 keys for Llama-70B, 45,032 for DeepSeek-V3.
* adversarial.lora: 38 rules whose DFA blows up (`.*X.{n}`, overlapping `.*X.*Y.*`,
  many trailing `.*`, Unicode classes), to exercise size limits and the lazy-DFA fallback.

Checks printed: number of names, a few sample lines, and for every rule set how many names
each rule wins / matches (Python `re`: fullmatch for re/path rules, `(?:.*\\.)?(?:K)` for
keys), and that every regex compiles in Python.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
from pathlib import Path

SEED = 20240611
LINEAR_LIKE = {"Linear", "Conv1D"}
N_ROUTED_EXPERTS = 256
EXPERT_PROJS = ("gate_proj", "up_proj", "down_proj")


# ----------------------------------------------------------------------------- names

def read_tsv(path: Path):
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        rows.append((parts[0], parts[1]))
    return rows


def linear_names(rows):
    return [n for n, c in rows if c in LINEAR_LIKE]


def deepseek_expert_names(rows):
    out = []
    for name, cls in rows:
        if cls in LINEAR_LIKE:
            out.append(name)
        elif cls == "DeepseekV3Experts":
            assert name.endswith(".mlp.experts"), name
            for e in range(N_ROUTED_EXPERTS):
                for p in EXPERT_PROJS:
                    out.append(f"{name}.{e}.{p}")
        # DeepseekV3TopkRouter (mlp.gate) and everything else: not Linear, skipped.
    return out


# ----------------------------------------------------------------------------- path patterns

def _split_top(s: str, sep: str):
    """Split on sep outside {...}."""
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


_RANGE = re.compile(r"^(0|[1-9][0-9]*)\.\.(0|[1-9][0-9]*)$")


def _brace_re(body: str) -> str:
    m = _RANGE.match(body)
    if m:
        a, b = int(m.group(1)), int(m.group(2))
        assert a <= b, body
        return "(?:" + "|".join(str(i) for i in range(a, b + 1)) + ")"
    alts = body.split(",")
    return "(?:" + "|".join(re.escape(a) for a in alts) + ")"


def _segment_re(seg: str) -> str:
    if seg == "*":
        return r"[^.]+"
    out, i = [], 0
    while i < len(seg):
        ch = seg[i]
        if ch == "*":
            out.append(r"[^.]*")
            i += 1
        elif ch == "{":
            j = seg.index("}", i)
            out.append(_brace_re(seg[i + 1:j]))
            i = j + 1
        else:
            out.append(re.escape(ch))
            i += 1
    return "".join(out)


def path_to_regex(pat: str, key_form: bool = False) -> str:
    """Translate a path pattern into an (unanchored-text, to be fullmatched) regex.

    key_form=True drops a leading `**.` (PEFT's `(.*\\.)?` supplies it)."""
    segs = _split_top(pat, ".")
    if key_form and len(segs) > 1 and segs[0] == "**":
        segs = segs[1:]
    out, first, dstar = [], True, False
    for seg in segs:
        if seg == "**":
            dstar = True
            continue
        if first:
            if dstar:
                out.append(r"(?:[^.]+\.)*")
        else:
            out.append(r"\.(?:[^.]+\.)*" if dstar else r"\.")
        out.append(_segment_re(seg))
        first, dstar = False, False
    if dstar:
        out.append(r"(?:[^.]+(?:\.[^.]+)*)?" if first else r"(?:\.[^.]+)*")
    return "".join(out)


# ----------------------------------------------------------------------------- rule model
# Expression: ("path"|"re"|"key", text) | ("not", e) | ("and", a, b) | ("or", a, b)

def expr_to_lora(e, top=True) -> str:
    kind = e[0]
    if kind in ("path", "re", "key"):
        q = '"' if '"' not in e[1] else "'"
        return f"{kind} {q}{e[1]}{q}"
    if kind == "not":
        inner = expr_to_lora(e[1], False)
        return "!" + (f"({inner})" if e[1][0] in ("and", "or") else inner)
    a, b = expr_to_lora(e[1], False), expr_to_lora(e[2], False)
    if kind == "and":
        a = f"({a})" if e[1][0] == "or" else a
        b = f"({b})" if e[2][0] == "or" else b
        return f"{a} & {b}"
    s = f"{a} | {b}"
    return s if top else f"({s})"


def compile_expr(e):
    kind = e[0]
    if kind == "path":
        r = re.compile(path_to_regex(e[1]))
        return lambda n: r.fullmatch(n) is not None
    if kind == "re":
        r = re.compile(e[1])
        return lambda n: r.fullmatch(n) is not None
    if kind == "key":
        r = re.compile(rf"(?:.*\.)?(?:{e[1]})")
        return lambda n: r.fullmatch(n) is not None
    if kind == "not":
        f = compile_expr(e[1])
        return lambda n: not f(n)
    fa, fb = compile_expr(e[1]), compile_expr(e[2])
    if kind == "and":
        return lambda n: fa(n) and fb(n)
    return lambda n: fa(n) or fb(n)


def expr_to_key(e):
    """PEFT key for an expression, or None if not expressible (uses & or !)."""
    kind = e[0]
    if kind == "key":
        return e[1]
    if kind == "re":
        return e[1]
    if kind == "path":
        return path_to_regex(e[1], key_form=True)
    if kind == "or":
        a, b = expr_to_key(e[1]), expr_to_key(e[2])
        if a is None or b is None:
            return None
        return f"(?:{a})|(?:{b})"
    return None


def attrs_to_lora(attrs) -> str:
    if attrs is None:
        return "exclude"
    parts = []
    for k, v in attrs.items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, str):
            v = f'"{v}"'
        parts.append(f"{k} = {v}")
    return "{ " + ", ".join(parts) + " }"


def render_lora(header, defaults, rules, comments=None) -> str:
    lines = [f"# {h}" if h else "#" for h in header]
    if defaults:
        lines.append(f"defaults {attrs_to_lora(defaults)}")
    lines.append("")
    for i, (e, attrs) in enumerate(rules):
        line = f"{expr_to_lora(e)} {attrs_to_lora(attrs)}"
        c = (comments or {}).get(i)
        lines.append(f"{line}    # [{i}] {c}" if c else line)
    return "\n".join(lines) + "\n"


def render_json(pairs) -> str:
    """JSON object, one key per line, insertion order."""
    if not pairs:
        return "{}\n"
    body = ",\n".join(
        f"  {json.dumps(k)}: {json.dumps(v, separators=(', ', ': '))}" for k, v in pairs
    )
    return "{\n" + body + "\n}\n"


# ----------------------------------------------------------------------------- rule sets

def r5():
    """R1 of ENGINE-NOTES as .lora (mixed syntax) and as PEFT keys."""
    keys = [
        (r".*\.layers\.(0|1|2|3)\..*", None),
        (r".*experts\.\d+\.down_proj", {"rank": 32, "alpha": 32}),
        (r"lm_head", None),
        (r".*self_attn\.(q|k|v|o)_proj", {"rank": 16, "alpha": 16}),
        (r".*\.mlp\..*_proj", {"rank": 8}),
    ]
    lora = [
        (("path", "**.layers.{0..3}.**"), None),
        (("re", r".*experts\.\d+\.down_proj"), {"rank": 32, "alpha": 32}),
        (("key", "lm_head"), None),
        (("and", ("path", "**.self_attn.{q,k,v,o}_proj"), ("not", ("re", ".*visual.*"))),
         {"rank": 16, "alpha": 16}),
        (("path", "**.mlp.**.*_proj"), {"rank": 8}),
    ]
    return keys, lora


def rand_attrs(rng: random.Random):
    if rng.random() < 0.15:
        return None
    a = {"rank": rng.choice([4, 8, 8, 16, 16, 16, 32, 64])}
    if rng.random() < 0.5:
        a["alpha"] = rng.choice([8, 16, 32, 64, 128])
    if rng.random() < 0.15:
        a["dropout"] = rng.choice([0.0, 0.05, 0.1])
    if rng.random() < 0.1:
        a["init"] = rng.choice(["eva", "pissa", "gaussian", "olora"])
    if rng.random() < 0.08:
        a["use_dora"] = True
    if rng.random() < 0.05:
        a["use_rslora"] = True
    return a


def _esc(s: str) -> str:
    return s.replace(".", r"\.")


def r100():
    rng = random.Random(SEED + 100)
    LL, DL, NE = 80, 61, 256
    attn_l = ["q_proj", "k_proj", "v_proj", "o_proj"]
    attn_d = ["q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj"]
    mlp = ["gate_proj", "up_proj", "down_proj"]

    specific, broad = [], []  # (expr, tag)
    seen, attempts = set(), [0]

    def fresh(e):
        """True (and remember it) if this rule text was not generated before."""
        attempts[0] += 1
        assert attempts[0] < 10_000, "rule generator stuck on duplicates"
        t = expr_to_lora(e)
        if t in seen:
            return False
        seen.add(t)
        return True

    # ---- 30 key rules: escaped literals
    i = 0
    while i < 30:
        t = i % 6
        if t == 0:
            k = f"layers.{rng.randrange(LL)}.mlp.{rng.choice(mlp)}"
        elif t == 1:
            k = f"layers.{rng.randrange(DL)}.self_attn.{rng.choice(attn_d)}"
        elif t == 2:
            k = f"mlp.experts.{rng.randrange(NE)}.{rng.choice(mlp)}"
        elif t == 3:
            k = f"model.layers.{rng.randrange(3, DL)}.mlp.experts.{rng.randrange(NE)}.{rng.choice(mlp)}"
        elif t == 4:
            k = f"model.layers.{rng.randrange(LL)}.self_attn.{rng.choice(attn_l)}"
        else:
            k = rng.choice([f"layers.{rng.randrange(3, DL)}.mlp.shared_experts.{rng.choice(mlp)}",
                            "lm_head", "kv_a_proj_with_mqa", "shared_experts.down_proj",
                            f"self_attn.{rng.choice(attn_l)}"])
        is_broad = k in ("kv_a_proj_with_mqa", "shared_experts.down_proj") or k.startswith("self_attn.")
        if fresh(("key", _esc(k))):
            (broad if is_broad else specific).append((("key", _esc(k)), "key"))
            i += 1

    # ---- 40 full-name regexes (12 end in .*)
    def alt(xs):
        return "(" + "|".join(str(x) for x in xs) + ")"

    i = 0
    while i < 40:
        t = i % 10
        if t == 0:
            ls = sorted(rng.sample(range(LL), 3))
            r = rf"model\.layers\.{alt(ls)}\.self_attn\.(q|k|v)_proj"
        elif t == 1:
            d = rng.randrange(10)
            r = rf".*\.layers\.\d*{d}\.mlp\..*"                       # ends .*
        elif t == 2:
            r = rf"model\.layers\.{rng.randrange(DL)}\..*"              # ends .*
        elif t == 3:
            a = rng.randrange(1, 25)
            r = rf".*experts\.{a}\d\.(gate|up)_proj"
        elif t == 4:
            r = rf".*\.layers\.{rng.randrange(3, DL)}\.self_attn\.(q_a|q_b|kv_b)_proj"
        elif t == 5:
            a = rng.randrange(1, 6)
            r = rf"model\.layers\.[{a}-{a + 1}]\d\.mlp\.experts\.\d+\.down_proj"
        elif t == 6:
            a = rng.randrange(10)
            r = rf".*\.mlp\.experts\.({a}\d|1{a}\d|2[0-4]{a})\..*"       # ends .*
        elif t == 7:
            r = rf"model\.layers\.{rng.randrange(LL)}\.mlp\.(gate|up|down)_proj"
        elif t == 8:
            x = rng.randrange(10)
            r = rf"model\.layers\.\d+\.mlp\.experts\.\d*{x}\.up_proj"
        else:
            r = rng.choice([
                r".*(gate|up)_proj",
                r"model\.layers\.\d+\.self_attn\..*",
                r".*\.shared_experts\..*",
                r".*_proj",
            ])
            if fresh(("re", r)):
                broad.append((("re", r), "re"))
                i += 1
            continue
        if fresh(("re", r)):
            specific.append((("re", r), "re"))
            i += 1

    # ---- 30 path patterns (some combined with & ! |)
    i = 0
    while i < 30:
        t = i % 10
        if t == 0:
            a = rng.randrange(0, LL - 8)
            e = ("path", f"model.layers.{{{a}..{a + rng.randrange(2, 8)}}}.mlp.*_proj")
        elif t == 1:
            ls = sorted(rng.sample(range(DL), 3))
            e = ("path", "model.layers.{" + ",".join(map(str, ls)) + "}.self_attn.*")
        elif t == 2:
            a = rng.randrange(0, NE - 16)
            e = ("path", f"**.experts.{{{a}..{a + rng.randrange(4, 16)}}}.down_proj")
        elif t == 3:
            a = rng.randrange(3, DL - 4)
            e = ("path", f"model.layers.{{{a}..{a + 3}}}.mlp.experts.{{{rng.randrange(0, 128)}..{rng.randrange(128, 256)}}}.{{gate,up}}_proj")
        elif t == 4:
            a = rng.randrange(0, LL - 10)
            e = ("and", ("path", f"model.layers.{{{a}..{a + 9}}}.**"),
                 ("not", ("path", "**.mlp.experts.**")))
        elif t == 5:
            e = ("or", ("path", f"**.layers.{rng.randrange(LL)}.self_attn.k_proj"),
                 ("path", f"**.layers.{rng.randrange(LL)}.self_attn.v_proj"))
        elif t == 6:
            e = ("path", "model.layers.*.self_attn.{" + ",".join(sorted(rng.sample(["q", "k", "v", "o", "q_a", "q_b", "kv_b"], 3))) + "}_proj")
            if fresh(e):
                broad.append((e, "path"))
                i += 1
            continue
        elif t == 7:
            a = rng.randrange(3, DL - 2)
            e = ("and", ("path", f"model.layers.{{{a}..{a + 2}}}.mlp.**"),
                 ("not", ("re", r".*\.(gate|up)_proj")))
        elif t == 8:
            e = ("path", f"**.mlp.experts.{{{','.join(map(str, sorted(rng.sample(range(NE), 5))))}}}.*")
        else:
            e = rng.choice([("path", "**.shared_experts.*"), ("path", "**.mlp.*_proj"),
                            ("path", "model.layers.*.mlp.experts.*.down_proj"),
                            ("path", "**.*_proj")])
            if fresh(e):
                broad.append((e, "path"))
                i += 1
            continue
        if fresh(e):
            specific.append((e, "path"))
            i += 1

    rng.shuffle(specific)
    rng.shuffle(broad)
    # broad rules go to the last 20 slots, mixed with the last specific ones
    tail_specific = specific[len(specific) - (20 - len(broad)):] if len(broad) < 20 else []
    head = specific[: len(specific) - len(tail_specific)]
    tail = tail_specific + broad
    rng.shuffle(tail)
    ordered = head + tail
    assert len(ordered) == 100, len(ordered)
    rules = [(e, rand_attrs(rng)) for e, _ in ordered]
    return rules


def adversarial():
    rules = []
    for i in range(10):                                  # many trailing .* (prefix-type)
        rules.append(("re", rf"model\.layers\.{i}.*"))
    letters = "aeoprstl_"
    for i, ch in enumerate(letters):                     # .*X.{n}: classic 2^n blowup
        rules.append(("re", rf".*{re.escape(ch)}.{{{12 + 2 * i}}}"))
    for x, y in [("a", "e"), ("e", "x"), ("l", "p"), ("s", "o"), ("_", "j"), ("y", "r"),
                 ("m", "d"), ("t", "n"), ("k", "v"), ("q", "b")]:  # overlapping .*X.*Y.*
        rules.append(("re", rf".*{x}.*{y}.*"))
    for n in (8, 10, 12):                                # Unicode classes, counted
        rules.append(("re", rf".*\d.*\w{{{n}}}"))
    rules += [
        ("re", r".*(\d.*){3}\d\.\w{4}.*"),
        ("re", r".*[aeiou].{16}[0-9].*"),
        ("re", r"(.*\.)?(.*_.*){3}"),
        ("path", "**.*e*.**.*p*.**"),
        ("path", "**.*_*.**.*_*"),
        ("re", r".*s.{24}"),
    ]
    rng = random.Random(SEED + 7)
    out = []
    for e in rules:
        attrs = {"rank": rng.choice([4, 8, 16, 32])} if rng.random() < 0.8 else None
        out.append((e, attrs))
    return out


def eva(names, tag):
    rng = random.Random(f"{SEED}-eva-{tag}")
    pairs = []
    for n in names:
        if n == "lm_head":
            continue
        r = 4 + int(60 * rng.random() ** 2.0 + 0.5)      # 4..64, skewed to small ranks
        pairs.append((n, {"rank": r}))
    return pairs


# ----------------------------------------------------------------------------- checks

def winners_keys(keys, names):
    pats = [re.compile(rf"(?:.*\.)?(?:{k})") for k in keys]
    out = []
    for n in names:
        w = -1
        for i, p in enumerate(pats):
            if p.fullmatch(n):
                w = i
                break
        out.append(w)
    return out


def winners_exprs(exprs, names):
    fs = [compile_expr(e) for e in exprs]
    out = []
    for n in names:
        w = -1
        for i, f in enumerate(fs):
            if f(n):
                w = i
                break
        out.append(w)
    return out


def match_counts_exprs(exprs, names):
    fs = [compile_expr(e) for e in exprs]
    return [sum(1 for n in names if f(n)) for f in fs]


def hist(ws, n_rules):
    c = [0] * (n_rules + 1)
    for w in ws:
        c[w] += 1  # -1 -> last slot
    return c


def summarize(label, ws, n_rules, out):
    h = hist(ws, n_rules)
    used = sum(1 for x in h[:-1] if x)
    out.append(f"  {label}: {len(ws)} names, unmatched {h[-1]}, rules winning >=1 name: {used}/{n_rules}")
    return h


# ----------------------------------------------------------------------------- main

def write(out_dir: Path, name: str, text: str, report, check_only: bool):
    data = text.encode("utf-8")
    p = out_dir / name
    status = "would write"
    if not check_only:
        if p.exists() and p.read_bytes() == data:
            status = "unchanged"
        else:
            tmp = p.with_suffix(p.suffix + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, p)
            status = "wrote"
    report.append((name, len(data), status))


def main(argv=None):
    repo = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=None, help="shared dir (default: <repo>/../shared)")
    ap.add_argument("--out", default=None, help="output dir (default: <repo>/benches/data)")
    ap.add_argument("--check-only", action="store_true")
    args = ap.parse_args(argv)
    shared = Path(args.shared) if args.shared else repo.parent / "shared"
    out_dir = Path(args.out) if args.out else repo / "benches" / "data"
    if not args.check_only:
        out_dir.mkdir(parents=True, exist_ok=True)

    report, log = [], []
    llama = linear_names(read_tsv(shared / "models" / "llama-3-70b.tsv"))
    ds = deepseek_expert_names(read_tsv(shared / "models" / "deepseek-v3.tsv"))
    assert len(llama) == 561 and len(set(llama)) == len(llama), len(llama)
    assert len(ds) == 61 * 5 + 3 * 3 + 58 * (N_ROUTED_EXPERTS * 3 + 3) + 1, len(ds)
    assert len(set(ds)) == len(ds)
    assert all("\n" not in n and n.isascii() for n in llama + ds)
    write(out_dir, "llama-3-70b.txt", "\n".join(llama) + "\n", report, args.check_only)
    write(out_dir, "deepseek-v3-experts.txt", "\n".join(ds) + "\n", report, args.check_only)
    log.append(f"llama-3-70b.txt: {len(llama)} names, mean {sum(map(len, llama)) / len(llama):.1f} B; "
               f"first {llama[0]!r}, last {llama[-1]!r}")
    log.append(f"deepseek-v3-experts.txt: {len(ds)} names, mean {sum(map(len, ds)) / len(ds):.1f} B; "
               f"samples {ds[0]!r}, {ds[314]!r}, {ds[320]!r}, {ds[-2]!r}, {ds[-1]!r}")
    name_sets = {"llama": llama, "dsv3": ds}

    # ---- r5
    keys5, lora5 = r5()
    hdr5 = ["r5.lora: five typical hand rules (R1 of ENGINE-NOTES.md) in mixed .lora syntax.",
            "Same winners as r5.json (PEFT keys) on llama-3-70b.txt and deepseek-v3-experts.txt.",
            "Generated by benches/gen_data.py; do not edit by hand."]
    write(out_dir, "r5.lora", render_lora(hdr5, {"rank": 16, "alpha": 32}, lora5), report, args.check_only)
    write(out_dir, "r5.json", render_json(keys5), report, args.check_only)
    log.append("r5:")
    for tag, names in name_sets.items():
        wk = winners_keys([k for k, _ in keys5], names)
        we = winners_exprs([e for e, _ in lora5], names)
        h = summarize(f"r5.json on {tag}", wk, 5, log)
        log.append(f"    winners per key {h[:-1]}; r5.lora identical winners: {wk == we}")
        assert wk == we

    # ---- r100
    rules100 = r100()
    json_pairs, json_map, notes, comments, seen = [], {}, [], {}, set()
    for i, (e, attrs) in enumerate(rules100):
        k = expr_to_key(e)
        if k is None:
            notes.append((i, "dropped: uses & or ! (not expressible as a PEFT key without look-around)"))
            comments[i] = "json: dropped (& / !)"
            continue
        if k in seen:
            notes.append((i, "dropped: same key as an earlier rule"))
            comments[i] = "json: dropped (duplicate key)"
            continue
        seen.add(k)
        if e[0] == "path" or e[0] == "or":
            comments[i] = f"json [{len(json_pairs)}]: rewritten to regex"
        else:
            comments[i] = f"json [{len(json_pairs)}]"
        json_map[i] = len(json_pairs)
        json_pairs.append((k, attrs))
    for k, _ in json_pairs:
        re.compile(rf"(.*\.)?({k})$")
    hdr100 = ["r100.lora: 100 mixed rules (30 key, 40 re, 30 path; some with & ! |), seeded random",
              f"(seed {SEED + 100}), realistic for Llama-3-70B and DeepSeek-V3 names.",
              "The trailing comment gives the rule index and its index in r100.json (or why it was dropped).",
              "Generated by benches/gen_data.py; do not edit by hand."]
    write(out_dir, "r100.lora", render_lora(hdr100, {"rank": 16, "alpha": 32}, rules100, comments),
          report, args.check_only)
    write(out_dir, "r100.json", render_json(json_pairs), report, args.check_only)
    kinds = {}
    for e, _ in rules100:
        kinds[e[0]] = kinds.get(e[0], 0) + 1
    trailing = sum(1 for e, _ in rules100 if e[0] == "re" and e[1].endswith(".*"))
    log.append(f"r100: kinds {kinds} (top-level), re rules ending in .*: {trailing}, "
               f"excludes {sum(1 for _, a in rules100 if a is None)}, json keys {len(json_pairs)}")
    r100_stats = {}
    for tag, names in name_sets.items():
        we = winners_exprs([e for e, _ in rules100], names)
        wk = winners_keys([k for k, _ in json_pairs], names)
        h = summarize(f"r100.lora on {tag}", we, 100, log)
        hk = summarize(f"r100.json on {tag}", wk, len(json_pairs), log)
        mc = match_counts_exprs([e for e, _ in rules100], names)
        log.append(f"    r100.lora rules matching >=1 name: {sum(1 for x in mc if x)}/100; "
                   f"top winners {sorted(((c, i) for i, c in enumerate(h[:-1])), reverse=True)[:5]}")
        # where the .lora winner is a rule that has a JSON key, the JSON winner must agree
        dis = sum(1 for a, b in zip(we, wk) if a in json_map and json_map[a] != b)
        log.append(f"    names whose .lora winner has a JSON key but the JSON winner differs: {dis}")
        r100_stats[tag] = (h, hk, mc)

    # ---- eva
    eva560 = eva(llama, "llama")
    eva48k = eva(ds, "dsv3")
    write(out_dir, "eva-560.json", render_json(eva560), report, args.check_only)
    write(out_dir, "eva-48k.json", render_json(eva48k), report, args.check_only)
    for label, pairs, names in (("eva-560.json", eva560, llama), ("eva-48k.json", eva48k, ds)):
        ranks = [v["rank"] for _, v in pairs]
        log.append(f"{label}: {len(pairs)} keys, rank min {min(ranks)} max {max(ranks)} "
                   f"mean {sum(ranks) / len(ranks):.1f}")
    # exact winner check for eva-560 (cheap); eva-48k: the i-th key must win for the i-th name
    # on a sample (keys with unescaped dots could in principle shadow later names).
    w = winners_keys([k for k, _ in eva560], llama)
    exp = list(range(560)) + [-1]
    log.append(f"  eva-560 on llama: winner of name i is key i (lm_head unmatched): {w == exp}")
    assert w == exp
    idx = list(range(0, len(ds), 997)) + [len(ds) - 2, len(ds) - 1]
    keys48 = [k for k, _ in eva48k]
    pats48 = {}
    ok = True
    for i in idx:
        n = ds[i]
        # any earlier key matching would be a key with the same length class; check them all
        want = i if n != "lm_head" else -1
        got = -1
        for j, k in enumerate(keys48):
            p = pats48.get(j)
            if p is None:
                p = pats48[j] = re.compile(rf"(?:.*\.)?(?:{k})")
            if p.fullmatch(n):
                got = j
                break
        ok &= got == want
    log.append(f"  eva-48k on dsv3: sample of {len(idx)} names wins its own key: {ok}")
    assert ok

    # ---- adversarial
    adv = adversarial()
    for e, _ in adv:
        compile_expr(e)
    hdra = ["adversarial.lora: rules whose DFA blows up (.*X.{n}, overlapping .*X.*Y.*, many",
            "trailing .*, Unicode classes). For size limits and the lazy-DFA fallback.",
            "Generated by benches/gen_data.py; do not edit by hand."]
    write(out_dir, "adversarial.lora", render_lora(hdra, {"rank": 8}, adv), report, args.check_only)
    log.append(f"adversarial.lora: {len(adv)} rules")
    adv_stats = {}
    for tag, names in name_sets.items():
        wa = winners_exprs([e for e, _ in adv], names)
        summarize(f"adversarial on {tag}", wa, len(adv), log)
        mc = match_counts_exprs([e for e, _ in adv], names)
        log.append(f"    rules matching >=1 name: {sum(1 for x in mc if x)}/{len(adv)}")
        adv_stats[tag] = mc

    # ---- README
    readme = make_readme(llama, ds, keys5, rules100, json_pairs, notes, json_map, eva560, eva48k,
                         adv, r100_stats, adv_stats)
    write(out_dir, "README.md", readme, report, args.check_only)

    for line in log:
        print(line)
    print()
    w = max(len(n) for n, _, _ in report)
    for name, size, status in report:
        print(f"{status:>11}  {out_dir / name}".ljust(w + len(str(out_dir)) + 14) + f"{size:>10,} bytes")
    return 0


def make_readme(llama, ds, keys5, rules100, json_pairs, notes, json_map, eva560, eva48k, adv,
                r100_stats, adv_stats):
    L = []
    n_trailing = sum(1 for e, _ in rules100 if e[0] == "re" and e[1].endswith(".*"))
    L.append("# Benchmark data (generated)\n")
    L.append("Generated by `benches/gen_data.py` (Python 3.11 stdlib, deterministic, seeded). Regenerate from the repo root with\n")
    L.append("```\npython3 benches/gen_data.py            # default --shared ../shared\n```\n")
    L.append("Running it twice gives byte-identical files. Do not edit these files by hand.\n")
    L.append("## Name lists\n")
    L.append("| file | names | mean bytes | what |\n|---|---|---|---|")
    L.append(f"| `llama-3-70b.txt` | {len(llama)} | {sum(map(len, llama)) / len(llama):.1f} | Linear modules of `models/llama-3-70b.tsv`, tree order (80 x q/k/v/o/gate/up/down + lm_head) |")
    L.append(f"| `deepseek-v3-experts.txt` | {len(ds)} | {sum(map(len, ds)) / len(ds):.1f} | DeepSeek-V3 with per-expert checkpoint names: the TSV's Linear modules plus each fused `mlp.experts` expanded to `mlp.experts.E.{{gate,up,down}}_proj`, E = 0..255, tree order. Router `mlp.gate` (DeepseekV3TopkRouter, not Linear) excluded. |")
    L.append("")
    L.append("The 1M-name stream is not stored: the Rust bench repeats `deepseek-v3-experts.txt` with "
             "layer L of repetition k renamed to L + 61*k (`lm_head` unchanged) until 1,000,000 names "
             "(22 full copies + 9,274 names). For Llama use 80 instead of 61.\n")
    L.append("## Rule sets\n")
    L.append("| file | rules | what |\n|---|---|---|")
    L.append(f"| `r5.lora` | 5 | R1 of ENGINE-NOTES (layers 0-3 excluded, expert down_proj, lm_head excluded, attention q/k/v/o, mlp projections) in mixed path/re/key syntax with a `&`/`!` rule, plus `defaults` |")
    L.append(f"| `r5.json` | {len(keys5)} | the same as PEFT keys (exactly R1's regexes); identical winners to `r5.lora` on both name lists |")
    L.append(f"| `r100.lora` | {len(rules100)} | 30 key (escaped literal), 40 re ({n_trailing} ending `.*`), 30 path (ranges, sets, `*`, `**`; some `&` `!` `\\|`), seeded; broad catch-alls in the last 20 slots |")
    L.append(f"| `r100.json` | {len(json_pairs)} | `r100.lora` as PEFT keys where expressible (see below) |")
    L.append(f"| `eva-560.json` | {len(eva560)} | EVA-style rank_pattern for Llama-70B: raw module names (unescaped dots), `{{\"rank\": r}}`, r in 4..64 (lm_head is not a target) |")
    L.append(f"| `eva-48k.json` | {len(eva48k)} | the same for every module of `deepseek-v3-experts.txt` except lm_head |")
    L.append(f"| `adversarial.lora` | {len(adv)} | DFA blow-up patterns: `.*X.{{n}}`, overlapping `.*X.*Y.*`, trailing `.*`, Unicode `\\d`/`\\w` counted repeats, `**`-heavy paths |")
    L.append("")
    L.append("Semantics used for the checks (Python `re`): `re` and `path` rules are fullmatched "
             "(paths via `path_to_regex` in gen_data.py), `key` rules and JSON keys match iff the name "
             "fullmatches `(?:.*\\.)?(?:K)`; first matching rule wins.\n")
    L.append("### r100.json vs r100.lora\n")
    L.append("Key rules keep their key; `re` rules are used verbatim as keys (exact for keys starting "
             "with `.*`; keys starting with `model\\.` would additionally accept a `xxx.` prefix, which no "
             "name here has); path rules are translated to regexes (a leading `**.` is dropped, PEFT's "
             "`(.*\\.)?` does its job); `|` of paths becomes `|` of regexes. Dropped rules:\n")
    for i, why in notes:
        L.append(f"- rule [{i}] `{expr_to_lora(rules100[i][0])}`: {why}")
    L.append("")
    L.append("Mapping .lora rule index -> JSON key index: " +
             ", ".join(f"{i}->{j}" for i, j in json_map.items()) + "\n")
    L.append("On both name lists, every name whose `.lora` winner has a JSON key gets the same JSON "
             "winner; names won by a dropped rule fall through to a later key in JSON.\n")
    L.append("## Counts (winners per rule, first match wins)\n")
    k5 = [k for k, _ in keys5]
    for tag, names in (("llama", llama), ("dsv3", ds)):
        h = hist(winners_keys(k5, names), 5)
        L.append(f"- r5 on {tag}: winners per rule {h[:-1]}, unmatched {h[-1]}")
    for tag in ("llama", "dsv3"):
        h, hk, mc = r100_stats[tag]
        L.append(f"- r100.lora on {tag}: {sum(1 for x in h[:-1] if x)} rules win >=1 name, "
                 f"{sum(1 for x in mc if x)} match >=1 name, unmatched {h[-1]}; "
                 f"r100.json: {sum(1 for x in hk[:-1] if x)} keys win, unmatched {hk[-1]}")
    for tag in ("llama", "dsv3"):
        mc = adv_stats[tag]
        L.append(f"- adversarial on {tag}: {sum(1 for x in mc if x)}/{len(adv)} rules match >=1 name")
    L.append("- eva-560 on llama: name i is won by key i (lm_head: none); eva-48k on dsv3: same, checked on a sample")
    L.append("")
    L.append("## Timing PEFT's loop\n")
    L.append("```\npython3 benches/peft_loop.py --rules benches/data/r5.json --names benches/data/llama-3-70b.txt\n"
             "python3 benches/peft_loop.py --rules benches/data/eva-48k.json --names benches/data/deepseek-v3-experts.txt --limit-seconds 120\n"
             "python3 benches/peft_loop.py --rules benches/data/r100.json --names benches/data/deepseek-v3-experts.txt --dump-winners /tmp/w.txt\n"
             "python3 benches/peft_loop.py --rules benches/data/eva-48k.json --names benches/data/deepseek-v3-experts.txt --dump-winners /tmp/eva.txt --verify 45   # exact masked-hash method, checked against the loop\n```\n")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    sys.exit(main())
