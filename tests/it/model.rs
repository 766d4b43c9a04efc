//! Differential property tests: the automaton against the naive reference
//! (try each rule in order with its own regex, first match wins), on
//! generated rule sets and names generated to hit the patterns.

use lora_rules::engine::Config;
use proptest::prelude::*;

use crate::util::compile_with;

const SEGMENTS: &[&str] = &[
    "model",
    "layers",
    "0",
    "1",
    "2",
    "3",
    "10",
    "31",
    "mlp",
    "self_attn",
    "q_proj",
    "k_proj",
    "up_proj",
    "down_proj",
    "experts",
    "17",
    "visual",
    "blocks",
    "lm_head",
    "encoder",
    "q",
    "é",
    "w1",
];

fn name() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(SEGMENTS), 1..7).prop_map(|v| v.join("."))
}

fn path_atom() -> impl Strategy<Value = String> {
    let seg = prop::sample::select(vec![
        "model",
        "layers",
        "*",
        "**",
        "{0..3}",
        "{1,10,31}",
        "*_proj",
        "{q,k}_proj",
        "mlp",
        "self_attn",
        "experts",
        "q*",
        "visual",
        "blocks",
        "lm_head",
    ]);
    prop::collection::vec(seg, 1..6).prop_map(|v| format!("\"{}\"", v.join(".")))
}

fn regex_atom() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        r".*_proj",
        r"model\.layers\.\d+\..*",
        r".*\.(q|k)_proj",
        r".*layers\.1.*",
        r"[a-z_.]+",
        "model.*",
        r".*a.*j",
        r"model\.layers\.3\.mlp\.up_proj",
        "model.layers.3.mlp.up_proj",
        r".*\.\d\..*",
        r"(?i).*Q_PROJ",
        r".*",
        r"lm_head",
        r".*experts\.1\d*\.w1",
        r"\w+(\.\w+)*",
        r".*visual.*",
        "",
        r"model(\.layers)?\..*",
    ])
    .prop_map(|r| format!("re \"{r}\""))
}

fn key_atom() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "q_proj",
        r"layers\.\d",
        r"mlp\..*",
        r".*_proj",
        r"\d+\.mlp\.up_proj",
        "(?i)Q_PROJ",
        "proj",
        "x|mlp",
        "k_proj|up_proj",
        r"layers.1",
        "model.layers.10.mlp.down_proj",
        r"^model\..*",
        r".*\.q",
        "w1",
        "é",
        r"3\..*",
        "lm_head",
        r"[0-9]+",
    ])
    .prop_map(|k| format!("key \"{k}\""))
}

fn atom() -> impl Strategy<Value = String> {
    prop_oneof![path_atom(), regex_atom(), key_atom()]
}

fn pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => atom(),
        1 => (atom(), atom()).prop_map(|(a, b)| format!("{a} & !{b}")),
        1 => (atom(), atom()).prop_map(|(a, b)| format!("({a} | {b})")),
        1 => atom().prop_map(|a| format!("!{a}")),
    ]
}

fn rule_set() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            pattern(),
            prop_oneof![
                Just("exclude".to_string()),
                (1u32..64).prop_map(|r| format!("{{ rank = {r} }}"))
            ],
        ),
        1..12,
    )
    .prop_map(|rules| {
        rules
            .into_iter()
            .map(|(p, a)| format!("{p} {a}\n"))
            .collect()
    })
}

