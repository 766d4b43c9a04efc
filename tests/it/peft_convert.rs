//! `convert` proof: every case of spec/peft-0.21.2/cases.json converted to `.lora`, loaded,
//! and every module resolved against the real PEFT 0.21.2 answer.

use lora_rules::peft::convert::{ConvertLimits, convert};
use lora_rules::peft::legacy::LegacyConfig;

use crate::peft_cases::{load as load_cases, model_for};
use serde_json::Value;
use std::collections::BTreeMap;

fn matcher(text: &str) -> Result<lora_rules::Matcher, String> {
    let src = lora_rules::Source::new("converted.lora", text);
    let (rules, _) =
        lora_rules::load(&src, lora_rules::Format::Lora).map_err(|d| format!("{d:?}"))?;
    lora_rules::Matcher::new(rules).map_err(|e| e.to_string())
}

#[test]
fn convert_all_peft_cases() {
    let doc = load_cases(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/spec/peft-0.21.2/cases.json"
    ));
    let cases = doc["cases"].as_array().unwrap();
    let mut per_kind: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    let (mut exact_files, mut total_rules) = (0usize, 0usize);
    for case in cases {
        let id = case["id"].as_str().unwrap();
        let kind = case["kind"].as_str().unwrap().to_string();
        let expect = &case["expect"];
        let mut fail: Vec<String> = Vec::new();
        let model = model_for(case);
        let res = LegacyConfig::from_json_value(&case["config"])
            .map_err(|e| e.to_string())
            .and_then(|(mut cfg, _)| {
                if case["config_source"] == "saved" {
                    cfg.sort_pattern_keys();
                }
                convert(&cfg, Some(&model), &ConvertLimits::default()).map_err(|e| e.to_string())
            });
        match (expect["ok"].as_bool().unwrap(), res) {
            (false, Ok(c)) => fail.push(format!("expected an error, got:\n{}", c.text)),
            (false, Err(_)) => {}
            (true, Err(e)) => fail.push(format!("convert error: {e}")),
            (true, Ok(c)) => {
                total_rules += c.rules;
                if let Some(w) = c.warnings.iter().find(|w| w.contains("exact module names")) {
                    exact_files += 1;
                    eprintln!("EXACT {id}: {w}");
                }
                match matcher(&c.text) {
                    Err(e) => fail.push(format!("does not load: {e}\n{}", c.text)),
                    Ok(m) => {
                        for em in expect["modules"].as_array().unwrap() {
                            let name = em["name"].as_str().unwrap();
                            let d = m.resolve(name);
                            let t = em["targeted"].as_bool().unwrap();
                            let ours = d.outcome() == lora_rules::Outcome::Adapt;
                            if ours != t {
                                fail.push(format!("{name}: targeted {ours} expected {t}"));
                                continue;
                            }
                            if !t {
                                continue;
                            }
                            let attrs = d.attrs().unwrap();
                            let r = attrs.get("rank").map(|v| v.to_json());
                            if r.as_ref().and_then(Value::as_u64) != em["r"].as_u64() {
                                fail.push(format!("{name}: r {r:?} expected {}", em["r"]));
                            }
                            let a = attrs.get("alpha").map(|v| v.to_json());
                            let a_ok = match (&a, &em["lora_alpha"]) {
                                (Some(Value::Number(x)), Value::Number(y)) => {
                                    x.is_f64() == y.is_f64() && x.as_f64() == y.as_f64()
                                }
                                _ => false,
                            };
                            if !a_ok {
                                fail.push(format!(
                                    "{name}: lora_alpha {a:?} expected {}",
                                    em["lora_alpha"]
                                ));
                            }
                            let es = em["scaling"].as_f64().unwrap();
                            match d.scaling() {
                                Some(s) if (s - es).abs() <= 1e-12 * es.abs().max(1e-300) => {}
                                other => {
                                    fail.push(format!("{name}: scaling {other:?} expected {es}"))
                                }
                            }
                        }
                        if !fail.is_empty() {
                            fail.push(format!("file:\n{}", c.text));
                        }
                    }
                }
            }
        }
        let entry = per_kind.entry(kind).or_default();
        if fail.is_empty() {
            entry.0 += 1;
        } else {
            entry.1 += 1;
            let shown: Vec<String> = fail.iter().take(6).cloned().collect();
            failures.push(format!("{id}: {}", shown.join("\n    ")));
        }
    }
    for f in &failures {
        eprintln!("FAIL {f}");
    }
    eprintln!("kind                 passed failed");
    let (mut p, mut f) = (0, 0);
    for (k, (ok, bad)) in &per_kind {
        eprintln!("{k:<20} {ok:>6} {bad:>6}");
        p += ok;
        f += bad;
    }
    eprintln!("{:<20} {p:>6} {f:>6}", "TOTAL");
    eprintln!(
        "model-specific (exact name list) files: {exact_files}; rules written: {total_rules}"
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed",
        failures.len(),
        cases.len()
    );
}

