//! The canonical printer: syntax tree → `.lora` text. Used by `fmt`, by
//! `convert`, and by the parse∘print round-trip property.

use crate::syntax::ast::{Action, Block, Constraint, Literal, PatternExpr, PatternKind, RuleFile};

/// A string literal for `text`: `"..."`, or `'...'` when `text` contains a
/// double quote. Returns `None` when `text` contains both quote characters
/// or a newline, which `.lora` strings cannot hold (raw strings, no escapes).
pub fn string(text: &str) -> Option<String> {
    if text.contains('\n') {
        None
    } else if !text.contains('"') {
        Some(format!("\"{text}\""))
    } else if !text.contains('\'') {
        Some(format!("'{text}'"))
    } else {
        None
    }
}

fn string_lossy(text: &str) -> String {
    string(text).unwrap_or_else(|| format!("\"{}\"", text.replace(['"', '\n'], "?")))
}

/// A literal value in `.lora` syntax.
pub fn literal(l: &Literal) -> String {
    match l {
        Literal::Bool(b) => b.to_string(),
        Literal::Int(i) => i.to_string(),
        Literal::Float(f) => crate::ir::Value::Float(*f).to_string(),
        Literal::Str(s) => string_lossy(s),
        Literal::Null => "null".into(),
        Literal::Composite(k) => format!("<{k}>"),
    }
}

/// A pattern expression with minimal parentheses (`!` > `&` > `|`); a
/// nested group of the same operator keeps its parentheses, so the tree
/// round-trips exactly.
pub fn pattern(e: &PatternExpr) -> String {
    fn go(e: &PatternExpr, parent: u8) -> String {
        match e {
            PatternExpr::Atom(a) => match a.kind {
                PatternKind::Path => string_lossy(&a.text),
                k => format!("{} {}", k.keyword(), string_lossy(&a.text)),
            },
            PatternExpr::Not(inner, _) => format!("!{}", go(inner, 3)),
            PatternExpr::And(es, _) => {
                let s = es
                    .iter()
                    .map(|x| {
                        go(
                            x,
                            if matches!(x, PatternExpr::And(..)) {
                                3
                            } else {
                                2
                            },
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" & ");
                if parent > 2 { format!("({s})") } else { s }
            }
            PatternExpr::Or(es, _) => {
                let s = es
                    .iter()
                    .map(|x| {
                        go(
                            x,
                            if matches!(x, PatternExpr::Or(..)) {
                                2
                            } else {
                                1
                            },
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" | ");
                if parent > 1 { format!("({s})") } else { s }
            }
        }
    }
    go(e, 0)
}

/// A `{ name = value, ... }` block.
pub fn block(b: &Block) -> String {
    if b.assignments.is_empty() {
        return "{}".into();
    }
    let inner = b
        .assignments
        .iter()
        .map(|a| format!("{} = {}", a.name.node, literal(&a.value.node)))
        .collect::<Vec<_>>()
        .join(", ");
    format!("{{ {inner} }}")
}

/// One declaration: `attribute NAME: TYPE [in ...]`.
pub fn declaration(d: &crate::syntax::ast::Declaration) -> String {
    let mut out = format!("attribute {}: {}", d.name.node, d.ty.node.as_str());
    if let Some(c) = &d.constraint {
        match &c.node {
            Constraint::Range { lo, hi, inclusive } => out.push_str(&format!(
                " in {}{}{}",
                num(*lo),
                if *inclusive { "..=" } else { ".." },
                num(*hi)
            )),
            Constraint::Choices(v) => out.push_str(&format!(
                " in [{}]",
                v.iter()
                    .map(|x| literal(&x.node))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
    out
}

/// One rule: pattern, then the block or `exclude`.
pub fn rule(r: &crate::syntax::ast::Rule) -> String {
    let action = match &r.action {
        Action::Exclude(_) => "exclude".to_string(),
        Action::Adapt(b) => block(b),
    };
    format!("{} {}", pattern(&r.pattern), action)
}

/// The whole file in canonical layout: declarations, defaults, then one rule
/// per line. Comments are not kept (see [`crate::fmt`] for that).
pub fn file(f: &RuleFile) -> String {
    let mut out = String::new();
    for d in &f.declarations {
        out.push_str(&declaration(d));
        out.push('\n');
    }
    for d in &f.defaults {
        out.push_str(&format!("defaults {}\n", block(d)));
    }
    let has_header = !f.declarations.is_empty() || !f.defaults.is_empty();
    if has_header && !f.rules.is_empty() {
        out.push('\n');
    }
    for r in &f.rules {
        out.push_str(&rule(r));
        out.push('\n');
    }
    out
}

fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else if x.fract() == 0.0 {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}
