//! Property: random legacy PEFT configs over real module trees (the Linear names of
//! `examples/models/*.tsv`): `convert` (with the model) then resolve equals
//! `legacy::evaluate` on every module, or both fail.

use std::path::Path;
use std::sync::OnceLock;

use lora_rules::Outcome;
use lora_rules::ir::Value;
use lora_rules::peft::convert::{ConvertLimits, convert};
use lora_rules::peft::legacy::{self, LegacyConfig, ModelInfo};
use proptest::prelude::*;
use serde_json::{Map, Value as Json, json};

const MODELS: &[&str] = &[
    "llama-3-8b",
    "qwen2.5-vl-7b",
    "t5-base",
    "deepseek-v3",
    "gpt2",
    "whisper-large-v3",
    "mixtral-8x7b",
    "gemma-3-4b",
];

fn linear_names(model: &str) -> &'static [String] {
    static CACHE: OnceLock<Vec<Vec<String>>> = OnceLock::new();
    let all = CACHE.get_or_init(|| {
        MODELS
            .iter()
            .map(|m| {
                let p = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("examples/models")
                    .join(format!("{m}.tsv"));
                let list = lora_rules::modules::read_modules(&p).unwrap();
                list.modules
                    .into_iter()
                    .filter(|m| matches!(m.class.as_deref(), Some("Linear" | "Conv1D")))
                    .map(|m| m.name)
                    .collect()
            })
            .collect()
    });
    &all[MODELS.iter().position(|m| *m == model).unwrap()]
}

/// A suffix of `name` with `k` segments (1 = the leaf), or the full name.
fn suffix(name: &str, k: usize) -> String {
    let segs: Vec<&str> = name.split('.').collect();
    let k = k.min(segs.len());
    segs[segs.len() - k..].join(".")
}

const REGEX_TARGETS: &[&str] = &[
    r".*\.(?:q|v)_proj",
    r".*\.(q|k|v|o)",
    r"model\.layers\.\d+\.mlp\..*",
    r".*(attn|attention).*",
    r".*\.layers\.[0-9]\..*_proj",
    r".*\.(?:c_attn|c_proj|fc1|fc2)",
    r"(?!.*visual).*_proj",
];

const REGEX_EXCLUDES: &[&str] = &[
    r".*\.layers\.1\..*",
    r".*visual.*",
    r"lm_head",
    r".*\.0\..*",
];

const EXTRA_KEYS: &[&str] = &[
    r"layers\.1\d?\..*",
    r"^model\..*proj",
    r"mlp\..*",
    r"(q|v)_proj",
    r"self_attn\.o_proj",
    r"\d\.mlp\.down_proj",
    r"experts\.\d+\.w[13]",
];

fn pick_keys(names: &'static [String]) -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(
        prop_oneof![
            (any::<prop::sample::Index>(), 1usize..4)
                .prop_map(move |(i, k)| suffix(i.get::<String>(names), k)),
            (any::<prop::sample::Index>()).prop_map(move |i| i.get::<String>(names).clone()),
            (0..EXTRA_KEYS.len()).prop_map(|i| EXTRA_KEYS[i].to_string()),
        ],
        0..6,
    )
}

fn alpha() -> impl Strategy<Value = Json> {
    prop_oneof![
        (1i64..=128).prop_map(|a| json!(a)),
        (1u32..=64).prop_map(|a| json!(f64::from(a) + 0.5)),
        (1u32..=64).prop_map(|a| json!(f64::from(a))),
    ]
}

