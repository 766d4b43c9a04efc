//! Rendered diagnostics, one snapshot per input file in `tests/diagnostics/`
//! (the file name says what it demonstrates). Each snapshot holds the miette
//! graphical rendering (no colour, unicode, width 80) and the plain one.
//!
//! Review or accept changes with `cargo insta review`, or
//! `INSTA_UPDATE=always cargo test --test it snapshots` and read the diff.

use std::path::Path;

use lora_rules::diag::{Diagnostic, Diagnostics, code};
use lora_rules::{Format, Matcher};

/// Everything `lora-rules check` would report for the file: read errors,
/// syntax and check errors, warnings, and automaton build errors.
fn diagnostics(path: &Path) -> Diagnostics {
    let mut out = Diagnostics::new();
    let source = match lora_rules::modules::read_source(path) {
        Ok(s) => s,
        Err(d) => {
            out.push(d);
            return out;
        }
    };
    match lora_rules::load(&source, Format::detect(source.name(), source.text())) {
        Err(d) => out.extend(d),
        Ok((rules, warnings)) => {
            out.extend(warnings);
            if let Err(e) = Matcher::new(rules) {
                out.push(
                    Diagnostic::error(code::AUTOMATON_LIMIT, e.to_string())
                        .with_source(&source)
                        .with_help("raise the limits or split the rule set"),
                );
            }
        }
    }
    out
}

fn render(path: &Path) -> String {
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(80);
    let diags = diagnostics(path);
    assert!(
        !diags.is_empty(),
        "{} produced no diagnostic",
        path.display()
    );
    let mut out = String::new();
    for d in diags.iter() {
        let mut s = String::new();
        if handler.render_report(&mut s, d).is_err() {
            s = "<miette failed to render>".into();
        }
        out.push_str(&s);
        out.push_str("\n--- plain ---\n");
        out.push_str(&d.render_plain());
        out.push_str("\n\n");
    }
    out.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn rendered_diagnostics() {
    insta::glob!("../diagnostics", "*.{lora,json}", |abs| {
        // Relative to the package root, so that file names in the output do
        // not depend on where the repository is checked out.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let rel = abs.strip_prefix(root).unwrap_or(abs);
        insta::assert_snapshot!(render(rel));
    });
}
