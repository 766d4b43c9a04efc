//! One process, one table: the automaton against the naive reference loop,
//! `regex::RegexSet` + min index, a bare dense-DFA byte walk (the floor) and
//! PEFT's own Python loop (`benches/peft_loop.py`, run as a child process
//! within the same run, on the JSON rule sets), on each workload. Ratios,
//! not just times.
//!
//! `cargo bench --bench compare` (all workloads, about 3 minutes);
//! `cargo bench --bench compare -- r100 eva` runs the workloads whose
//! "rules/names" label contains a word; `COMPARE_PYTHON=0` skips Python;
//! `COMPARE_REPS=N` raises the minimum number of timed passes.

use std::process::Command;
use std::time::{Duration, Instant};

use regex_automata::Anchored;
use regex_automata::dfa::{Automaton, dense};
use regex_automata::util::start;

#[path = "common.rs"]
mod common;

/// Best of at least `reps` timings of `f` over all names, repeated until
/// 0.3 s have passed (short lists need many passes to rise above the noise),
/// in ns per name.
fn time(names: usize, reps: usize, mut f: impl FnMut() -> usize) -> (f64, usize) {
    let mut best = Duration::MAX;
    let mut check = 0;
    let begin = Instant::now();
    let mut done = 0;
    while done < reps || begin.elapsed() < Duration::from_millis(300) {
        let t = Instant::now();
        check = std::hint::black_box(f());
        best = best.min(t.elapsed());
        done += 1;
    }
    (best.as_nanos() as f64 / names as f64, check)
}

/// The checksum `benches/peft_loop.py` prints: the sum of winner indices
/// (-1 for none) over `names[i * N / n]`, i < n.
fn python_checksum(winners: &[Option<usize>], n: usize) -> i64 {
    let big = winners.len();
    (0..n)
        .map(|i| winners[i * big / n].map_or(-1, |w| w as i64))
        .sum()
}

/// Runs PEFT's loop in Python on the same files; one row per variant.
fn python_rows(
    rules_file: &str,
    names_file: &str,
    winners: &[Option<usize>],
    ours: f64,
    row: &dyn Fn(&str, f64, f64),
) {
    if std::env::var("COMPARE_PYTHON").is_ok_and(|v| v == "0") {
        return;
    }
    let limit = if winners.len() > 10_000 { "30" } else { "10" };
    let out = Command::new("python3")
        .arg(format!("{}/../peft_loop.py", common::DATA))
        .args(["--rules", &format!("{}/{rules_file}", common::DATA)])
        .args(["--names", &format!("{}/{names_file}", common::DATA)])
        .args(["--limit-seconds", limit])
        .output();
    let text = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => {
            println!(
                "| {rules_file} | {names_file} | PEFT loop (Python): failed: {} | | | | |",
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            );
            return;
        }
        Err(e) => {
            println!("| {rules_file} | {names_file} | PEFT loop (Python): not run: {e} | | | | |");
            return;
        }
    };
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let (Some(variant), Some(ns), Some(sampled), Some(sum)) = (
            v["variant"].as_str(),
            v["ns_per_name"].as_f64(),
            v["sampled"].as_u64(),
            v["checksum"].as_i64(),
        ) else {
            continue;
        };
        let sampled = sampled as usize;
        assert_eq!(
            python_checksum(winners, sampled),
            sum,
            "PEFT's loop ({variant}) and the automaton disagree on {rules_file}/{names_file}"
        );
        let what = if sampled < winners.len() {
            format!("PEFT loop, Python re, {variant} (sampled {sampled} names)")
        } else {
            format!("PEFT loop, Python re, {variant}")
        };
        row(&what, ns, ns / ours);
    }
}

