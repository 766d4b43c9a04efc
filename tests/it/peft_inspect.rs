//! `inspect`: small adapters (config + safetensors written here) checked module by module,
//! through the library and the binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use lora_rules::peft::inspect::{Problem, inspect};
use lora_rules::peft::legacy::LegacyConfig;
use safetensors::tensor::{Dtype, TensorView};

fn adapter_dir(tag: &str, config: &serde_json::Value, tensors: &[(&str, Vec<usize>)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lora-rules-inspect-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("adapter_config.json"),
        serde_json::to_string_pretty(config).unwrap(),
    )
    .unwrap();
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, s)| {
            let len: usize = s.iter().product();
            (n.to_string(), s.clone(), vec![0u8; len * 4])
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = data
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, &None, &dir.join("adapter_model.safetensors")).unwrap();
    dir
}

fn config() -> serde_json::Value {
    serde_json::json!({
        "peft_type": "LORA",
        "target_modules": ["q_proj", "v_proj"],
        "r": 8, "lora_alpha": 16,
        "rank_pattern": {"layers.1.self_attn.v_proj": 4, "never_matches": 2, "v_proj": 2},
        "alpha_pattern": {}
    })
}

const P: &str = "base_model.model.model.layers";

fn good_tensors() -> Vec<(String, Vec<usize>)> {
    let mut v = Vec::new();
    for l in 0..2 {
        for (m, r) in [("q_proj", 8), ("v_proj", if l == 1 { 4 } else { 2 })] {
            v.push((format!("{P}.{l}.self_attn.{m}.lora_A.weight"), vec![r, 16]));
            v.push((format!("{P}.{l}.self_attn.{m}.lora_B.weight"), vec![16, r]));
        }
    }
    v
}

fn run(dir: &Path) -> lora_rules::peft::inspect::Report {
    let (cfg, _) = LegacyConfig::from_json_str(
        &std::fs::read_to_string(dir.join("adapter_config.json")).unwrap(),
    )
    .unwrap();
    let tensors =
        lora_rules::modules::read_safetensors_header(&dir.join("adapter_model.safetensors"))
            .unwrap();
    inspect(&cfg, &tensors, None).unwrap()
}

fn as_refs(v: &[(String, Vec<usize>)]) -> Vec<(&str, Vec<usize>)> {
    v.iter().map(|(n, s)| (n.as_str(), s.clone())).collect()
}

fn cli(dir: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lora-rules"))
        .args(["inspect", dir.to_str().unwrap()])
        .env("LORA_RULES_ERROR_FORMAT", "plain")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn agreement() {
    let t = good_tensors();
    let dir = adapter_dir("agree", &config(), &as_refs(&t));
    let rep = run(&dir);
    assert!(rep.problems.is_empty(), "{:?}", rep.problems);
    assert!(rep.modules_from_tensors);
    assert_eq!(rep.modules.len(), 4);
    assert_eq!(rep.max_rank, 8);
    // `never_matches` matches nothing; `layers.1.self_attn.v_proj` decides one module;
    // `v_proj` decides the other
    assert_eq!(rep.keys.len(), 1, "{:?}", rep.keys);
    assert_eq!(rep.keys[0].key, "never_matches");
    let (code, out) = cli(&dir);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("config and tensors agree"), "{out}");
    assert!(out.contains("max rank: 8"), "{out}");
    assert!(out.contains("no base model given"), "{out}");
}

#[test]
fn rank_mismatch() {
    let mut t = good_tensors();
    for (n, s) in t.iter_mut() {
        if n.contains("layers.0.self_attn.q_proj") {
            // A [16, 16] and B [16, 16]: rank 16 where the config says 8
            *s = vec![16, 16];
        }
    }
    let dir = adapter_dir("mismatch", &config(), &as_refs(&t));
    let rep = run(&dir);
    assert_eq!(
        rep.problems,
        [Problem::RankMismatch {
            module: "model.layers.0.self_attn.q_proj".into(),
            config: 8,
            tensors: 16
        }]
    );
    assert_eq!(rep.max_rank, 16);
    let (code, out) = cli(&dir);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("1 disagreement(s)"), "{out}");
}

#[test]
fn orphan_tensor_and_shadowed_key() {
    let mut t = good_tensors();
    t.push((format!("{P}.0.mlp.down_proj.lora_A.weight"), vec![8, 16]));
    t.push((format!("{P}.0.mlp.down_proj.lora_B.weight"), vec![16, 8]));
    t.push((
        "base_model.model.lm_head.modules_to_save.default.weight".into(),
        vec![4, 4],
    ));
    let mut cfg = config();
    // `self_attn.v_proj` comes after `v_proj`, which always wins: shadowed
    cfg["rank_pattern"] =
        serde_json::json!({"layers.1.self_attn.v_proj": 4, "v_proj": 2, "self_attn.v_proj": 3});
    let dir = adapter_dir("orphan", &cfg, &as_refs(&t));
    let rep = run(&dir);
    assert_eq!(rep.problems.len(), 1, "{:?}", rep.problems);
    assert!(
        matches!(&rep.problems[0], Problem::Orphan { module, .. } if module == "model.layers.0.mlp.down_proj")
    );
    assert_eq!(rep.other_tensors.len(), 1);
    assert_eq!(rep.keys.len(), 1);
    assert_eq!(rep.keys[0].key, "self_attn.v_proj");
    assert!(rep.keys[0].matches > 0);
    let (code, out) = cli(&dir);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no rule explains them"), "{out}");
    assert!(out.contains("shadowed"), "{out}");
}

#[test]
fn missing_tensors_with_base_model() {
    let t: Vec<(String, Vec<usize>)> = good_tensors()
        .into_iter()
        .filter(|(n, _)| !n.contains("layers.1.self_attn.q_proj"))
        .collect();
    let dir = adapter_dir("missing", &config(), &as_refs(&t));
    let model = dir.join("model.txt");
    std::fs::write(
        &model,
        "model.layers.0.self_attn.q_proj\nmodel.layers.0.self_attn.v_proj\nmodel.layers.1.self_attn.q_proj\nmodel.layers.1.self_attn.v_proj\nlm_head\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lora-rules"))
        .args([
            "inspect",
            dir.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("model.layers.1.self_attn.q_proj: the config targets it, but the file has no LoRA tensors"),
        "{stdout}"
    );
}