fn cfg(json: &str) -> LegacyConfig {
    LegacyConfig::from_json_str(json).unwrap().0
}

fn text(json: &str) -> String {
    convert(&cfg(json), None, &ConvertLimits::default())
        .unwrap()
        .text
}

#[test]
fn convert_eva_same_keys_one_rule_per_key() {
    // pattern keys are Python regexes: copied as is (`.` stays a wildcard, as in PEFT)
    assert_eq!(
        text(
            r#"{"target_modules": ["q_proj", "v_proj"], "r": 8, "lora_alpha": 16,
                "rank_pattern": {"layers.0.q_proj": 4, "layers.1.v_proj": 6},
                "alpha_pattern": {"layers.0.q_proj": 8.0, "layers.1.v_proj": 12.0}}"#
        ),
        "defaults { rank = 8, alpha = 16 }\n\n\
         !(key \"q_proj\" | key \"v_proj\") exclude\n\
         key \"layers.0.q_proj\" { rank = 4, alpha = 8.0 }\n\
         key \"layers.1.v_proj\" { rank = 6, alpha = 12.0 }\n\
         key \"q_proj\" | key \"v_proj\" {}\n"
    );
}

#[test]
fn convert_rank_and_alpha_keys_differ() {
    assert_eq!(
        text(
            r#"{"target_modules": "model\\..*_proj", "r": 8, "lora_alpha": 8, "use_rslora": true,
                "rank_pattern": {"q_proj": 4}, "alpha_pattern": {"mlp\\..*": 32}}"#
        ),
        "defaults { rank = 8, alpha = 8, use_rslora = true }\n\n\
         re \"model\\..*_proj\" & key \"q_proj\" & key \"mlp\\..*\" { rank = 4, alpha = 32 }\n\
         re \"model\\..*_proj\" & key \"q_proj\" { rank = 4 }\n\
         re \"model\\..*_proj\" & key \"mlp\\..*\" { alpha = 32 }\n\
         re \"model\\..*_proj\" {}\n"
    );
}

#[test]
fn convert_exclude_list_and_modules_to_save() {
    assert_eq!(
        text(
            r#"{"target_modules": ["q_proj"], "exclude_modules": ["vision.q_proj", "x"],
                "modules_to_save": ["lm_head"], "r": 16, "lora_alpha": 32}"#
        ),
        "defaults { rank = 16, alpha = 32 }\n\n\
         key \"vision\\.q_proj\" | key \"x\" exclude\n\
         re \"(?:.*\\.)?lm_head(?:\\..*)?\" exclude\n\
         key \"q_proj\" {}\n"
    );
}

