//! `export`: rules → PEFT 0.21.2 config fragment, checked with the crate's PEFT evaluator
//! (in key order and with keys sorted as PEFT saves them) against the rules' resolution, on
//! the example rule files over every example model, on a property test, and against real
//! PEFT's recorded answers (`tests/fixtures/export-roundtrip-peft-0.21.2.json`).

use std::path::Path;

use lora_rules::Outcome;
use lora_rules::ir::Value;
use lora_rules::peft::export::{ExportError, ExportOptions, exact_names_regex, export};
use lora_rules::peft::legacy::{self, LegacyConfig, ModelInfo};
use proptest::prelude::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn model(name: &str) -> ModelInfo {
    let list = lora_rules::modules::read_modules(&Path::new(ROOT).join(name)).unwrap();
    ModelInfo::from_module_list(&list)
}

fn models() -> Vec<(String, ModelInfo)> {
    let mut v: Vec<_> = std::fs::read_dir(Path::new(ROOT).join("examples/models"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tsv"))
        .collect();
    v.sort();
    v.into_iter()
        .map(|p| {
            let rel = p.strip_prefix(ROOT).unwrap().display().to_string();
            (rel.clone(), model(&rel))
        })
        .collect()
}

fn rule_files() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(Path::new(ROOT).join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "lora" || e == "json"))
        .map(|p| p.strip_prefix(ROOT).unwrap().display().to_string())
        .collect();
    v.sort();
    v
}

/// PEFT's answer (legacy evaluator) equals the rules' resolution on every module, except
/// the modules listed in `skip`.
fn assert_same(
    m: &lora_rules::Matcher,
    cfg: &LegacyConfig,
    model: &ModelInfo,
    skip: &[String],
    what: &str,
) {
    let ev = legacy::evaluate(cfg, model).unwrap_or_else(|e| panic!("{what}: PEFT raises {e}"));
    for d in &ev.decisions {
        if skip.contains(&d.name) {
            continue;
        }
        let r = m.resolve(&d.name);
        assert_eq!(
            d.targeted,
            r.outcome() == Outcome::Adapt,
            "{what}: {} targeted",
            d.name
        );
        assert_eq!(
            matches!(d.reason, legacy::Reason::Excluded(_)),
            r.outcome() == Outcome::Exclude,
            "{what}: {} excluded",
            d.name
        );
        if !d.targeted {
            continue;
        }
        let a = r.attrs().unwrap();
        assert_eq!(
            a.get("rank"),
            d.r.map(|x| Value::Int(i64::from(x))).as_ref(),
            "{what}: {} rank",
            d.name
        );
        let alpha_ok = match (a.get("alpha"), &d.lora_alpha) {
            (Some(Value::Int(i)), Some(n)) => !n.is_f64() && n.as_i64() == Some(*i),
            (Some(Value::Float(x)), Some(n)) => n.is_f64() && n.as_f64() == Some(*x),
            _ => false,
        };
        assert!(
            alpha_ok,
            "{what}: {} alpha {:?} vs {:?}",
            d.name,
            a.get("alpha"),
            d.lora_alpha
        );
        let (x, y) = (r.scaling().unwrap(), d.scaling.unwrap());
        assert!(
            (x - y).abs() <= 1e-12 * y.abs(),
            "{what}: {} scaling {x} vs {y}",
            d.name
        );
    }
}

fn check_export(m: &lora_rules::Matcher, model: &ModelInfo, what: &str) -> Option<usize> {
    let ex = match export(m, model, &ExportOptions::default()) {
        Ok(ex) => ex,
        Err(ExportError::NothingAdapted) => return None,
        Err(ExportError::Lossy(l)) => {
            // lossy: the listed modules may differ, every other module must agree
            let ex = export(m, model, &ExportOptions { allow_lossy: true })
                .unwrap_or_else(|e| panic!("{what}: lossy export fails: {e}"));
            assert_eq!(ex.losses, l, "{what}");
            let skip: Vec<String> = l
                .iter()
                .filter(|l| l.changes_table())
                .flat_map(|l| l.modules.clone())
                .collect();
            let (mut cfg, _) =
                LegacyConfig::from_json_value(&serde_json::Value::Object(ex.config)).unwrap();
            assert_same(m, &cfg, model, &skip, what);
            cfg.sort_pattern_keys();
            assert_same(m, &cfg, model, &skip, what);
            return Some(skip.len());
        }
        Err(e) => panic!("{what}: {e}"),
    };
    assert!(ex.losses.is_empty());
    let (mut cfg, _) =
        LegacyConfig::from_json_value(&serde_json::Value::Object(ex.config)).unwrap();
    assert_same(m, &cfg, model, &[], what);
    cfg.sort_pattern_keys();
    assert_same(m, &cfg, model, &[], &format!("{what} (sorted keys)"));
    Some(0)
}

