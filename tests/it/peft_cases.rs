//! Loading the PEFT 0.21.2 conformance cases (`spec/peft-0.21.2/cases.json`)
//! and the model each case describes; shared by the evaluator and convert tests.

use lora_rules::peft::legacy::{ModelInfo, Module};
use serde_json::Value;

/// Reads and parses a cases file (panics in tests only).
pub fn load(path: &str) -> Value {
    let text = std::fs::read_to_string(path).expect("read cases.json");
    serde_json::from_str(&text).expect("parse cases.json")
}

const LINEAR_CLASSES: &[&str] = &["Linear", "Conv1D"];

pub fn model_for(case: &Value) -> ModelInfo {
    if let Some(tm) = case.get("transformers_model") {
        let classes = case["module_classes"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let modules = case["expect"]["modules"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| m["name"].as_str())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let modules = modules
            .into_iter()
            .map(|n| {
                let class = classes.get(n).and_then(|c| c.as_str()).map(str::to_string);
                let linear_like = class
                    .as_deref()
                    .map(|c| LINEAR_CLASSES.contains(&c))
                    .unwrap_or(false);
                Module {
                    name: n.to_string(),
                    class,
                    linear_like,
                }
            })
            .collect();
        let mt = tm["model_type"].as_str().unwrap_or("");
        let default_targets = match mt {
            "llama" | "qwen2" => Some(vec!["q_proj".to_string(), "v_proj".to_string()]),
            _ => None,
        };
        ModelInfo {
            modules,
            output_embedding: case["output_embedding"].as_str().map(str::to_string),
            default_targets,
        }
    } else {
        // The oracle inserts names sorted by (number of dots, name) into a plain nn.Module
        // tree; named_modules() follows that insertion order.
        let mut names: Vec<String> = case["modules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap().to_string())
            .collect();
        names.sort_by(|a, b| (a.matches('.').count(), a).cmp(&(b.matches('.').count(), b)));
        names.dedup();
        ModelInfo {
            modules: names.into_iter().map(Module::linear).collect(),
            output_embedding: None,
            default_targets: None,
        }
    }
}