#[test]
fn convert_lookahead_idiom_and_errors() {
    assert_eq!(
        text(r#"{"target_modules": "^(?!.*visual).*o_proj", "r": 12, "lora_alpha": 32}"#),
        "defaults { rank = 12, alpha = 32 }\n\n\
         re \".*o_proj\" & !re \".*visual.*\" {}\n"
    );
    // a look-behind without a model: an error naming the construct and its offset
    let e = convert(
        &cfg(r#"{"target_modules": ["q"], "exclude_modules": ".*(?<!Enc)\\.q"}"#),
        None,
        &ConvertLimits::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("look-behind") && e.contains("byte 2"), "{e}");
    // too many combinations without a model
    let e = convert(
        &cfg(r#"{"target_modules": ["q"], "rank_pattern": {"a": 1, "b": 2}, "alpha_pattern": {"c": 1, "d": 2}}"#),
        None,
        &ConvertLimits { max_rules: 4 },
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("8 rank/alpha combination rules"),
        "{e}"
    );
}

#[test]
fn convert_keeps_dropout_init_and_dora() {
    // Not part of targeting or scaling, but part of the adapter: a converted
    // file that dropped them would train a different adapter.
    assert_eq!(
        text(
            r#"{"target_modules": ["q_proj"], "r": 8, "lora_alpha": 16, "lora_dropout": 0.1,
                "init_lora_weights": "pissa_niter_4", "use_dora": true, "use_rslora": true}"#
        ),
        "defaults { rank = 8, alpha = 16, dropout = 0.1, init = \"pissa_niter_4\", use_dora = true, use_rslora = true }\n\n\
         key \"q_proj\" {}\n"
    );
    assert_eq!(
        text(r#"{"target_modules": ["q_proj"], "init_lora_weights": false, "lora_dropout": 0.0}"#),
        "defaults { rank = 8, alpha = 8, init = false }\n\nkey \"q_proj\" {}\n"
    );
    let src = |cfg: &str| {
        LegacyConfig::from_json_str(cfg)
            .map(|_| ())
            .map_err(|e| (e.kind, e.field))
    };
    use lora_rules::peft::legacy::PeftErrorKind::Unsupported;
    for (cfg, field) in [
        (
            r#"{"target_modules": ["q_proj"], "use_dora": 1}"#,
            "use_dora",
        ),
        (
            r#"{"target_modules": ["q_proj"], "lora_dropout": "0.1"}"#,
            "lora_dropout",
        ),
        (
            r#"{"target_modules": ["q_proj"], "init_lora_weights": 1}"#,
            "init_lora_weights",
        ),
    ] {
        assert_eq!(
            src(cfg),
            Err((Unsupported, Some(field.to_string()))),
            "{cfg}"
        );
    }
}

#[test]
fn convert_leaves_out_combinations_no_module_can_have() {
    // `down_proj` is both a rank key and an alpha key: every module matching
    // one matches the other, so (down_proj, none), (none, down_proj) and
    // (layers 30-31, down_proj) never occur, and `key K & key K` is `key K`.
    assert_eq!(
        text(
            r#"{"target_modules": ["q_proj", "down_proj"], "r": 16, "lora_alpha": 32,
                "rank_pattern": {"down_proj": 8, "layers.3[01].self_attn.*": 64},
                "alpha_pattern": {"down_proj": 16}}"#
        ),
        "defaults { rank = 16, alpha = 32 }\n\n\
         !(key \"q_proj\" | key \"down_proj\") exclude\n\
         key \"down_proj\" { rank = 8, alpha = 16 }\n\
         key \"layers.3[01].self_attn.*\" { rank = 64 }\n\
         key \"q_proj\" | key \"down_proj\" {}\n"
    );
    // Different keys: every combination can occur.
    assert_eq!(
        text(
            r#"{"target_modules": ["q_proj"], "rank_pattern": {"a": 2}, "alpha_pattern": {"b": 4}}"#
        ),
        "defaults { rank = 8, alpha = 8 }\n\n\
         key \"q_proj\" & key \"a\" & key \"b\" { rank = 2, alpha = 4 }\n\
         key \"q_proj\" & key \"a\" { rank = 2 }\n\
         key \"q_proj\" & key \"b\" { alpha = 4 }\n\
         key \"q_proj\" {}\n"
    );
}