#[test]
fn export_examples_over_every_model() {
    let models = models();
    let mut exported = 0;
    for rf in rule_files() {
        let m = lora_rules::compile_file(&Path::new(ROOT).join(&rf)).unwrap();
        for (mn, model) in &models {
            if check_export(&m, model, &format!("{rf} over {mn}")).is_some() {
                exported += 1;
            }
        }
    }
    // every example file adapts something on its own model at least
    assert!(exported >= 5, "{exported}");
}

#[test]
fn lossy_attributes_are_refused_then_listed() {
    let m = lora_rules::compile_str(
        "t.lora",
        r#"defaults { rank = 8, alpha = 16 }
"a.x" { dropout = 0.1 }
"a.y" { init = "pissa", use_rslora = true }
"a.z" { }"#,
    )
    .unwrap();
    let model = ModelInfo {
        modules: ["a.x", "a.y", "a.z"]
            .iter()
            .map(|n| legacy::Module::linear(*n))
            .collect(),
        ..Default::default()
    };
    let Err(ExportError::Lossy(l)) = export(&m, &model, &ExportOptions::default()) else {
        panic!("expected a lossy error")
    };
    let attrs: Vec<&str> = l.iter().map(|l| l.attribute.as_str()).collect();
    assert_eq!(attrs, ["use_rslora", "dropout", "init"]);
    assert_eq!(l[0].modules, ["a.y"]);
    let ex = export(&m, &model, &ExportOptions { allow_lossy: true }).unwrap();
    assert_eq!(ex.losses, l);
    assert_eq!(ex.config["use_rslora"], false);
    assert!(ex.config.get("lora_dropout").is_none());
}

#[test]
fn uniform_peft_attributes_are_global_fields() {
    let m = lora_rules::compile_str(
        "t.lora",
        r#"defaults { rank = 8, alpha = 16.0, dropout = 0.05, use_rslora = true }
"a.x" { rank = 4 }
"a.*" { }"#,
    )
    .unwrap();
    let model = ModelInfo {
        modules: ["a.x", "a.y", "a.z", "b.a.x"]
            .iter()
            .map(|n| legacy::Module::linear(*n))
            .collect(),
        ..Default::default()
    };
    let ex = export(&m, &model, &ExportOptions::default()).unwrap();
    let c = serde_json::Value::Object(ex.config);
    assert_eq!(c["lora_dropout"], 0.05);
    assert_eq!(c["use_rslora"], true);
    assert_eq!(c["lora_alpha"], serde_json::json!(16.0));
    // `b.a.x` ends with `.a.x`: only the `^` anchor keeps the key off it
    assert_eq!(c["target_modules"], "a\\.(?:x|y|z)");
    assert_eq!(c["rank_pattern"], serde_json::json!({"^a\\.x": 4}));
}

#[test]
fn unsupported_class_is_a_loss() {
    let m =
        lora_rules::compile_str("t.lora", "defaults { rank = 8, alpha = 8 }\n\"**\" {}").unwrap();
    let model = model("examples/models/gpt2.tsv");
    let Err(ExportError::Lossy(l)) = export(&m, &model, &ExportOptions::default()) else {
        panic!("expected a lossy error")
    };
    assert_eq!(l[0].attribute, "class");
    assert!(l[0].modules.iter().any(|n| n == "transformer.h.0.ln_1"));
    check_export(&m, &model, "** over gpt2");
}

#[test]
fn names_regex_is_exact() {
    let names = [
        "model.layers.0.self_attn.q_proj",
        "model.layers.0.self_attn.v_proj",
        "model.layers.1.self_attn.q_proj",
        "model.layers.1.self_attn.v_proj",
        "model.layers.10.mlp",
        "model.layers.10.mlp.up_proj",
        "lm_head",
    ];
    let rx = exact_names_regex(names);
    let re = regex::Regex::new(&format!("^(?:{rx})$")).unwrap();
    for n in names {
        assert!(re.is_match(n), "{n} {rx}");
    }
    for n in [
        "model.layers.1",
        "model.layers.10",
        "model.layers.10.mlp.down_proj",
        "model.layers.2.self_attn.q_proj",
        "x.lm_head",
        "model.layers.0.self_attn.q_projx",
    ] {
        assert!(!re.is_match(n), "{n} {rx}");
    }
    assert_eq!(exact_names_regex(["a.b-c.d", "a.x"]), "a\\.(?:b\\-c\\.d|x)");
}

// ------------------------------------------------------------------------------------------
// property: random rule files over real module trees
// ------------------------------------------------------------------------------------------

const MODELS: &[&str] = &[
    "examples/models/llama-3-8b.tsv",
    "examples/models/qwen2.5-vl-7b.tsv",
    "examples/models/t5-base.tsv",
    "examples/models/gpt2.tsv",
    "examples/models/deepseek-v3.tsv",
];

