#![allow(clippy::invalid_regex)] // deliberately invalid Rust regexes show where Python differs
//! Unit tests with exact values for each rule (values checked against Python 3.11.7 /
//! PEFT 0.21.2).

use lora_rules::peft::layers::{LayerIndex, layer_index};
use lora_rules::peft::legacy::{
    LegacyConfig, ModelInfo, Module, PeftErrorKind, Reason, TargetModules, evaluate,
    find_minimal_target_modules, get_pattern_key,
};
use lora_rules::peft::pyregex::{
    Construct, Engine, Mode, PyRegex, PyRegexErrorKind, non_dfa_construct, translate_python_regex,
};

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

// ---------------------------------------------------------------- layer index

#[test]
fn layer_index_default_regex_is_lazy() {
    // MoE: the layer, not the expert (greedy PEFT < #3318 gave 7)
    assert_eq!(
        layer_index("model.layers.1.block_sparse_moe.experts.7.w1", &[]).unwrap(),
        LayerIndex::Found(Some(1))
    );
    assert_eq!(
        layer_index("model.layers.13.mlp.experts.117.down_proj", &[]).unwrap(),
        LayerIndex::Found(Some(13))
    );
    // T5: the block, not the inner layer.N
    assert_eq!(
        layer_index("encoder.block.3.layer.1.SelfAttention.q", &[]).unwrap(),
        LayerIndex::Found(Some(3))
    );
    assert_eq!(
        layer_index("decoder.block.11.layer.2.DenseReluDense.wo", &[]).unwrap(),
        LayerIndex::Found(Some(11))
    );
    // at least two segments before the number
    assert_eq!(
        layer_index("layers.0.q_proj", &[]).unwrap(),
        LayerIndex::None
    );
    assert_eq!(
        layer_index("h.1.attn.c_attn", &[]).unwrap(),
        LayerIndex::None
    );
    assert_eq!(
        layer_index("transformer.h.1.attn.c_attn", &[]).unwrap(),
        LayerIndex::Found(Some(1))
    );
    assert_eq!(
        layer_index("a.0.b.1.c_proj", &[]).unwrap(),
        LayerIndex::Found(Some(1))
    );
    // diffusers root-level blocks never yield an index
    assert_eq!(
        layer_index("transformer_blocks.3.attn.to_q", &[]).unwrap(),
        LayerIndex::None
    );
    // Python int() of a Unicode digit
    assert_eq!(
        layer_index("model.layers.\u{663}.q_proj", &[]).unwrap(),
        LayerIndex::Found(Some(3))
    );
}

#[test]
fn layer_index_with_layers_pattern() {
    let p = s(&["layers"]);
    // at the start of the name too
    assert_eq!(
        layer_index("layers.3.mlp.up_proj", &p).unwrap(),
        LayerIndex::Found(Some(3))
    );
    assert_eq!(
        layer_index("model.layers.3.mlp.experts.17.down_proj", &p).unwrap(),
        LayerIndex::Found(Some(3))
    );
    // T5 with layers_pattern "layer": the inner index
    assert_eq!(
        layer_index("encoder.block.3.layer.1.SelfAttention.q", &s(&["layer"])).unwrap(),
        LayerIndex::Found(Some(1))
    );
    // list tried in order: first matching pattern wins
    assert_eq!(
        layer_index("vision.blocks.2.layers.5.x", &s(&["layers", "blocks"])).unwrap(),
        LayerIndex::Found(Some(5))
    );
    assert_eq!(
        layer_index("vision.blocks.2.layers.5.x", &s(&["blocks", "layers"])).unwrap(),
        LayerIndex::Found(Some(2))
    );
    // grouped alternation works, ungrouped captures nothing
    assert_eq!(
        layer_index("model.layers.3.mlp.gate", &s(&["(layers|h)"])).unwrap(),
        LayerIndex::Found(Some(3))
    );
    assert_eq!(
        layer_index("model.layers.3.mlp.gate", &s(&["layers|h"])).unwrap(),
        LayerIndex::None
    );
    // regex-like pattern
    assert_eq!(
        layer_index("model.layer.4.q", &s(&["layer[s]?"])).unwrap(),
        LayerIndex::Found(Some(4))
    );
    // invalid pattern: Python re.error
    assert_eq!(
        layer_index("model.layers.4.q", &s(&["layers("]))
            .unwrap_err()
            .kind,
        PyRegexErrorKind::ReError
    );
}

