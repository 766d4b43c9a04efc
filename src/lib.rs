//! # lora-rules
//!
//! One ordered rule list for LoRA module targeting, compiled into one
//! multi-pattern automaton.
//!
//! Hugging Face PEFT decides which modules get a LoRA adapter, and with which
//! rank and alpha, through four mechanisms with four matching rules
//! (`target_modules`, `exclude_modules`, `rank_pattern`, `alpha_pattern`).
//! This crate replaces them with one ordered list of rules — pattern →
//! attribute overrides, or pattern → `exclude` — where the **first matching
//! rule decides** a module. Rules are written in `.lora` files or as a JSON
//! dictionary; both compile into one automaton, so resolving a module costs
//! one scan of its name whatever the number of rules.
//!
//! ## Contents
//! * [`compile_str`] / [`compile_file`]: text (or a compiled file) →
//!   [`Matcher`] in one call.
//! * [`compiled`]: compiled files (rules and automata tables, checked).
//! * [`syntax`]: the two surface syntaxes → [`syntax::ast`].
//! * [`check`]: the typed check → [`ir::RuleSet`].
//! * [`engine`]: the automaton ([`Matcher`]) and the naive [`engine::Reference`].
//! * [`diag`]: diagnostics (code, span, help), rendered by the CLI.
//! * [`modules`]: module-name inputs (text, TSV, safetensors index and header).
//!
//! ## Example
//! ```
//! let src = r#"
//! defaults { rank = 16, alpha = 32 }
//! "model.visual.**" exclude
//! "model.layers.{0..3}.mlp.*_proj" { rank = 8 }
//! key "q_proj" { alpha = 64 }
//! "**.*_proj" {}
//! "#;
//! let m = lora_rules::compile_str("rules.lora", src).map_err(|e| e.to_string())?;
//! let d = m.resolve("model.layers.3.mlp.up_proj");
//! assert_eq!(d.rule_index(), Some(1));
//! assert_eq!(d.scaling(), Some(4.0));
//! assert_eq!(m.resolve("model.layers.31.mlp.up_proj").rule_index(), Some(3));
//! assert_eq!(m.resolve("model.layers.3.self_attn.q_proj").scaling(), Some(4.0));
//! assert_eq!(m.resolve("model.visual.blocks.0.qkv").outcome(), lora_rules::Outcome::Exclude);
//! assert_eq!(m.resolve("lm_head").outcome(), lora_rules::Outcome::None);
//! # Ok::<(), String>(())
//! ```
//!
//! ## Errors
//! Front-end and check errors are [`diag::Diagnostics`] (every problem of a
//! file at once, each located); building the automaton fails only past
//! [`engine::Config`]'s NFA limit ([`engine::CompileError`]). Nothing panics
//! on bad input.

#![forbid(unsafe_code)]
// Diagnostics are rich values (spans, labels, help, source); they travel on the
// error path only, so their size costs nothing on the hot path.
#![allow(clippy::result_large_err)]
#![warn(missing_docs, missing_debug_implementations)]

pub mod check;
pub mod compiled;
pub mod diag;
pub mod engine;
pub mod fmt;
pub mod ir;
pub mod limits;
pub mod lints;
pub mod modules;
pub mod pattern;
pub mod peft;
pub mod print;
pub mod schema;
pub mod syntax;

pub use diag::{Diagnostic, Diagnostics, Source};
pub use engine::{Decision, Matcher, Outcome};

/// The format of a rule file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.lora` text.
    Lora,
    /// A JSON dictionary (or envelope).
    Json,
}

impl Format {
    /// `Json` when the path ends in `.json` or the text starts with `{`
    /// (after whitespace); `Lora` otherwise.
    pub fn detect(path: &str, text: &str) -> Format {
        if path.ends_with(".json")
            || text
                .trim_start_matches('\u{feff}')
                .trim_start()
                .starts_with('{')
        {
            Format::Json
        } else {
            Format::Lora
        }
    }
}

/// Parses and checks a rule file into a [`ir::RuleSet`], returning the
/// warnings too.
///
/// # Errors
/// Every syntax and type error of the file, located in it.
pub fn load(source: &Source, format: Format) -> Result<(ir::RuleSet, Diagnostics), Diagnostics> {
    // A UTF-8 byte-order mark is read as three spaces, so offsets stay exact.
    let blanked;
    let text = match source.text().strip_prefix('\u{feff}') {
        Some(rest) => {
            blanked = format!("   {rest}");
            blanked.as_str()
        }
        None => source.text(),
    };
    let parsed = match format {
        Format::Lora => syntax::parse(text),
        Format::Json => syntax::json::parse(text),
    };
    let file = parsed.map_err(|mut d| {
        d.attach_source(source);
        d
    })?;
    check::check(&file, source)
}

/// Parses, checks and compiles `text` (format detected from `name` and the
/// text) with the default [`engine::Config`].
///
/// # Errors
/// The diagnostics of the file, or one diagnostic if the automaton cannot be
/// built.
pub fn compile_str(name: &str, text: &str) -> Result<Matcher, Diagnostics> {
    let source = Source::new(name, text);
    let format = Format::detect(name, text);
    compile_source(&source, format, &engine::Config::default()).map(|(m, _warnings)| m)
}

/// Parses and checks `source` read as `format` ([`load`]), then compiles it
/// with `config`: the matcher and the warnings.
///
/// # Errors
/// The diagnostics of the file, or one `L040` diagnostic if the automaton
/// cannot be built ([`engine::CompileError`]).
pub fn compile_source(
    source: &Source,
    format: Format,
    config: &engine::Config,
) -> Result<(Matcher, Diagnostics), Diagnostics> {
    let (rules, warnings) = load(source, format)?;
    let m = Matcher::with_config(rules, config).map_err(|e| {
        let mut d = Diagnostics::new();
        d.push(
            Diagnostic::error(diag::code::AUTOMATON_LIMIT, e.to_string())
                .with_source(source)
                .with_help("raise the limits or split the rule set"),
        );
        d
    })?;
    Ok((m, warnings))
}

/// Reads `path` (at most [`limits::MAX_FILE_BYTES`]) and compiles it like
/// [`compile_str`]; a compiled file (`lora-rules compile`, see [`compiled`])
/// is loaded with [`compiled::read`] instead, without building the automata.
///
/// # Errors
/// An I/O or encoding error as a diagnostic, the file's diagnostics, or a
/// compiled file's [`compiled::CompiledError`] as a diagnostic (`L041`).
pub fn compile_file(path: &std::path::Path) -> Result<Matcher, Diagnostics> {
    let one = |d| {
        let mut ds = Diagnostics::new();
        ds.push(d);
        ds
    };
    let bytes = modules::read_bytes(path).map_err(one)?;
    let name = path.display().to_string();
    if compiled::is_compiled(&bytes) {
        return compiled::read(&bytes)
            .map(|l| l.matcher)
            .map_err(|e| e.into_diagnostics(&name));
    }
    let source = modules::source_from_bytes(name, bytes).map_err(one)?;
    compile_str(source.name(), source.text())
}
