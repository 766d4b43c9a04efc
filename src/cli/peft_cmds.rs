//! `convert`, `export` and `inspect`: the PEFT 0.21.2 bridge on the command line.

use std::io::Write;
use std::path::Path;

use lora_rules::diag::{Diagnostic, Diagnostics, Source, Span, code};
use lora_rules::peft::convert::{self, ConvertError, ConvertLimits, ErrorLocation};
use lora_rules::peft::export::{self, ExportOptions};
use lora_rules::peft::inspect;
use lora_rules::peft::legacy::{LegacyConfig, LegacyError, ModelInfo};

use super::{ErrorFormat, Exit, one};

type Failure = (Diagnostics, Exit);

fn io_error(what: String) -> Failure {
    (one(Diagnostic::error(code::ENCODING, what)), Exit::Usage)
}

/// Byte offset in the raw JSON string literal starting at `lit_start` (the opening quote)
/// of byte `decoded` of its decoded value.
fn raw_offset(text: &str, lit_start: usize, decoded: usize) -> Option<usize> {
    let b = text.as_bytes();
    let (mut i, mut d) = (lit_start + 1, 0usize);
    while i < b.len() && b[i] != b'"' {
        if d >= decoded {
            return Some(i);
        }
        if b[i] == b'\\' {
            let (adv, len) = match b.get(i + 1) {
                Some(b'u') => {
                    let cp = u32::from_str_radix(text.get(i + 2..i + 6)?, 16).ok()?;
                    (6, char::from_u32(cp).map_or(3, char::len_utf8))
                }
                _ => (2, 1),
            };
            i += adv;
            d += len;
        } else {
            i += 1;
            d += 1;
        }
    }
    (d >= decoded).then_some(i)
}

/// Span of a config location in the JSON text: the field's value, the entry / key inside
/// it, and the byte inside that entry when known.
fn locate(text: &str, loc: &ErrorLocation) -> Option<(Span, String)> {
    use jsonc_parser::ast::Value;
    use jsonc_parser::common::Ranged;
    let field = loc.field.as_deref()?;
    let root = lora_rules::syntax::json::parse_value(text).ok()?;
    let Value::Object(o) = &root else { return None };
    let prop = o.properties.iter().find(|p| p.name.as_str() == field)?;
    let name_span = {
        let r = match &prop.name {
            jsonc_parser::ast::ObjectPropName::String(s) => s.range,
            jsonc_parser::ast::ObjectPropName::Word(w) => w.range,
        };
        Span::new(r.start, r.end)
    };
    let Some(key) = loc.key.as_deref() else {
        return Some((name_span, format!("`{field}`")));
    };
    // the string literal holding `key`: a dictionary key, a list entry, or the value itself
    let lit = match &prop.value {
        Value::Object(inner) => inner.properties.iter().find_map(|p| match &p.name {
            jsonc_parser::ast::ObjectPropName::String(s) if s.value == key => Some(s.range),
            _ => None,
        }),
        Value::Array(a) => a.elements.iter().find_map(|e| match e {
            Value::StringLit(s) if s.value == key => Some(s.range),
            _ => None,
        }),
        Value::StringLit(s) if s.value == key => Some(s.range),
        _ => None,
    };
    let Some(lit) = lit else {
        let r = prop.value.range();
        return Some((Span::new(r.start, r.end), format!("in `{field}`")));
    };
    if let Some(off) = loc.byte_offset
        && let Some(at) = raw_offset(text, lit.start, off)
    {
        let end = (at + 1).min(lit.end.saturating_sub(1)).max(at);
        return Some((
            Span::new(at, end),
            format!("byte {off} of this `{field}` entry"),
        ));
    }
    Some((
        Span::new(lit.start, lit.end),
        format!("this `{field}` entry"),
    ))
}

fn located(
    source: &Source,
    code: &'static str,
    message: String,
    loc: &ErrorLocation,
) -> Diagnostic {
    let mut d = Diagnostic::error(code, message).with_source(source);
    if let Some((span, label)) = locate(source.text(), loc) {
        d = d.with_span(span, label);
    }
    d
}

fn legacy_failure(source: &Source, e: &LegacyError) -> Failure {
    let loc = ConvertError::Peft(e.clone()).location();
    let (code, mut message) = super::legacy::headline(e);
    if let Some(m) = &e.module {
        message.push_str(&format!(" (module `{m}`)"));
    }
    let mut d = located(source, code, message, &loc);
    if !e.hint.is_empty() {
        d = d.with_help(e.hint.clone());
    }
    (one(d), Exit::Diagnostics)
}

fn warn(fmt: ErrorFormat, source: &Source, msg: impl Into<String>) {
    super::warn_line(fmt, code::LEGACY_IGNORED_FIELD, source.name(), &msg.into());
}

/// Output format of `convert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConvertFormat {
    /// `.lora` text.
    Lora,
    /// The JSON dictionary envelope (when every rule has a key form).
    Json,
}

