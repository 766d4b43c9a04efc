//! One process, one table: the automaton against the naive reference loop,
//! `regex::RegexSet` + min index, and a bare dense-DFA byte walk (the floor),
//! on each workload. Ratios, not just times. `cargo bench --bench compare`.

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

fn main() {
    let floor_dfa = dense::DFA::new(r"(?s:.)*").expect("floor DFA");
    let floor_start = floor_dfa
        .start_state(&start::Config::new().anchored(Anchored::Yes))
        .expect("start");
    let workloads = [
        ("r5.lora", "llama-3-70b.txt"),
        ("r100.lora", "llama-3-70b.txt"),
        ("eva-560.json", "llama-3-70b.txt"),
        ("r5.lora", "deepseek-v3-experts.txt"),
        ("r100.lora", "deepseek-v3-experts.txt"),
        ("eva-48k.json", "deepseek-v3-experts.txt"),
    ];
    // `cargo bench --bench compare -- r100 eva`: only workloads whose
    // "rules/names" contains one of the words (cargo's own flags ignored).
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    // More repetitions (best of) for profiling: COMPARE_REPS=200.
    let extra: usize = std::env::var("COMPARE_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    println!("| rules | names | engine | ns/name | Mnames/s | vs automaton |");
    println!("|---|---|---|---|---|---|");
    for (rules_file, names_file) in workloads {
        let label = format!("{rules_file}/{names_file}");
        if !filters.is_empty() && !filters.iter().any(|f| label.contains(f.as_str())) {
            continue;
        }
        let names = common::names(names_file);
        let t0 = Instant::now();
        let m = common::matcher(rules_file);
        let build = t0.elapsed();
        let n = names.len();
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
        assert_eq!(
            c0, cb,
            "batch and per-name resolution disagree on {rules_file}/{names_file}"
        );
        if rules_file == "eva-48k.json" {
            // The naive loop and RegexSet take hours here (ENGINE-NOTES: R3-dsv3).
            let row = |engine: &str, ns: f64| {
                println!(
                    "| {rules_file} | {names_file} ({n}) | {engine} | {ns:.1} | {:.2} | {:.2}x |",
                    1e3 / ns,
                    ns / ours
                )
            };
            row(
                &format!(
                    "automaton (built in {:.1} ms, {} KiB, {:?})",
                    build.as_secs_f64() * 1e3,
                    m.memory_usage() / 1024,
                    m.stats()
                ),
                ours,
            );
            row("automaton, batch (shared prefixes, rayon)", batch);
            continue;
        }
        let reference = m.reference();
        let reps = if n > 10_000 { 1 } else { 3 };
        let (naive, c1) = time(n, reps, || {
            names
                .iter()
                .map(|x| reference.resolve(x).unwrap_or(usize::MAX))
                .fold(0, usize::wrapping_add)
        });
        // RegexSet over every atom, then the first rule whose pattern holds.
        let atoms: Vec<String> = m
            .rules()
            .atoms()
            .iter()
            .map(|a| match a.kind {
                lora_rules::syntax::ast::PatternKind::Key => format!(r"^(?:.*\.)?(?:{})$", a.regex),
                _ => format!("^(?:{})$", a.regex),
            })
            .collect();
        let set = regex::RegexSetBuilder::new(&atoms)
            .size_limit(1 << 30)
            .dfa_size_limit(1 << 28)
            .build()
            .expect("RegexSet");
        let rules = m.rules().rules();
        let (rset, c2) = time(n, reps, || {
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
        let (floor, _) = time(n, 5, || {
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
        assert_eq!(
            c0, c1,
            "automaton and naive reference disagree on {rules_file}/{names_file}"
        );
        assert_eq!(
            c0, c2,
            "automaton and RegexSet disagree on {rules_file}/{names_file}"
        );
        let row = |engine: &str, ns: f64| {
            println!(
                "| {rules_file} | {names_file} ({n}) | {engine} | {ns:.1} | {:.2} | {:.2}x |",
                1e3 / ns,
                ns / ours
            );
        };
        row(
            &format!(
                "automaton (built in {:.1} ms, {} KiB, {:?})",
                build.as_secs_f64() * 1e3,
                m.memory_usage() / 1024,
                m.stats().forward
            ),
            ours,
        );
        row("automaton, batch (shared prefixes)", batch);
        row("naive reference loop", naive);
        row("RegexSet + first rule", rset);
        row("bare dense-DFA byte walk (floor)", floor);
    }
}
