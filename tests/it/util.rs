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

/// The `lora-rules` binary, run from the repository root, plain diagnostics.
pub fn bin() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_lora-rules"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c.env("LORA_RULES_ERROR_FORMAT", "plain");
    c
}

/// Runs the binary: (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = bin().args(args).output().expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