fn load_model(path: &Path) -> Result<lora_rules::modules::ModuleList, Failure> {
    lora_rules::modules::read_modules(path).map_err(|d| (one(d), Exit::Usage))
}

fn emit(output: Option<&Path>, text: &str) -> Result<(), Failure> {
    match output {
        Some(p) => {
            lora_rules::modules::write_atomic(p, text.as_bytes()).map_err(|d| (one(d), Exit::Usage))
        }
        None => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                Err(e) => Err(io_error(format!("cannot write output: {e}"))),
            }
        }
    }
}

/// `lora-rules convert CONFIG [--model TSV] [-o FILE] [--format lora|json]`.
pub fn convert_cmd(
    config: &Path,
    model: Option<&Path>,
    output: Option<&Path>,
    format: ConvertFormat,
    fmt: ErrorFormat,
) -> Result<Exit, Failure> {
    let source = lora_rules::modules::read_source(config).map_err(|d| (one(d), Exit::Usage))?;
    let (cfg, warnings) =
        LegacyConfig::from_json_str(source.text()).map_err(|e| legacy_failure(&source, &e))?;
    for w in &warnings {
        warn(fmt, &source, w.to_string());
    }
    let info = match model {
        Some(p) => Some(ModelInfo::from_module_list(&load_model(p)?)),
        None => None,
    };
    let ev = match &info {
        Some(m) => match lora_rules::peft::legacy::evaluate(&cfg, m) {
            Ok(ev) => {
                for w in &ev.warnings {
                    warn(fmt, &source, w.to_string());
                }
                Some(ev)
            }
            Err(e) => return Err(legacy_failure(&source, &e)),
        },
        None => None,
    };
    let fail = |e: ConvertError| {
        let d = located(
            &source,
            code::LEGACY_UNSUPPORTED,
            e.to_string(),
            &e.location(),
        );
        let d = match &e {
            ConvertError::NeedsModel(_) => {
                d.with_help("pass the model's module list with --model (a TSV of examples/models/)")
            }
            _ => d,
        };
        (one(d), Exit::Diagnostics)
    };
    let c = convert::convert(&cfg, info.as_ref(), &ConvertLimits::default()).map_err(fail)?;
    for w in &c.warnings {
        warn(fmt, &source, w.clone());
    }
    let text = match format {
        ConvertFormat::Lora => c.text,
        ConvertFormat::Json => convert::to_json_dictionary(&c.text, ev.as_ref()).map_err(fail)?,
    };
    emit(output, &text)?;
    Ok(Exit::Ok)
}

/// Output format of `export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// A PEFT 0.21.2 `adapter_config.json` fragment.
    Peft,
}

/// `lora-rules export RULES --modules INPUT --format peft [--allow-lossy] [-o FILE]`.
pub fn export_cmd(
    rules: &Path,
    modules: &Path,
    allow_lossy: bool,
    output: Option<&Path>,
    fmt: super::ErrorFormat,
) -> Result<Exit, Failure> {
    let (m, warnings) = super::load_rules(rules)?;
    super::report(&warnings, fmt);
    let list = load_model(modules)?;
    let info = ModelInfo::from_module_list(&list);
    let ex = export::export(&m, &info, &ExportOptions { allow_lossy }).map_err(|e| {
        let help = match &e {
            export::ExportError::Lossy(_) => {
                "PEFT has one global lora_dropout / init_lora_weights / use_dora / use_rslora and no custom attributes"
            }
            _ => "",
        };
        let mut d = Diagnostic::error(code::LEGACY_UNSUPPORTED, e.to_string());
        if !help.is_empty() {
            d = d.with_help(help);
        }
        (one(d), Exit::Diagnostics)
    })?;
    for l in &ex.losses {
        super::warn_line(
            fmt,
            code::LEGACY_UNSUPPORTED,
            "lossy export",
            &format!("{}: {l}", l.attribute),
        );
    }
    let adapted = ex.expected.iter().filter(|e| e.targeted).count();
    super::info(
        fmt,
        &format!(
            "exported: {} modules, {adapted} targeted, {} rank_pattern key(s), {} alpha_pattern key(s){}",
            ex.expected.len(),
            ex.config["rank_pattern"].as_object().map_or(0, |o| o.len()),
            ex.config["alpha_pattern"]
                .as_object()
                .map_or(0, |o| o.len()),
            if ex.losses.is_empty() {
                String::new()
            } else {
                format!(", {} loss(es)", ex.losses.len())
            }
        ),
    );
    let mut text = serde_json::to_string_pretty(&serde_json::Value::Object(ex.config))
        .map_err(|e| io_error(e.to_string()))?;
    text.push('\n');
    emit(output, &text)?;
    Ok(Exit::Ok)
}

/// Output format of `inspect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InspectFormat {
    /// A table and the findings.
    Table,
    /// One JSON object.
    Json,
}

