//! Helpers shared by the integration tests.

use lora_rules::engine::Config;
use lora_rules::{Diagnostics, Format, Matcher, Source};

/// Compiles `.lora` or JSON text (format detected) with `config`.
pub fn compile_with(text: &str, config: &Config) -> Result<Matcher, Diagnostics> {
    let name = if text.trim_start().starts_with('{') {
        "t.json"
    } else {
        "t.lora"
    };
    let src = Source::new(name, text);
    let (rules, _) = lora_rules::load(&src, Format::detect(name, text))?;
    Matcher::with_config(rules, config).map_err(|e| {
        let mut d = Diagnostics::new();
        d.push(lora_rules::Diagnostic::error("L040", e.to_string()));
        d
    })
}

/// The diagnostics of text that must fail.
pub fn errors(name: &str, text: &str) -> Vec<lora_rules::Diagnostic> {
    let src = Source::new(name, text);
    match lora_rules::load(&src, Format::detect(name, text)) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(d) => d.into_vec(),
    }
}