fn main() {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let extra: usize = std::env::var("COMPARE_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let floor_dfa = dense::DFA::new(r"(?s:.)*").expect("floor DFA");
    let floor_start = floor_dfa
        .start_state(&start::Config::new().anchored(Anchored::Yes))
        .expect("start");
    const LLAMA: &str = "llama-3-70b.txt";
    const DSV3: &str = "deepseek-v3-experts.txt";
    const MILLION: &str = "1M-stream";
    let workloads = [
        ("r5.lora", LLAMA),
        ("r5.json", LLAMA),
        ("r100.lora", LLAMA),
        ("r100.json", LLAMA),
        ("eva-560.json", LLAMA),
        ("r5.lora", DSV3),
        ("r100.lora", DSV3),
        ("r100.json", DSV3),
        ("eva-48k.json", DSV3),
        ("r100.lora", MILLION),
        ("eva-48k.json", MILLION),
    ];
    println!(
        "machine: {} cores; {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(
                |c| c.lines().find(|l| l.starts_with("model name")).map(|l| l
                    .split(':')
                    .nth(1)
                    .unwrap_or("")
                    .trim()
                    .to_string())
            )
            .unwrap_or_default()
    );
    println!();
    println!("| rules | names | engine | ns/name | Mnames/s | MB/s | vs automaton |");
    println!("|---|---|---|---|---|---|---|");
    for (rules_file, names_file) in workloads {
        let label = format!("{rules_file}/{names_file}");
        if !filters.is_empty() && !filters.iter().any(|f| label.contains(f.as_str())) {
            continue;
        }
        let names = if names_file == MILLION {
            common::million(&common::names(DSV3))
        } else {
            common::names(names_file)
        };
        let n = names.len();
        let mean_len = names.iter().map(String::len).sum::<usize>() as f64 / n as f64;
        let t0 = Instant::now();
        let rules = common::rules(rules_file);
        let t1 = Instant::now();
        let m = lora_rules::Matcher::new(rules).unwrap_or_else(|e| panic!("{e}"));
        let (load, build) = (t1 - t0, t1.elapsed());
        // The same rule set from a compiled file (`lora-rules compile -o`).
        let text =
            std::fs::read_to_string(format!("{}/{rules_file}", common::DATA)).unwrap_or_default();
        let format = lora_rules::Format::detect(rules_file, &text);
        let (_, bytes, _) = lora_rules::compiled::compile(
            &lora_rules::Source::new(rules_file, text),
            format,
            &lora_rules::engine::Config::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let t2 = Instant::now();
        let from_file = lora_rules::compiled::read(&bytes)
            .unwrap_or_else(|e| panic!("{e}"))
            .matcher;
        let compiled_load = t2.elapsed();
        let (ours, c0) = time(n, extra, || {
            names
                .iter()
                .map(|x| m.resolve_index(x).unwrap_or(usize::MAX))
                .fold(0, usize::wrapping_add)
        });
        let (batch, cb) = time(n, extra, || {
            m.resolve_batch(&names)
                .iter()
                .map(|w| w.unwrap_or(usize::MAX))
                .fold(0, usize::wrapping_add)
        });
        assert_eq!(c0, cb, "batch and per-name resolution disagree on {label}");
        let cf = names
            .iter()
            .map(|x| from_file.resolve_index(x).unwrap_or(usize::MAX))
            .fold(0, usize::wrapping_add);
        assert_eq!(c0, cf, "the compiled file resolves differently on {label}");
        drop(from_file);
        let row = |engine: &str, ns: f64, ratio: f64| {
            println!(
                "| {rules_file} | {names_file} ({n}) | {engine} | {ns:.1} | {:.2} | {:.0} | {ratio:.2}x |",
                1e3 / ns,
                1e3 * mean_len / ns
            );
        };
        let stats = m.stats();
        row(
            &format!(
                "automaton (load {:.0} ms + compile {:.0} ms, or {:.0} ms from a compiled file; {} KiB; fwd {} / rev {}, {} states; {} literal keys)",
                load.as_secs_f64() * 1e3,
                build.as_secs_f64() * 1e3,
                compiled_load.as_secs_f64() * 1e3,
                m.memory_usage() / 1024,
                stats.forward,
                stats.reverse,
                stats.dense_states,
                stats.literal_keys,
            ),
            ours,
            1.0,
        );
        let threads = if n >= 16_384 { ", rayon" } else { "" };
        row(
            &format!("automaton, batch (shared prefixes{threads})"),
            batch,
            batch / ours,
        );
        let (floor, _) = time(n, extra, || {
            names
                .iter()
                .map(|x| {
                    let mut s = floor_start;
                    for &b in x.as_bytes() {
                        s = floor_dfa.next_state(s, b);
                    }
                    s.as_usize()
                })
                .fold(0, usize::wrapping_add)
        });
        // The naive loop and RegexSet take hours on EVA-48k (ENGINE-NOTES: R3-dsv3).
        if !rules_file.starts_with("eva-48k") {
            let reference = m.reference();
            let (naive, c1) = time(n, 1, || {
                names
                    .iter()
                    .map(|x| reference.resolve(x).unwrap_or(usize::MAX))
                    .fold(0, usize::wrapping_add)
            });
            assert_eq!(c0, c1, "automaton and naive reference disagree on {label}");
            // RegexSet over every atom, then the first rule whose pattern holds.
            let atoms: Vec<String> = m
                .rules()
                .atoms()
                .iter()
                .map(|a| match a.kind {
                    lora_rules::syntax::ast::PatternKind::Key => {
                        format!(r"^(?:.*\.)?(?:{})$", a.regex)
                    }
                    _ => format!("^(?:{})$", a.regex),
                })
                .collect();
            let set = regex::RegexSetBuilder::new(&atoms)
                .size_limit(1 << 30)
                .dfa_size_limit(1 << 28)
                .build()
                .expect("RegexSet");
            let rules = m.rules().rules();
            let (rset, c2) = time(n, 1, || {
                names
                    .iter()
                    .map(|x| {
                        let hit = set.matches(x);
                        rules
                            .iter()
                            .position(|r| r.expr.eval(&mut |a| hit.matched(a)))
                            .unwrap_or(usize::MAX)
                    })
                    .fold(0, usize::wrapping_add)
            });
            assert_eq!(c0, c2, "automaton and RegexSet disagree on {label}");
            row(
                "naive reference loop (Rust regex per rule)",
                naive,
                naive / ours,
            );
            row("RegexSet + first rule", rset, rset / ours);
        }
        row("bare dense-DFA byte walk (floor)", floor, floor / ours);
        if rules_file.ends_with(".json") && names_file != MILLION {
            let winners = m.resolve_batch(&names);
            python_rows(rules_file, names_file, &winners, ours, &row);
        }
    }
}
