//! `resolve` on a legacy PEFT `adapter_config.json`, evaluated directly with
//! PEFT 0.21.2's own rules ([`lora_rules::peft`]).

use lora_rules::Outcome;
use lora_rules::diag::{Diagnostic, Diagnostics, Source, code};
use lora_rules::modules::ModuleList;
use lora_rules::peft::legacy::{self, LegacyConfig, ModelInfo};

use super::output::Row;
use super::{Exit, one};

/// True when `source` is a JSON object that reads as a PEFT config rather
/// than a rule dictionary: it has `target_modules` or `peft_type`, or a
/// numeric `r` (rule-dictionary values are only objects or `null`).
pub fn is_legacy_config(source: &Source) -> bool {
    let Ok(serde_json::Value::Object(o)) = serde_json::from_str::<serde_json::Value>(source.text())
    else {
        return false;
    };
    o.contains_key("target_modules")
        || o.contains_key("peft_type")
        || o.get("r").is_some_and(|v| v.is_number())
}

/// The module list as PEFT sees the model. Modules without a class column
/// are taken as `torch.nn.Linear` leaves (the conformance corpus's "modules"
/// form); TSV classes are kept, and `Linear`/`Conv1D` count as linear for
/// `"all-linear"`.
pub fn model_info(list: &ModuleList) -> ModelInfo {
    ModelInfo::from_module_list(list)
}

/// Evaluates the config over the modules.
pub fn rows<'a>(
    source: &Source,
    list: &'a ModuleList,
) -> Result<Vec<Row<'a>>, (Diagnostics, Exit)> {
    let fail = |e: legacy::LegacyError| {
        (
            one(Diagnostic::error(
                code::LEGACY,
                format!("PEFT 0.21.2 would raise {}: {}", e.python_type(), e),
            )
            .with_source(source)),
            Exit::Diagnostics,
        )
    };
    let (cfg, warnings) = LegacyConfig::from_json_str(source.text()).map_err(fail)?;
    let ev = legacy::evaluate(&cfg, &model_info(list)).map_err(fail)?;
    for w in warnings.iter().chain(&ev.warnings) {
        eprintln!(
            "warning[{}]: {}: {w}",
            code::LEGACY_IGNORED_FIELD,
            source.name()
        );
    }
    let by_name: std::collections::HashMap<&str, &legacy::Decision> =
        ev.decisions.iter().map(|d| (d.name.as_str(), d)).collect();
    Ok(list
        .modules
        .iter()
        .map(|m| {
            let d = by_name.get(m.name.as_str());
            let targeted = d.is_some_and(|d| d.targeted);
            let excluded = d.is_some_and(|d| {
                matches!(
                    d.reason,
                    legacy::Reason::Excluded(_) | legacy::Reason::ModulesToSave(_)
                )
            });
            let attrs = d.filter(|_| targeted).map(|d| {
                let mut o = serde_json::Map::new();
                if let Some(r) = d.r {
                    o.insert("rank".into(), r.into());
                }
                if let Some(a) = &d.lora_alpha {
                    o.insert("alpha".into(), serde_json::Value::Number(a.clone()));
                }
                if cfg.use_rslora {
                    o.insert("use_rslora".into(), true.into());
                }
                serde_json::Value::Object(o)
            });
            Row {
                module: &m.name,
                rule: None,
                outcome: if targeted {
                    Outcome::Adapt
                } else if excluded {
                    Outcome::Exclude
                } else {
                    Outcome::None
                },
                attrs_text: attrs
                    .as_ref()
                    .and_then(|a| a.as_object())
                    .map(|o| {
                        o.iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_default(),
                attrs,
                scaling: d.filter(|_| targeted).and_then(|d| d.scaling),
            }
        })
        .collect())
}
