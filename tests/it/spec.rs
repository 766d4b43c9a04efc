//! The conformance-vector harness: every file in `spec/vectors/` through the
//! public API, all failures reported together.

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Vector {
    name: String,
    #[serde(default)]
    #[allow(dead_code)]
    description: String,
    format: String,
    input: String,
    #[serde(default)]
    queries: Vec<serde_json::Value>,
    error: Option<ExpectedError>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedError {
    code: String,
    line: usize,
    column: usize,
    snippet: String,
}

fn run(v: &Vector) -> Result<(), String> {
    let name = if v.format == "json" {
        "v.json"
    } else {
        "v.lora"
    };
    let fmt = if v.format == "json" {
        lora_rules::Format::Json
    } else {
        lora_rules::Format::Lora
    };
    let src = lora_rules::Source::new(name, v.input.clone());
    match (lora_rules::load(&src, fmt), &v.error) {
        (Ok(_), Some(e)) => Err(format!("expected error {} but the input compiled", e.code)),
        (Err(d), None) => Err(format!("unexpected errors:\n{d}")),
        (Err(d), Some(e)) => {
            let first = d.errors().next().ok_or("no error in the diagnostics")?;
            let got = first.to_json();
            let want = serde_json::json!({"code": e.code, "line": e.line, "column": e.column, "snippet": e.snippet});
            let got = serde_json::json!({"code": got["code"], "line": got["line"], "column": got["column"], "snippet": got["snippet"]});
            if got == want {
                Ok(())
            } else {
                Err(format!(
                    "error mismatch: got {got}, want {want}\n{}",
                    first.render_plain()
                ))
            }
        }
        (Ok((rules, warnings)), None) => {
            let codes: Vec<String> = warnings.warnings().map(|w| w.code().to_string()).collect();
            if codes != v.warnings {
                return Err(format!("warnings {codes:?}, want {:?}", v.warnings));
            }
            let m = lora_rules::Matcher::new(rules).map_err(|e| e.to_string())?;
            let mut errs = Vec::new();
            for q in &v.queries {
                let module = q["module"].as_str().ok_or("query without module")?;
                let d = m.resolve(module);
                let got = serde_json::json!({
                    "module": module,
                    "rule": d.rule_index(),
                    "action": d.outcome().as_str(),
                    "attrs": d.attrs().map(|a| a.to_json()),
                    "scaling": d.scaling(),
                });
                if &got != q {
                    errs.push(format!(
                        "  {module}: got {got}\n  {:width$}want {q}",
                        "",
                        width = module.len()
                    ));
                }
            }
            if errs.is_empty() {
                Ok(())
            } else {
                Err(errs.join("\n"))
            }
        }
    }
}

#[test]
fn spec_vectors() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/spec/vectors");
    let filter = std::env::var("LORA_RULES_VECTOR").unwrap_or_default();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("spec/vectors exists")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let (mut ran, mut failures) = (0, Vec::new());
    for f in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "json"))
    {
        let text = std::fs::read_to_string(f).expect("readable vector file");
        let vectors: Vec<Vector> =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for v in vectors.iter().filter(|v| v.name.contains(&filter)) {
            ran += 1;
            if let Err(e) = run(v) {
                failures.push(format!(
                    "{}::{}: {e}",
                    f.file_name().unwrap_or_default().to_string_lossy(),
                    v.name
                ));
            }
        }
    }
    assert!(ran >= 30 || !filter.is_empty(), "only {ran} vectors ran");
    assert!(
        failures.is_empty(),
        "{} of {ran} vectors failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
