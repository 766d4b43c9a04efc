//! `resolve` on a legacy PEFT `adapter_config.json`, evaluated directly with
//! PEFT 0.21.2's own rules ([`lora_rules::peft`]).

use lora_rules::Outcome;
use lora_rules::diag::{Diagnostic, Diagnostics, Source, Span, code};
use lora_rules::modules::ModuleList;
use lora_rules::peft::legacy::{self, LegacyConfig, ModelInfo};

use super::output::Row;
use super::{Exit, one};

/// True when `source` is a JSON object that reads as a PEFT config rather
/// than a rule dictionary: it has `target_modules` or `peft_type`, or a
/// numeric `r` (rule-dictionary values are only objects or `null`).
///
/// Read with the spanned JSON front end, which keeps numbers as text: a
/// config with a number serde_json refuses (`"r": 1e400`) is still a config,
/// and gets the legacy reader's error rather than rule-dictionary errors.
pub fn is_legacy_config(source: &Source) -> bool {
    use jsonc_parser::ast::Value;
    let text = source.text().trim_start_matches('\u{feff}');
    let Ok(Value::Object(o)) = lora_rules::syntax::json::parse_value(text) else {
        return false;
    };
    o.properties.iter().any(|p| match p.name.as_str() {
        "target_modules" | "peft_type" => true,
        "r" => matches!(p.value, Value::NumberLit(_)),
        _ => false,
    })
}

/// The span of the config entry an error names: the value of `field`, or of
/// `field`'s entry `key` when there is one.
fn locate(source: &Source, e: &legacy::LegacyError) -> Option<Span> {
    use jsonc_parser::ast::Value;
    let field = e.field.as_deref()?;
    // A byte-order mark is read as three spaces, so offsets stay exact.
    let text = match source.text().strip_prefix('\u{feff}') {
        Some(rest) => format!("   {rest}"),
        None => source.text().to_string(),
    };
    let Ok(Value::Object(o)) = lora_rules::syntax::json::parse_value(&text) else {
        return None;
    };
    let prop = o.properties.iter().find(|p| p.name.as_str() == field)?;
    if let (Some(key), Value::Object(inner)) = (e.key.as_deref(), &prop.value)
        && let Some(entry) = inner.properties.iter().find(|p| p.name.as_str() == key)
    {
        return Some(lora_rules::syntax::json::value_span(&entry.value));
    }
    Some(lora_rules::syntax::json::value_span(&prop.value))
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
    fmt: super::ErrorFormat,
) -> Result<Vec<Row<'a>>, (Diagnostics, Exit)> {
    let fail = |e: legacy::LegacyError| {
        // `e.message` alone: `e`'s Display repeats the type, the field and the hint.
        let what = match (&e.field, &e.key, &e.module) {
            (Some(f), Some(k), _) => format!("`{f}` entry `{k}`"),
            (Some(f), None, Some(m)) => format!("`{f}`, for module `{m}`"),
            (Some(f), None, None) => format!("`{f}`"),
            (None, _, Some(m)) => format!("module `{m}`"),
            (None, _, None) => String::new(),
        };
        let (code, mut message) = headline(&e);
        let span = locate(source, &e);
        if span.is_none() && !what.is_empty() {
            message.push_str(&format!(" (in {what})"));
        }
        let mut d = Diagnostic::error(code, message).with_source(source);
        if let Some(span) = span {
            d = d.with_span(span, what);
        }
        if !e.hint.is_empty() {
            d = d.with_help(e.hint.clone());
        }
        (one(d), Exit::Diagnostics)
    };
    let (cfg, warnings) =
        LegacyConfig::from_json_str(source.text().trim_start_matches('\u{feff}')).map_err(fail)?;
    let ev = legacy::evaluate(&cfg, &model_info(list)).map_err(fail)?;
    for w in warnings.iter().chain(&ev.warnings) {
        super::warn_line(
            fmt,
            code::LEGACY_IGNORED_FIELD,
            source.name(),
            &w.to_string(),
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
                // The attributes `convert` writes into `defaults`, so that
                // both forms resolve to the same attributes.
                if cfg.lora_dropout.as_f64() != Some(0.0) {
                    o.insert(
                        "dropout".into(),
                        serde_json::Value::Number(cfg.lora_dropout.clone()),
                    );
                }
                if cfg.init_lora_weights != serde_json::Value::Bool(true) {
                    o.insert("init".into(), cfg.init_lora_weights.clone());
                }
                if cfg.use_dora {
                    o.insert("use_dora".into(), true.into());
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

/// The code and first line of a diagnostic for `e`: PEFT's exception, or
/// (for `Unsupported`, which is not a PEFT exception) what this evaluator
/// does not reproduce.
pub(super) fn headline(e: &legacy::LegacyError) -> (&'static str, String) {
    if e.kind == legacy::PeftErrorKind::Unsupported {
        (
            code::LEGACY_UNSUPPORTED,
            format!("not supported: {}", e.message),
        )
    } else {
        (
            code::LEGACY,
            format!("PEFT 0.21.2 would raise {}: {}", e.python_type(), e.message),
        )
    }
}
