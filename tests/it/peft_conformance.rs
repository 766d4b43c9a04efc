//! Runs all cases of spec/peft-0.21.2/cases.json (answers of the real PEFT 0.21.2) through
//! the direct evaluator and reports every difference in one run.

use lora_rules::peft::legacy::{LegacyConfig, evaluate};

use crate::peft_cases::{load, model_for};
use serde_json::Value;
use std::collections::BTreeMap;

fn num_eq(a: &Value, b: &serde_json::Number) -> bool {
    match a {
        Value::Number(n) => {
            if n.is_f64() != b.is_f64() {
                return false;
            }
            if n.is_f64() {
                n.as_f64() == b.as_f64()
            } else {
                n.as_i64() == b.as_i64() && n.as_u64() == b.as_u64()
            }
        }
        _ => false,
    }
}

#[test]
fn conformance_peft_0_21_2() {
    run(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/spec/peft-0.21.2/cases.json"
    ));
}

/// Extra hand-written requests, answered by the real PEFT 0.21.2 oracle.
#[test]
fn extra_oracle_cases() {
    run(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/extra_oracle_cases.json"
    ));
}

fn run(path: &str) {
    let doc = load(path);
    let cases = doc["cases"].as_array().unwrap();
    let mut failures: Vec<String> = Vec::new();
    let mut per_kind: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut module_answers = 0usize;
    let mut warning_diffs: Vec<String> = Vec::new();
    let (mut msg_equal, mut msg_total) = (0usize, 0usize);
    let mut targeted_answers = 0usize;
    for case in cases {
        let id = case["id"].as_str().unwrap();
        let kind = case["kind"].as_str().unwrap().to_string();
        let expect = &case["expect"];
        let mut fail: Vec<String> = Vec::new();
        let parsed = LegacyConfig::from_json_value(&case["config"]);
        let mut parse_warnings = Vec::new();
        let result = parsed.and_then(|(mut cfg, w)| {
            parse_warnings = w;
            if case["config_source"] == "saved" {
                cfg.sort_pattern_keys();
            }
            evaluate(&cfg, &model_for(case))
        });
        if let Ok(ev) = &result {
            // Warnings: RuntimeWarnings (pattern keys) must match exactly; UserWarnings by
            // category and first words (PEFT prints Python sets in hash order).
            let ours: Vec<String> = parse_warnings
                .iter()
                .chain(ev.warnings.iter())
                .map(|w| w.to_string())
                .collect();
            let theirs: Vec<String> = expect["warnings"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|w| w.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let norm = |v: &[String]| {
                let mut v: Vec<String> = v
                    .iter()
                    .filter(|w| !w.contains("low_cpu_mem_usage") && !w.contains("'eva'"))
                    .map(|w| {
                        if w.starts_with("RuntimeWarning") {
                            w.clone()
                        } else {
                            w.chars().take(200).collect()
                        }
                    })
                    .collect();
                v.sort();
                v
            };
            if norm(&ours) != norm(&theirs) {
                warning_diffs.push(format!(
                    "{id}: ours {:?} / PEFT {:?}",
                    norm(&ours),
                    norm(&theirs)
                ));
            }
        }
        match (expect["ok"].as_bool().unwrap(), result) {
            (true, Ok(ev)) => {
                let by_name: BTreeMap<&str, &lora_rules::peft::Decision> =
                    ev.decisions.iter().map(|d| (d.name.as_str(), d)).collect();
                for m in expect["modules"].as_array().unwrap() {
                    module_answers += 1;
                    let name = m["name"].as_str().unwrap();
                    let Some(d) = by_name.get(name) else {
                        fail.push(format!("{name}: no decision"));
                        continue;
                    };
                    let t = m["targeted"].as_bool().unwrap();
                    if t {
                        targeted_answers += 1;
                    }
                    if d.targeted != t {
                        fail.push(format!(
                            "{name}: targeted {} expected {t} ({:?})",
                            d.targeted, d.reason
                        ));
                        continue;
                    }
                    if !t {
                        continue;
                    }
                    if m["r"].as_u64() != d.r.map(u64::from) {
                        fail.push(format!(
                            "{name}: r {:?} expected {} (key {:?})",
                            d.r, m["r"], d.rank_key
                        ));
                    }
                    match &d.lora_alpha {
                        Some(a) if num_eq(&m["lora_alpha"], a) => {}
                        other => fail.push(format!(
                            "{name}: lora_alpha {other:?} expected {} (key {:?})",
                            m["lora_alpha"], d.alpha_key
                        )),
                    }
                    let es = m["scaling"].as_f64().unwrap();
                    match d.scaling {
                        Some(s) if (s - es).abs() <= 1e-12 * es.abs().max(1e-300) => {}
                        other => fail.push(format!("{name}: scaling {other:?} expected {es}")),
                    }
                }
            }
            (true, Err(e)) => fail.push(format!("unexpected error: {e}")),
            (false, Ok(_)) => fail.push(format!(
                "expected {} ({}), got success",
                expect["error"]["type"], expect["error"]["message"]
            )),
            (false, Err(e)) => {
                let et = expect["error"]["type"].as_str().unwrap();
                let pm: String = expect["error"]["message"]
                    .as_str()
                    .unwrap_or("")
                    .chars()
                    .take(40)
                    .collect();
                let ours = e
                    .regex
                    .as_ref()
                    .map(|r| r.python_message())
                    .unwrap_or_else(|| e.message.clone());
                msg_total += 1;
                if ours.starts_with(&pm) {
                    msg_equal += 1;
                } else {
                    eprintln!(
                        "MESSAGE {id}: ours {ours:?} / PEFT {:?}",
                        expect["error"]["message"]
                    );
                }
                if e.python_type() != et {
                    fail.push(format!(
                        "error type {} expected {et}: ours `{e}` / PEFT `{}`",
                        e.python_type(),
                        expect["error"]["message"]
                    ));
                }
            }
        }
        let entry = per_kind.entry(kind).or_default();
        if fail.is_empty() {
            entry.0 += 1;
        } else {
            entry.1 += 1;
            let shown: Vec<String> = fail.iter().take(6).cloned().collect();
            failures.push(format!(
                "{id} [{}] {} difference(s):\n    {}",
                case["config_source"],
                fail.len(),
                shown.join("\n    ")
            ));
        }
    }
    for f in &failures {
        eprintln!("FAIL {f}");
    }
    let (mut p, mut f) = (0, 0);
    eprintln!("\n{path}");
    eprintln!("kind                 passed failed");
    for (k, (ok, bad)) in &per_kind {
        eprintln!("{k:<20} {ok:>6} {bad:>6}");
        p += ok;
        f += bad;
    }
    eprintln!("{:<20} {p:>6} {f:>6}", "TOTAL");
    for w in &warning_diffs {
        eprintln!("WARNING-DIFF {w}");
    }
    eprintln!("warnings differing: {} cases", warning_diffs.len());
    eprintln!("module answers compared: {module_answers} ({targeted_answers} targeted)");
    eprintln!("error messages equal to PEFT's (first 40 characters): {msg_equal} of {msg_total}");
    assert!(
        failures.is_empty(),
        "{} of {} cases failed",
        failures.len(),
        cases.len()
    );
    assert!(
        warning_diffs.is_empty(),
        "{} cases with different warnings",
        warning_diffs.len()
    );
}