/// `lora-rules inspect ADAPTER_DIR [--model INPUT] [--format table|json]`.
pub fn inspect_cmd(
    dir: &Path,
    model: Option<&Path>,
    format: InspectFormat,
    fmt: ErrorFormat,
) -> Result<Exit, Failure> {
    let cfg_path = dir.join("adapter_config.json");
    let st_path = dir.join("adapter_model.safetensors");
    let source = lora_rules::modules::read_source(&cfg_path).map_err(|d| (one(d), Exit::Usage))?;
    let (cfg, warnings) =
        LegacyConfig::from_json_str(source.text()).map_err(|e| legacy_failure(&source, &e))?;
    for w in &warnings {
        warn(fmt, &source, w.to_string());
    }
    let tensors = lora_rules::modules::read_safetensors_header(&st_path)
        .map_err(|d| (one(d), Exit::Usage))?;
    let list = match model {
        Some(p) => Some(load_model(p)?),
        None => None,
    };
    let rep =
        inspect::inspect(&cfg, &tensors, list.as_ref()).map_err(|e| legacy_failure(&source, &e))?;
    for w in &rep.warnings {
        warn(fmt, &source, w.clone());
    }
    let mut out = String::new();
    match format {
        InspectFormat::Json => {
            let modules: Vec<serde_json::Value> = rep
                .modules
                .iter()
                .map(|m| {
                    serde_json::json!({
                        "module": m.name,
                        "targeted": m.targeted,
                        "r": m.r,
                        "lora_alpha": m.lora_alpha,
                        "scaling": m.scaling,
                        "tensor_rank": m.tensors.as_ref().and_then(|t| t.rank()),
                        "lora_A": m.tensors.as_ref().and_then(|t| t.a.clone()),
                        "lora_B": m.tensors.as_ref().and_then(|t| t.b.clone()),
                    })
                })
                .collect();
            let v = serde_json::json!({
                "modules": modules,
                "modules_from_tensors": rep.modules_from_tensors,
                "problems": rep.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                "keys": rep.keys.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
                "other_tensors": rep.other_tensors,
                "max_rank": rep.max_rank,
            });
            out = serde_json::to_string_pretty(&v).map_err(|e| io_error(e.to_string()))?;
            out.push('\n');
        }
        InspectFormat::Table => {
            use std::fmt::Write as _;
            let width = rep
                .modules
                .iter()
                .map(|m| m.name.len())
                .max()
                .unwrap_or(6)
                .clamp(6, 80);
            let _ = writeln!(
                out,
                "{:<width$}  {:>5}  {:>8}  {:>8}  {:>6}  TENSORS",
                "MODULE", "R", "ALPHA", "SCALING", "T_RANK"
            );
            for m in &rep.modules {
                let t = m.tensors.as_ref();
                let _ = writeln!(
                    out,
                    "{:<width$}  {:>5}  {:>8}  {:>8}  {:>6}  {}",
                    m.name,
                    m.r.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
                    m.lora_alpha
                        .as_ref()
                        .map(|a| a.to_string())
                        .unwrap_or_else(|| "-".into()),
                    m.scaling.map(|s| format!("{s:.4}")).unwrap_or_default(),
                    t.and_then(|t| t.rank())
                        .map(|r| r.to_string())
                        .unwrap_or_else(|| "-".into()),
                    t.map(|t| format!(
                        "A{} B{}",
                        t.a.as_ref().map(|s| format!("{s:?}")).unwrap_or("-".into()),
                        t.b.as_ref().map(|s| format!("{s:?}")).unwrap_or("-".into())
                    ))
                    .unwrap_or_default()
                );
            }
            let _ = writeln!(out);
            if rep.modules_from_tensors {
                let _ = writeln!(
                    out,
                    "note: no base model given (--model): the module list is the {} module(s) having LoRA tensors, so targeted modules without tensors cannot be detected",
                    rep.modules.len()
                );
            }
            let targeted = rep.modules.iter().filter(|m| m.targeted).count();
            let with_t = rep.modules.iter().filter(|m| m.tensors.is_some()).count();
            let _ = writeln!(
                out,
                "{} modules: {targeted} targeted by the config, {with_t} with LoRA tensors",
                rep.modules.len()
            );
            let _ = writeln!(
                out,
                "max rank: {} (vLLM --max-lora-rank must be at least this)",
                rep.max_rank
            );
            for k in &rep.keys {
                let _ = writeln!(out, "key: {k}");
            }
            if !rep.other_tensors.is_empty() {
                let _ = writeln!(
                    out,
                    "{} non-LoRA tensor(s) (e.g. modules_to_save copies): {}",
                    rep.other_tensors.len(),
                    rep.other_tensors.join(", ")
                );
            }
            if rep.problems.is_empty() {
                let _ = writeln!(out, "config and tensors agree");
            } else {
                let _ = writeln!(out, "{} disagreement(s):", rep.problems.len());
                for p in &rep.problems {
                    let _ = writeln!(out, "  {p}");
                }
            }
        }
    }
    emit(None, &out)?;
    Ok(if rep.problems.is_empty() {
        Exit::Ok
    } else {
        Exit::Diagnostics
    })
}