fn config(model: &'static str) -> impl Strategy<Value = Json> {
    let names = linear_names(model);
    let target = prop_oneof![
        4 => proptest::collection::vec(
            (any::<prop::sample::Index>(), 1usize..4).prop_map(move |(i, k)| suffix(i.get::<String>(names), k)),
            1..6,
        )
        .prop_map(|v| json!(v)),
        3 => (0..REGEX_TARGETS.len()).prop_map(|i| json!(REGEX_TARGETS[i])),
        1 => Just(json!("all-linear")),
    ];
    let exclude = prop_oneof![
        3 => Just(Json::Null),
        1 => proptest::collection::vec(
            (any::<prop::sample::Index>(), 1usize..3).prop_map(move |(i, k)| suffix(i.get::<String>(names), k)),
            1..3,
        )
        .prop_map(|v| json!(v)),
        1 => (0..REGEX_EXCLUDES.len()).prop_map(|i| json!(REGEX_EXCLUDES[i])),
    ];
    (
        target,
        exclude,
        1i64..=64,
        alpha(),
        any::<bool>(),
        pick_keys(names),
        proptest::collection::vec(1i64..=64, 6),
        pick_keys(names),
        proptest::collection::vec(alpha(), 6),
        prop_oneof![
            4 => Just(None),
            1 => proptest::collection::vec(0i64..12, 0..4).prop_map(Some),
        ],
    )
        .prop_map(|(t, e, r, a, rs, rk, rv, ak, av, layers)| {
            let mut o = Map::new();
            let is_list = t.is_array();
            o.insert("target_modules".into(), t);
            if !e.is_null() {
                o.insert("exclude_modules".into(), e);
            }
            o.insert("r".into(), json!(r));
            o.insert("lora_alpha".into(), a);
            o.insert("use_rslora".into(), json!(rs));
            let mut rp = Map::new();
            for (k, v) in rk.into_iter().zip(rv) {
                rp.insert(k, json!(v));
            }
            let mut ap = Map::new();
            for (k, v) in ak.into_iter().zip(av) {
                ap.insert(k, v);
            }
            o.insert("rank_pattern".into(), Json::Object(rp));
            o.insert("alpha_pattern".into(), Json::Object(ap));
            if let Some(l) = layers.filter(|_| is_list) {
                o.insert("layers_to_transform".into(), json!(l));
            }
            Json::Object(o)
        })
}

fn case() -> impl Strategy<Value = (&'static str, Json)> {
    (0..MODELS.len()).prop_flat_map(|i| (Just(MODELS[i]), config(MODELS[i])))
}

fn check(model: &str, cfg_json: &Json) -> Result<(), TestCaseError> {
    let names = linear_names(model);
    let info = ModelInfo {
        modules: names.iter().map(legacy::Module::linear).collect(),
        ..Default::default()
    };
    let (cfg, _) = LegacyConfig::from_json_value(cfg_json).unwrap();
    let ev = legacy::evaluate(&cfg, &info);
    // The model-free conversion (exact on every model, combinations written
    // without knowing which occur) must agree too, where it exists.
    if let (Ok(ev), Ok(free)) = (&ev, convert(&cfg, None, &ConvertLimits::default())) {
        same_as_peft(ev, &free)?;
    }
    let conv = convert(&cfg, Some(&info), &ConvertLimits::default());
    let (ev, conv) = match (ev, conv) {
        (Err(_), Err(_)) => return Ok(()),
        (Ok(ev), Ok(c)) => (ev, c),
        (Ok(_), Err(e)) => return Err(TestCaseError::fail(format!("convert fails: {e}"))),
        (Err(e), Ok(c)) => {
            return Err(TestCaseError::fail(format!(
                "PEFT raises {e}, convert gives\n{}",
                c.text
            )));
        }
    };
    same_as_peft(&ev, &conv)
}

/// Every module of `ev` resolved with the converted file `conv`: targeted,
/// rank, alpha (with its JSON type) and scaling as PEFT decided.
fn same_as_peft(
    ev: &legacy::Evaluation,
    conv: &lora_rules::peft::convert::Converted,
) -> Result<(), TestCaseError> {
    let m = lora_rules::compile_str("c.lora", &conv.text)
        .map_err(|d| TestCaseError::fail(format!("{d}\n{}", conv.text)))?;
    for d in &ev.decisions {
        let r = m.resolve(&d.name);
        prop_assert_eq!(
            r.outcome() == Outcome::Adapt,
            d.targeted,
            "{}\n{}",
            d.name,
            conv.text
        );
        if !d.targeted {
            continue;
        }
        let a = r.attrs().unwrap();
        let want_rank = d.r.map(|x| Value::Int(i64::from(x)));
        prop_assert_eq!(
            a.get("rank"),
            want_rank.as_ref(),
            "{}\n{}",
            d.name,
            conv.text
        );
        let alpha_ok = match (a.get("alpha"), &d.lora_alpha) {
            (Some(Value::Int(i)), Some(n)) => !n.is_f64() && n.as_i64() == Some(*i),
            (Some(Value::Float(x)), Some(n)) => n.is_f64() && n.as_f64() == Some(*x),
            _ => false,
        };
        prop_assert!(alpha_ok, "{} alpha\n{}", d.name, conv.text);
        let (x, y) = (r.scaling().unwrap(), d.scaling.unwrap());
        prop_assert!((x - y).abs() <= 1e-12 * y.abs(), "{} scaling", d.name);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn convert_with_model_equals_peft((model, cfg) in case()) {
        check(model, &cfg)?;
    }
}
