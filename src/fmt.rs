//! `lora-rules fmt`: the canonical `.lora` layout, keeping comments, and
//! conversion between the `.lora` and JSON dictionary forms.
//!
//! Layout: declarations, then `defaults`, then one rule per line, each item
//! preceded by its own comment lines; a blank line in the source between two
//! items is kept as one blank line; a comment after an item on the same line
//! stays there. Pattern text and values are printed by [`crate::print`], so
//! `parse(format(x))` has the same syntax tree as `parse(x)`.

use crate::diag::{Diagnostic, Diagnostics, Span, code};
use crate::print;
use crate::syntax::ast::{Action, Literal, PatternExpr, PatternKind, RuleFile};

/// Byte ranges of `#` comments in `.lora` text (outside strings).
fn comments(text: &str) -> Vec<Span> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) if c == q || c == b'\n' => quote = None,
            Some(_) => {}
            None if c == b'"' || c == b'\'' => quote = Some(c),
            None if c == b'#' => {
                let end = text[i..].find('\n').map_or(text.len(), |j| i + j);
                out.push(Span::new(i, end));
                i = end;
                continue;
            }
            None => {}
        }
        i += 1;
    }
    out
}

/// Formats `.lora` text canonically.
///
/// # Errors
/// The parse diagnostics of `text` (nothing is formatted then).
pub fn format_lora(text: &str) -> Result<String, Diagnostics> {
    let file = crate::syntax::parse(text)?;
    // Items in source order with their printed form.
    let mut items: Vec<(Span, String)> = Vec::new();
    for d in &file.declarations {
        items.push((d.span, print::declaration(d)));
    }
    for d in &file.defaults {
        items.push((d.span, format!("defaults {}", print::block(d))));
    }
    for r in &file.rules {
        items.push((r.span, print::rule(r)));
    }
    // Keep each item's comments attached to it; print items grouped by kind.
    let cmts = comments(text);
    let mut used = vec![false; cmts.len()];
    let line_of = |off: usize| text[..off.min(text.len())].matches('\n').count();
    let mut sorted: Vec<usize> = (0..items.len()).collect();
    sorted.sort_by_key(|&i| items[i].0.start);
    let mut leading: Vec<Vec<String>> = vec![Vec::new(); items.len()];
    let mut trailing: Vec<Option<String>> = vec![None; items.len()];
    let mut blank_before = vec![false; items.len()];
    let mut prev_end = 0usize;
    for &i in &sorted {
        let span = items[i].0;
        for (k, c) in cmts.iter().enumerate() {
            if !used[k] && c.start >= prev_end && c.end <= span.start {
                leading[i].push(text[c.start..c.end].trim_end().to_string());
                used[k] = true;
            }
        }
        let gap = &text[prev_end.min(span.start)..span.start];
        blank_before[i] = prev_end > 0 && gap.lines().skip(1).any(|l| l.trim().is_empty());
        let end_line = line_of(span.end);
        let mut end = span.end;
        for (k, c) in cmts.iter().enumerate() {
            if !used[k] && c.start >= span.end && line_of(c.start) == end_line {
                trailing[i] = Some(text[c.start..c.end].trim_end().to_string());
                used[k] = true;
                end = c.end;
            }
        }
        prev_end = end;
    }
    let mut out = String::new();
    let n_decl = file.declarations.len();
    let n_head = n_decl + file.defaults.len();
    for i in 0..items.len() {
        let group_break = (i == n_decl && n_decl > 0) || (i == n_head && n_head > 0);
        if i > 0 && (blank_before[i] || group_break) && !out.ends_with("\n\n") {
            out.push('\n');
        }
        for c in &leading[i] {
            out.push_str(c);
            out.push('\n');
        }
        out.push_str(&items[i].1);
        if let Some(c) = &trailing[i] {
            out.push_str("  ");
            out.push_str(c);
        }
        out.push('\n');
    }
    // Comments after the last item.
    let rest: Vec<&Span> = cmts
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(c, _)| c)
        .collect();
    if !rest.is_empty() && !out.is_empty() {
        out.push('\n');
    }
    for c in rest {
        out.push_str(text[c.start..c.end].trim_end());
        out.push('\n');
    }
    Ok(out)
}