fn configs() -> Vec<(&'static str, Config)> {
    vec![
        ("default", Config::default()),
        (
            "unicode-dense",
            Config {
                ascii: false,
                ..Config::default()
            },
        ),
        (
            "keys-reverse",
            Config {
                inline_key_limit: 0,
                ..Config::default()
            },
        ),
        (
            "keys-reverse-literal-table",
            Config {
                inline_key_limit: 0,
                literal_keys_min: 0,
                ..Config::default()
            },
        ),
        (
            "lazy",
            Config {
                force_lazy: true,
                ..Config::default()
            },
        ),
        (
            "lazy-reverse-tiny-cache",
            Config {
                force_lazy: true,
                inline_key_limit: 0,
                lazy_cache_capacity: 0,
                ..Config::default()
            },
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Every engine configuration agrees with the reference on every name.
    #[test]
    fn automaton_equals_reference(rules in rule_set(), names in prop::collection::vec(name(), 1..40)) {
        for (label, cfg) in configs() {
            let m = match compile_with(&rules, &cfg) {
                Ok(m) => m,
                Err(d) => panic!("{label}: {d}\n{rules}"),
            };
            for n in &names {
                prop_assert_eq!(m.resolve_index(n), m.reference().resolve(n), "config {} name {} rules:\n{}", label, n, rules);
            }
            if label == "default" {
                // `explain`'s list of every matching rule.
                for n in &names {
                    prop_assert_eq!(m.matching(n), m.reference().matching(n), "name {} rules:\n{}", n, rules);
                }
            }
            // The batch path resumes from shared prefixes: sorted names share most.
            let mut sorted = names.clone();
            sorted.sort();
            let one_by_one: Vec<Option<usize>> = sorted.iter().map(|n| m.resolve_index(n)).collect();
            prop_assert_eq!(m.resolve_batch(&sorted), one_by_one, "batch, config {}", label);
        }
    }
}

/// Names taken from the patterns themselves, so that matches are common.
#[test]
fn automaton_equals_reference_on_real_llama_names() {
    let names: Vec<String> = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/models/llama-3-8b.tsv"
    ))
    .unwrap_or_default()
    .lines()
    .filter(|l| !l.starts_with('#'))
    .filter_map(|l| l.split('\t').next().map(str::to_string))
    .collect();
    assert_eq!(names.len(), 422);
    let rules = r#"
        "model.layers.{0..3}.mlp.*" exclude
        re "model\.layers\.3.*" { rank = 3 }
        key "layers\.1\d\.self_attn\.[qk]_proj" { rank = 12 }
        "**.*_proj" & !key "o_proj" { rank = 16 }
        !re ".*\.layers\..*" { rank = 1 }
    "#;
    for (label, cfg) in configs() {
        let m = compile_with(rules, &cfg).unwrap_or_else(|d| panic!("{d}"));
        let mut counts = [0usize; 6];
        for n in &names {
            let got = m.resolve_index(n);
            assert_eq!(got, m.reference().resolve(n), "{label} {n}");
            counts[got.unwrap_or(5)] += 1;
        }
        // Counts computed independently with Python `re.fullmatch` over the same names.
        assert_eq!(counts, [16, 35, 20, 145, 6, 200], "{label}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Dead-rule analysis against the reference: a rule that wins a sampled
    /// name is never reported dead, and every witness name matches its dead
    /// rule but is decided by the reported earlier rule.
    #[test]
    fn dead_rules_agree_with_reference(rules in rule_set(), names in prop::collection::vec(name(), 1..60)) {
        let m = compile_with(&rules, &Config::default()).unwrap_or_else(|d| panic!("{d}"));
        let lora_rules::engine::analysis::Analysis::Done(dead) = lora_rules::engine::analysis::dead_rules(m.rules()) else {
            return Ok(());
        };
        let reference = m.reference();
        for n in &names {
            if let Some(w) = reference.resolve(n) {
                prop_assert!(!dead.iter().any(|d| d.rule == w), "rule {} wins {} but was reported dead\n{}", w, n, rules);
            }
        }
        for d in &dead {
            if let Some((name, by)) = &d.witness {
                prop_assert!(reference.rule_matches(d.rule, name), "witness {} does not match rule {}\n{}", name, d.rule, rules);
                prop_assert_eq!(reference.resolve(name), Some(*by));
                prop_assert!(*by < d.rule);
            }
        }
    }

    /// The analysis reading names forward and backwards finds the same dead
    /// rules, and each witness is right for the reference (the two readings
    /// build different automata: keys inlined with a `.*` loop, or as
    /// prefixes of the reversed name).
    #[test]
    fn dead_rules_agree_in_both_readings(rules in rule_set()) {
        use lora_rules::engine::analysis::{dead_rules_reading, Analysis, Reading};
        let m = compile_with(&rules, &Config::default()).unwrap_or_else(|d| panic!("{d}"));
        let (Analysis::Done(fwd), Analysis::Done(bwd)) = (
            dead_rules_reading(m.rules(), Reading::Forward),
            dead_rules_reading(m.rules(), Reading::Backward),
        ) else {
            return Ok(());
        };
        let ids = |d: &[lora_rules::engine::analysis::DeadRule]| d.iter().map(|d| d.rule).collect::<Vec<_>>();
        prop_assert_eq!(ids(&fwd), ids(&bwd), "\n{}", rules);
        let reference = m.reference();
        for d in fwd.iter().chain(&bwd) {
            prop_assert_eq!(d.witness.is_some(), fwd.iter().find(|f| f.rule == d.rule).unwrap().witness.is_some());
            if let Some((name, by)) = &d.witness {
                prop_assert!(reference.rule_matches(d.rule, name), "witness {} does not match rule {}\n{}", name, d.rule, rules);
                prop_assert_eq!(reference.resolve(name), Some(*by));
            }
        }
    }
}

#[test]
fn seed_example_has_two_dead_rules() {
    let m = compile_with(
        r#"{".*_proj": null, "down_proj": {"rank": 10, "init": "eva"}, "gate_proj": {"rank": 20, "alpha": 5}}"#,
        &Config::default(),
    )
    .unwrap_or_else(|d| panic!("{d}"));
    let dead = lora_rules::engine::analysis::dead_rules(m.rules());
    assert_eq!(
        dead,
        lora_rules::engine::analysis::Analysis::Done(vec![
            lora_rules::engine::analysis::DeadRule {
                rule: 1,
                witness: Some(("down_proj".into(), 0))
            },
            lora_rules::engine::analysis::DeadRule {
                rule: 2,
                witness: Some(("gate_proj".into(), 0))
            },
        ])
    );
}

/// Sum of the winning key index over every name (-1 for none), as computed
/// by `benches/peft_loop.py` with Python's `re.match(rf"(.*\.)?({key})$")`
/// per key in order (PEFT 0.21.2 `get_pattern_key`): full precompiled pass
/// for EVA-560; for EVA-48k its `--dump-winners` table (checked against the
/// plain loop on an evenly spaced sample).
#[test]
fn eva_checksums_match_python() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/data");
    for (rules, names, want) in [
        ("eva-560.json", "llama-3-70b.txt", 156_519i64),
        ("eva-48k.json", "deepseek-v3-experts.txt", 1_013_917_995),
    ] {
        let text = std::fs::read_to_string(format!("{data}/{rules}")).unwrap_or_default();
        let m = compile_with(&text, &Config::default()).unwrap_or_else(|d| panic!("{d}"));
        let list: Vec<String> = std::fs::read_to_string(format!("{data}/{names}"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        let sum: i64 = m
            .resolve_batch(&list)
            .iter()
            .map(|w| w.map_or(-1, |w| w as i64))
            .sum();
        assert!(list.len() > 500, "{names} is missing");
        assert_eq!(sum, want, "{rules} on {names}");
    }
}

/// An EVA-style key set (keys only, no trailing `.*`) is read backwards by
/// the analysis; forward and backward readings find the same dead rule,
/// with the same shortest witness here.
#[test]
fn key_only_rules_are_analysed_backwards() {
    use lora_rules::engine::analysis::{Analysis, DeadRule, Reading, dead_rules_reading};
    let m = compile_with(
        r#"{"q_proj": {"rank": 8}, "model\\.layers\\.0\\.self_attn\\.q_proj": {"rank": 4}, "model.layers.1.mlp.up_proj": {"rank": 2}, "1.mlp.up_proj": null}"#,
        &Config::default(),
    )
    .unwrap_or_else(|d| panic!("{d}"));
    let expected = Analysis::Done(vec![DeadRule {
        rule: 1,
        witness: Some(("model.layers.0.self_attn.q_proj".into(), 0)),
    }]);
    for reading in [Reading::Auto, Reading::Forward, Reading::Backward] {
        assert_eq!(
            dead_rules_reading(m.rules(), reading),
            expected,
            "{reading:?}"
        );
    }
}

/// Findings of an attack session on the analysis, pinned:
/// - a `&` rule whose atom ends in `.*` makes the reverse automaton blow up,
///   so the reading must stay forward (it skipped, and missed rule 2);
/// - rules that match no valid name get no witness search (1,500 of them
///   took 68 s), and still say so;
/// - witnesses use printable bytes where the class has one (it printed a
///   NUL for `[^\w.\-]`).
#[test]
fn analysis_regressions_from_attack_session() {
    use lora_rules::engine::analysis::{Analysis, DeadRule, dead_rules};
    let dead = |text: &str| {
        let m = compile_with(text, &Config::default()).unwrap_or_else(|d| panic!("{d}"));
        dead_rules(m.rules())
    };
    assert_eq!(
        dead(
            "key \"k\" exclude\nre \"[ab]{20}a.*\" & !re \"zz\" { rank = 4 }\nkey \"k\" { rank = 8 }\n"
        ),
        Analysis::Done(vec![DeadRule {
            rule: 2,
            witness: Some(("k".into(), 0))
        }])
    );
    assert_eq!(
        dead(
            "re \"a\\.\\.b\" exclude\nre \"x\\.\" exclude\nkey \"q\" { rank = 2 }\nre \"\\.y\" exclude\n"
        ),
        Analysis::Done(vec![
            DeadRule {
                rule: 0,
                witness: None
            },
            DeadRule {
                rule: 1,
                witness: None
            },
            DeadRule {
                rule: 3,
                witness: None
            },
        ])
    );
    assert_eq!(
        dead("key \"[^\\w.\\-]\" exclude\nkey \"[^\\w.\\-]\" { rank = 2 }\n"),
        Analysis::Done(vec![DeadRule {
            rule: 1,
            witness: Some(("!".into(), 0))
        }])
    );
}