// ---------------------------------------------------------------- minimal suffixes

#[test]
fn minimal_target_modules_docstring_example() {
    let mut t: Vec<String> = (0..100)
        .map(|i| format!("model.decoder.layers.{i}.self_attn.q_proj"))
        .collect();
    t.extend((0..100).map(|i| format!("model.decoder.layers.{i}.self_attn.v_proj")));
    let o: Vec<String> = (0..100)
        .map(|i| format!("model.encoder.layers.{i}.self_attn.k_proj"))
        .collect();
    let r: Vec<String> = find_minimal_target_modules(&t, &o)
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(r, s(&["q_proj", "v_proj"]));
}

#[test]
fn minimal_target_modules_keeps_layer_digits() {
    // q_proj of layer 1 is not a target: the suffix must carry the layer number
    let t = s(&[
        "m.layers.0.q_proj",
        "m.layers.0.k_proj",
        "m.layers.2.q_proj",
    ]);
    let o = s(&[
        "m",
        "m.layers",
        "m.layers.0",
        "m.layers.1",
        "m.layers.2",
        "m.layers.1.q_proj",
        "m.layers.1.k_proj",
    ]);
    let r: Vec<String> = find_minimal_target_modules(&t, &o)
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(r, s(&["0.k_proj", "0.q_proj", "2.q_proj"]));
    // an empty entry is PEFT's ValueError
    assert_eq!(
        find_minimal_target_modules(&s(&["", "a"]), &[])
            .unwrap_err()
            .kind,
        PeftErrorKind::ValueError
    );
}

fn linear_model(names: &[&str]) -> ModelInfo {
    ModelInfo {
        modules: names.iter().map(|n| Module::linear(*n)).collect(),
        output_embedding: None,
        default_targets: None,
    }
}

