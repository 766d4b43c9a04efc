//! A legacy PEFT adapter config, parsed and evaluated on a fixed small
//! model, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lora_rules::peft::legacy::{self, LegacyConfig, ModelInfo, Module};

const NAMES: &[&str] = &[
    "model.embed_tokens",
    "model.layers.0.self_attn.q_proj",
    "model.layers.0.self_attn.k_proj",
    "model.layers.0.mlp.down_proj",
    "model.layers.1.self_attn.q_proj",
    "model.layers.1.mlp.down_proj",
    "lm_head",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok((cfg, _)) = LegacyConfig::from_json_str(text) else {
        return;
    };
    let model = ModelInfo {
        modules: NAMES.iter().map(|n| Module::linear(*n)).collect(),
        output_embedding: Some("lm_head".into()),
        default_targets: Some(vec!["q_proj".into()]),
    };
    if let Err(e) = legacy::evaluate(&cfg, &model) {
        let _ = e.to_string();
    }
});