/// The JSON dictionary form of a rule file, when every rule is a single
/// `key` pattern (JSON keys are key patterns) and no attribute is declared.
/// Defaults produce the envelope form.
///
/// # Errors
/// One `L032` diagnostic per rule that has no JSON form (path, regex or
/// boolean patterns), at the rule.
pub fn to_json(file: &RuleFile) -> Result<String, Diagnostics> {
    let mut diags = Diagnostics::new();
    let mut rules = serde_json::Map::new();
    for (i, r) in file.rules.iter().enumerate() {
        let PatternExpr::Atom(a) = &r.pattern else {
            diags.push(
                Diagnostic::error(
                    code::JSON_SHAPE,
                    format!(
                        "rule {i} combines patterns with `!`, `&` or `|`, which JSON keys cannot"
                    ),
                )
                .with_span(r.pattern.span(), "boolean pattern")
                .with_help(
                    "keep this file in `.lora`, or rewrite the rule with earlier `exclude` rules",
                ),
            );
            continue;
        };
        if a.kind != PatternKind::Key {
            diags.push(
                Diagnostic::error(code::JSON_SHAPE, format!("rule {i} is a `{}` pattern; JSON keys are `key` patterns", a.kind.keyword()))
                    .with_span(a.span, "not a key")
                    .with_help("a JSON dictionary key is matched like PEFT's rank_pattern keys, after any `.` of the name; path and `re` patterns have no such form. Keep this file in `.lora` (or, for PEFT itself, `lora-rules export RULES --modules MODEL --format peft`)"),
            );
            continue;
        }
        if rules.contains_key(&a.text) {
            diags.push(
                Diagnostic::error(
                    code::JSON_DUPLICATE_KEY,
                    format!("key `{}` appears twice; JSON cannot hold both", a.text),
                )
                .with_span(a.span, "second"),
            );
            continue;
        }
        let v = match &r.action {
            Action::Exclude(_) => serde_json::Value::Null,
            Action::Adapt(b) => block_json(b),
        };
        rules.insert(a.text.clone(), v);
    }
    if let Some(d) = file.declarations.first() {
        diags.push(
            Diagnostic::error(
                code::JSON_SHAPE,
                "declared attributes are written in `.lora` only",
            )
            .with_span(d.span, "declaration"),
        );
    }
    if diags.has_errors() {
        return Err(diags);
    }
    let value = match file.defaults.first() {
        None => serde_json::Value::Object(rules),
        Some(d) => serde_json::json!({"version": 1, "defaults": block_json(d), "rules": rules}),
    };
    Ok(serde_json::to_string_pretty(&value).unwrap_or_default() + "\n")
}

fn block_json(b: &crate::syntax::ast::Block) -> serde_json::Value {
    serde_json::Value::Object(
        b.assignments
            .iter()
            .map(|a| {
                let v = match &a.value.node {
                    Literal::Bool(x) => serde_json::Value::Bool(*x),
                    Literal::Int(x) => (*x).into(),
                    Literal::Float(x) => serde_json::Number::from_f64(*x)
                        .map_or(serde_json::Value::Null, serde_json::Value::Number),
                    Literal::Str(s) => s.clone().into(),
                    Literal::Null | Literal::Composite(_) => serde_json::Value::Null,
                };
                (a.name.node.clone(), v)
            })
            .collect(),
    )
}

/// The `.lora` form of a JSON dictionary.
///
/// # Errors
/// The JSON's diagnostics, or `L032` for a key that a `.lora` string cannot
/// hold (a newline, or both quote characters).
pub fn json_to_lora(text: &str) -> Result<String, Diagnostics> {
    let file = crate::syntax::json::parse(text)?;
    let mut diags = Diagnostics::new();
    for r in &file.rules {
        if let PatternExpr::Atom(a) = &r.pattern
            && print::string(&a.text).is_none()
        {
            diags.push(
                Diagnostic::error(
                    code::JSON_SHAPE,
                    "this key cannot be written as a `.lora` string",
                )
                .with_span(a.span, "contains a newline or both quote characters"),
            );
        }
    }
    if diags.has_errors() {
        return Err(diags);
    }
    Ok(print::file(&file))
}