const PATTERNS: &[&str] = &[
    "key \"q_proj\"",
    "key \"(?:k|v)_proj\"",
    "key \"mlp\\.(gate|up|down)_proj\"",
    "\"**.*_proj\"",
    "\"model.layers.{0..9}.**\"",
    "\"model.layers.{10..40}.*.*\"",
    "\"**.{q,v}\"",
    "\"**.DenseReluDense.*\"",
    "key \"c_attn\" | key \"c_proj\"",
    "\"**.self_attn.*\" & !\"model.layers.{0..3}.**\"",
    "re \".*\\.(?:1|2)\\d*\\..*\"",
    "\"lm_head\"",
    "\"model.visual.**\"",
    "\"**.mlp.*\"",
];

fn rule_file() -> impl Strategy<Value = String> {
    let rule = (
        0..PATTERNS.len(),
        prop_oneof![Just(None), (1i64..=64).prop_map(Some),],
        prop_oneof![
            Just(String::new()),
            (1i64..=64).prop_map(|a| format!("alpha = {a}")),
            (1u32..=64).prop_map(|a| format!("alpha = {a}.5")),
        ],
        0u8..6,
    )
        .prop_map(|(p, r, a, x)| {
            if x == 0 {
                return format!("{} exclude", PATTERNS[p]);
            }
            let mut attrs = Vec::new();
            if let Some(r) = r {
                attrs.push(format!("rank = {r}"));
            }
            if !a.is_empty() {
                attrs.push(a);
            }
            format!("{} {{ {} }}", PATTERNS[p], attrs.join(", "))
        });
    (
        proptest::collection::vec(rule, 1..7),
        1i64..=32,
        prop_oneof![Just("16".to_string()), Just("8.0".to_string())],
        any::<bool>(),
    )
        .prop_map(|(rules, r, a, rs)| {
            format!(
                "defaults {{ rank = {r}, alpha = {a}{} }}\n{}\n",
                if rs { ", use_rslora = true" } else { "" },
                rules.join("\n")
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
    #[test]
    fn export_matches_rules(text in rule_file(), mi in 0..MODELS.len()) {
        let m = lora_rules::compile_str("p.lora", &text).unwrap();
        let model = model(MODELS[mi]);
        check_export(&m, &model, &format!("{text}\nover {}", MODELS[mi]));
    }
}

// ------------------------------------------------------------------------------------------
// real PEFT: the recorded round trip
// ------------------------------------------------------------------------------------------

#[test]
fn export_round_trip_with_real_peft() {
    let path = Path::new(ROOT).join("tests/fixtures/export-roundtrip-peft-0.21.2.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(!cases.is_empty());
    let mut compared = 0;
    for c in cases {
        let what = c["id"].as_str().unwrap();
        let rules = c["rules"].as_str().unwrap();
        let m = lora_rules::compile_file(&Path::new(ROOT).join(rules)).unwrap();
        let names: Vec<&str> = c["request"]["modules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let lossy: Vec<String> = c["lossy_modules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        // the committed request is what export produces today
        let model = ModelInfo {
            modules: names.iter().map(|n| legacy::Module::linear(*n)).collect(),
            ..Default::default()
        };
        let ex = export(&m, &model, &ExportOptions { allow_lossy: true }).unwrap();
        let mut sent = ex.config.clone();
        sent.remove("init_lora_weights");
        assert_eq!(
            serde_json::Value::Object(sent),
            c["request"]["config"],
            "{what}: export changed since the fixture was recorded"
        );
        let answer = &c["answer"];
        assert_eq!(answer["ok"], true, "{what}: PEFT raised {answer}");
        for em in answer["modules"].as_array().unwrap() {
            let name = em["name"].as_str().unwrap();
            if lossy.iter().any(|l| l == name) {
                continue;
            }
            let d = m.resolve(name);
            let t = em["targeted"].as_bool().unwrap();
            assert_eq!(d.outcome() == Outcome::Adapt, t, "{what}: {name}");
            if !t {
                continue;
            }
            let a = d.attrs().unwrap();
            assert_eq!(
                a.get("rank").map(|v| v.to_json()),
                Some(em["r"].clone()),
                "{what}: {name}"
            );
            let (x, y) = (a.get("alpha").unwrap().to_json(), &em["lora_alpha"]);
            assert!(
                x.is_f64() == y.is_f64() && x.as_f64() == y.as_f64(),
                "{what}: {name} alpha {x} vs {y}"
            );
            let (s, e) = (d.scaling().unwrap(), em["scaling"].as_f64().unwrap());
            assert!(
                (s - e).abs() <= 1e-12 * e.abs(),
                "{what}: {name} scaling {s} vs {e}"
            );
            compared += 1;
        }
    }
    assert!(compared > 100, "{compared}");
}