#[test]
fn twenty_full_names_lose_the_exact_name_bypass() {
    let mut names: Vec<String> = Vec::new();
    for l in 0..4 {
        for p in ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj"] {
            names.push(format!("model.layers.{l}.mlp.{p}"));
        }
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let model = linear_model(&refs);
    let mk = |n: usize| {
        let v =
            serde_json::json!({"target_modules": names[..n].to_vec(), "layers_to_transform": [1]});
        LegacyConfig::from_json_value(&v).unwrap().0
    };
    // 19 full names: every one targeted (exact-name bypass); 20: condensed, layer filter applies
    let e19 = evaluate(&mk(19), &model).unwrap();
    assert_eq!(e19.decisions.iter().filter(|d| d.targeted).count(), 19);
    let e20 = evaluate(&mk(20), &model).unwrap();
    assert_eq!(e20.decisions.iter().filter(|d| d.targeted).count(), 5);
    assert_eq!(
        e20.effective_targets,
        TargetModules::List(s(&["k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]))
    );
}

// ---------------------------------------------------------------- pattern keys

#[test]
fn pattern_key_first_match_in_order() {
    let keys = ["layers.1.self_attn.q_proj", "q_proj"];
    assert_eq!(
        get_pattern_key(keys, "model.layers.1.self_attn.q_proj", "rank_pattern").unwrap(),
        Some("layers.1.self_attn.q_proj")
    );
    let keys = ["q_proj", "layers.1.self_attn.q_proj"];
    assert_eq!(
        get_pattern_key(keys, "model.layers.1.self_attn.q_proj", "rank_pattern").unwrap(),
        Some("q_proj")
    );
    // segment aligned: "._proj" hits q_proj (the dot is a wildcard), "layers.3" hits nothing
    assert_eq!(
        get_pattern_key(["._proj"], "m.q_proj", "rank_pattern").unwrap(),
        Some("._proj")
    );
    assert_eq!(
        get_pattern_key(["layers.3"], "m.layers.3.q_proj", "rank_pattern").unwrap(),
        None
    );
    // ^ only at the very start; lookahead without ^ is tried after every dot
    assert_eq!(
        get_pattern_key(["^layers"], "model.layers", "rank_pattern").unwrap(),
        None
    );
    assert_eq!(
        get_pattern_key(
            ["(?!.*mlp).*_proj"],
            "m.layers.0.mlp.gate_proj",
            "rank_pattern"
        )
        .unwrap(),
        Some("(?!.*mlp).*_proj")
    );
    // (?i) inside PEFT's wrapper: re.error at position 8 (byte 0 of the key)
    let e = get_pattern_key(["(?i)DOWN_PROJ"], "m.down_proj", "alpha_pattern").unwrap_err();
    assert_eq!(e.kind, PeftErrorKind::ReError);
    assert_eq!(e.regex.as_ref().unwrap().position, Some(8));
    assert!(
        e.to_string()
            .contains("global flags not at the start of the expression at position 8")
    );
    assert!(e.to_string().contains("byte 0 of the entry"));
}

#[test]
fn config_parsing() {
    let (c, w) = LegacyConfig::from_json_str(
        r#"{"target_modules":["q_proj"],"lora_alpha":16.0,"rank_pattern":{"z":1,"a":2},"future_option_from_newer_peft":1}"#,
    )
    .unwrap();
    assert_eq!(
        c.rank_pattern
            .iter()
            .map(|x| x.0.as_str())
            .collect::<Vec<_>>(),
        ["z", "a"]
    );
    assert!(c.lora_alpha.is_f64());
    assert_eq!(c.r, 8);
    assert_eq!(w.len(), 1);
    assert!(w[0].message.contains("future_option_from_newer_peft"));
    let mut c2 = c.clone();
    c2.sort_pattern_keys();
    assert_eq!(
        c2.rank_pattern
            .iter()
            .map(|x| x.0.as_str())
            .collect::<Vec<_>>(),
        ["a", "z"]
    );
    // AdaLoRA masks refused
    let e = LegacyConfig::from_json_str(
        r#"{"rank_pattern":{"model.layers.0.self_attn.q_proj.lora_E":[true,false]}}"#,
    )
    .unwrap_err();
    assert_eq!(e.kind, PeftErrorKind::Unsupported);
    assert!(e.to_string().contains("AdaLoRA"));
}

#[test]
fn evaluation_rules() {
    let model = linear_model(&[
        "model.layers.0.self_attn.q_proj",
        "model.layers.0.mlp.c_proj",
        "model.layers.0.mlp.c_fc",
        "lm_head",
    ]);
    let ev = |j: serde_json::Value| evaluate(&LegacyConfig::from_json_value(&j).unwrap().0, &model);
    // rslora scaling and alpha type
    let e = ev(serde_json::json!({"target_modules": ["q_proj"], "r": 16, "lora_alpha": 32, "use_rslora": true})).unwrap();
    let d = &e.decisions[0];
    assert_eq!((d.targeted, d.r, d.scaling), (true, Some(16), Some(8.0)));
    assert!(d.lora_alpha.as_ref().unwrap().is_i64());
    // exclude beats an exact full-name target
    let e = ev(serde_json::json!({"target_modules": ["lm_head", "q_proj"], "exclude_modules": ["lm_head"]})).unwrap();
    assert_eq!(e.decisions[3].reason, Reason::Excluded("lm_head".into()));
    // container hit -> ValueError
    let e = ev(serde_json::json!({"target_modules": ["c_proj", "mlp"]})).unwrap_err();
    assert_eq!(
        (e.kind, e.module.as_deref()),
        (PeftErrorKind::ValueError, Some("model.layers.0.mlp"))
    );
    // r = 0 from rank_pattern
    let e = ev(serde_json::json!({"target_modules": ["q_proj"], "rank_pattern": {"q_proj": 0}}))
        .unwrap_err();
    assert_eq!(
        (e.kind, e.field.as_deref()),
        (PeftErrorKind::ValueError, Some("rank_pattern"))
    );
    // string target is a full match: "q_proj" hits nothing
    let e = ev(serde_json::json!({"target_modules": "q_proj"})).unwrap_err();
    assert_eq!(e.kind, PeftErrorKind::NoMatchingPeftModuleError);
    // all-linear on a plain tree keeps lm_head; on a transformers model drops the output embedding
    let e = ev(serde_json::json!({"target_modules": "ALL-LINEAR"})).unwrap();
    assert!(e.decisions.iter().all(|d| d.targeted));
    let mut m2 = model.clone();
    m2.output_embedding = Some("lm_head".into());
    let e = evaluate(
        &LegacyConfig::from_json_str(r#"{"target_modules":"all-linear"}"#)
            .unwrap()
            .0,
        &m2,
    )
    .unwrap();
    assert!(!e.decisions[3].targeted);
    // absent target_modules: error without an architecture default, default list with one
    assert_eq!(
        ev(serde_json::json!({"r": 4})).unwrap_err().kind,
        PeftErrorKind::ValueError
    );
    m2.default_targets = Some(vec!["q_proj".into(), "v_proj".into()]);
    let e = evaluate(&LegacyConfig::from_json_str(r#"{"r":4}"#).unwrap().0, &m2).unwrap();
    assert_eq!(e.decisions.iter().filter(|d| d.targeted).count(), 1);
    // modules_to_save guard
    let e = ev(serde_json::json!({"target_modules": ["q_proj", "lm_head"], "modules_to_save": ["lm_head"]})).unwrap();
    assert_eq!(
        e.decisions[3].reason,
        Reason::ModulesToSave("lm_head".into())
    );
    // layers_to_transform with a str target -> ValueError
    assert_eq!(
        ev(serde_json::json!({"target_modules": ".*", "layers_to_transform": 0}))
            .unwrap_err()
            .kind,
        PeftErrorKind::ValueError
    );
}

// ---------------------------------------------------------------- regex translation

/// Python answer vs what a naive Rust `regex` would say, for patterns that differ.
fn py(p: &str, mode: Mode, h: &str) -> bool {
    PyRegex::new(p, mode).unwrap().is_match(h).unwrap()
}

#[test]
fn translation_differs_from_naive_rust() {
    // \Z: Python end of string; Rust `regex` has no \Z
    assert!(regex::Regex::new(r"a\Z").is_err());
    assert!(!py(r"a\Z", Mode::Match, "a\n"));
    assert_eq!(translate_python_regex(r"a\Z").unwrap().rust, r"a\z");
    // $ also matches before a final newline in Python
    assert!(!regex::Regex::new(r"\Aa$").unwrap().is_match("a\n"));
    assert!(py(r"a$", Mode::Match, "a\n"));
    assert!(!py(r"a$", Mode::FullMatch, "a\n"));
    // {,n}
    assert!(
        regex::Regex::new(r"^a{,3}$")
            .map(|r| !r.is_match("aaa"))
            .unwrap_or(true)
    );
    assert!(py(r"a{,3}", Mode::FullMatch, "aaa"));
    // nested-set syntax is literal in Python
    assert!(
        !regex::Regex::new(r"^[[a]$")
            .map(|r| r.is_match("["))
            .unwrap_or(false)
    );
    assert!(py(r"[[a]", Mode::FullMatch, "["));
    assert!(!regex::Regex::new(r"^[a&&b]$").unwrap().is_match("&"));
    assert!(py(r"[a&&b]", Mode::FullMatch, "&"));
    assert!(!regex::Regex::new(r"^[a~~b]$").unwrap().is_match("~"));
    assert!(py(r"[a~~b]", Mode::FullMatch, "~"));
    // \w: Python has no combining marks; \s: Python includes \x1c..\x1f
    assert!(regex::Regex::new(r"^\w+$").unwrap().is_match("e\u{301}"));
    assert!(!py(r"\w+", Mode::FullMatch, "e\u{301}"));
    assert!(!regex::Regex::new(r"^\s$").unwrap().is_match("\u{1c}"));
    assert!(py(r"\s", Mode::FullMatch, "\u{1c}"));
    // (?<name>...) is a Rust named group, a Python 3.11 error
    assert!(regex::Regex::new(r"(?<name>x)").is_ok());
    let e = translate_python_regex(r"(?<name>x)").unwrap_err();
    assert_eq!(
        (e.kind, e.message.as_str(), e.position),
        (PyRegexErrorKind::ReError, "unknown extension ?<n", Some(1))
    );
    // (?i) not at the start: Rust accepts, Python rejects
    assert!(regex::Regex::new(r"a|(?i)b").is_ok());
    let e = translate_python_regex(r"a|(?i)b").unwrap_err();
    assert_eq!(
        (e.message.as_str(), e.position, e.byte_offset),
        (
            "global flags not at the start of the expression",
            Some(2),
            Some(2)
        )
    );
    // possessive: Python 3.11 never gives back
    assert!(!py(r"a++a", Mode::Match, "aaa"));
    // variable-width look-behind: fancy-regex accepts, Python rejects (no position)
    assert!(fancy_regex::Regex::new(r"(?<=a+)b").is_ok());
    let e = translate_python_regex(r"(?<=a+)b").unwrap_err();
    assert_eq!(
        (e.message.as_str(), e.position),
        ("look-behind requires fixed-width pattern", None)
    );
    // byte offsets with non-ASCII before the error
    let e = translate_python_regex("é(").unwrap_err();
    assert_eq!((e.position, e.byte_offset), (Some(1), Some(2)));
}

#[test]
fn python_only_constructs_match_like_python() {
    assert!(py(
        r"^(?!.*visual).*o_proj",
        Mode::FullMatch,
        "model.layers.1.self_attn.o_proj"
    ));
    assert!(!py(
        r"^(?!.*visual).*o_proj",
        Mode::FullMatch,
        "visual.blocks.0.attn.o_proj"
    ));
    assert!(py(
        r"model\.layers\.(\d)\1\..*o_proj",
        Mode::FullMatch,
        "model.layers.22.self_attn.o_proj"
    ));
    assert!(!py(
        r"model\.layers\.(\d)\1\..*o_proj",
        Mode::FullMatch,
        "model.layers.21.self_attn.o_proj"
    ));
    assert!(py(
        r"(?>.*\.)v_proj",
        Mode::FullMatch,
        "model.layers.0.v_proj"
    )); // atomic group commits to the last dot
    assert!(!py(r"(?>a*)a", Mode::FullMatch, "aaa")); // never gives an `a` back
    assert!(py(
        r".*(?<!EncDecAttention)\.q",
        Mode::FullMatch,
        "encoder.block.0.layer.0.SelfAttention.q"
    ));
    assert!(!py(
        r".*(?<!EncDecAttention)\.q",
        Mode::FullMatch,
        "decoder.block.0.layer.1.EncDecAttention.q"
    ));
    assert!(py(r"(a)?(?(1)b|c)", Mode::FullMatch, "ab"));
    assert!(py(r"(a)?(?(1)b|c)", Mode::FullMatch, "c"));
    assert!(py(r"(?i:DOWN)_proj", Mode::FullMatch, "down_proj"));
    assert!(py(
        r".*\bin_proj",
        Mode::FullMatch,
        "backbone.layers.0.mixer.in_proj"
    ));
    assert!(!py(
        r".*\bin_proj",
        Mode::FullMatch,
        "backbone.layers.0.mixer.xin_proj"
    ));
}

#[test]
fn detector() {
    assert_eq!(
        non_dfa_construct(r"^(?!.*visual).*o_proj").unwrap(),
        Some((Construct::NegativeLookAhead, 1))
    );
    assert_eq!(
        non_dfa_construct(r"(a)\1").unwrap(),
        Some((Construct::Backreference, 3))
    );
    assert_eq!(
        non_dfa_construct(r"\d++").unwrap(),
        Some((Construct::PossessiveQuantifier, 2))
    );
    assert_eq!(
        non_dfa_construct(r"(?>a)").unwrap(),
        Some((Construct::AtomicGroup, 0))
    );
    assert_eq!(
        non_dfa_construct(r"x\b").unwrap(),
        Some((Construct::WordBoundary, 1))
    );
    // translated exactly without backtracking
    for p in [
        r"a\Z",
        r"\Aa",
        r"a{,3}",
        r"(?i:a)b",
        r"(?i)q_proj",
        r"[[a]",
        r"(.*\.)?(q_proj)$",
        r"model\.layers\.\d+\..*",
    ] {
        assert_eq!(non_dfa_construct(p).unwrap(), None, "{p}");
        assert_eq!(
            translate_python_regex(p).unwrap().engine,
            Engine::Regex,
            "{p}"
        );
    }
    assert!(non_dfa_construct("(").is_err());
}
