//! Lints: warnings about rules that are legal but almost surely mistakes.
//!
//! * `L050` dead rule — decided exactly by [`crate::engine::analysis`].
//! * `L051` (with a module list) a rule that decides no module of the model.

use crate::diag::{Diagnostic, Diagnostics, code};
use crate::engine::analysis::{self, Analysis};
use crate::ir::RuleSet;

/// Dead-rule warnings (`L050`) for `rules`, each naming the shadowing rule
/// and a module name that shows it. The second value says why the analysis
/// was skipped, when it was.
///
/// Complexity: see [`analysis::dead_rules`].
pub fn dead_rules(rules: &RuleSet) -> (Diagnostics, Option<String>) {
    let mut out = Diagnostics::new();
    let dead = match analysis::dead_rules(rules) {
        Analysis::Done(d) => d,
        Analysis::Skipped(why) => return (out, Some(why)),
    };
    for d in dead {
        let Some(rule) = rules.rules().get(d.rule) else {
            continue;
        };
        let span = rule.span.unwrap_or_default();
        let diag = match &d.witness {
            Some((name, by)) => {
                let shadow = rules.rules().get(*by);
                let mut x = Diagnostic::warning(
                    code::DEAD_RULE,
                    format!("rule {} can never decide a module: every name it matches is decided by an earlier rule", d.rule),
                )
                .with_span(span, "never wins");
                if let Some(sr) = shadow {
                    x = x.with_label(
                        sr.span.unwrap_or_default(),
                        format!("rule {by} decides first"),
                    );
                }
                x.with_help(format!(
                    "for example `{name}` matches this rule but rule {by} decides it; move this rule above rule {by}, narrow rule {by}, or delete this one"
                ))
            }
            None => Diagnostic::warning(
                code::DEAD_RULE,
                format!("rule {} matches no valid module name", d.rule),
            )
            .with_span(span, "matches nothing")
            .with_help(
                "module names are non-empty dotted paths without empty segments; check the pattern",
            ),
        };
        out.push(diag);
    }
    if let Some(src) = rules.source() {
        out.attach_source(src);
    }
    (out, None)
}

/// `L051`: rules that decide none of `modules` (against a real model).
pub fn unused_on_model(
    rules: &RuleSet,
    winners: &[Option<usize>],
    modules: &[&str],
) -> Diagnostics {
    let mut hits = vec![0usize; rules.rules().len()];
    for w in winners.iter().flatten() {
        if let Some(h) = hits.get_mut(*w) {
            *h += 1;
        }
    }
    let mut out = Diagnostics::new();
    for (i, r) in rules.rules().iter().enumerate() {
        if hits[i] == 0 {
            out.push(
                Diagnostic::warning(code::RULE_MATCHES_NOTHING, format!("rule {i} decides none of the {} modules", modules.len()))
                    .with_span(r.span.unwrap_or_default(), "no module")
                    .with_help("the pattern may use another naming generation (`model.language_model.` vs `language_model.model.`) or a layer that does not exist"),
            );
        }
    }
    if let Some(src) = rules.source() {
        out.attach_source(src);
    }
    out
}

/// Static pattern lints:
///
/// * `L053` — a digit followed by an unescaped `.*` or `.+` in a `re`/`key`
///   pattern (`layers.3.*`): the `.` is any character, so the pattern also
///   hits `layers.31`; `\.` or a path pattern (`layers.3.**`) was likely
///   meant. Raw module names used as keys (`layers.3.mlp`, as EVA writes
///   them) are not flagged: their dots cannot reach another layer.
/// * `L054` — a `key` starting with `^`: under the key rule
///   `(?:.*\.)?(?:K)` the anchor only matches when the optional prefix is
///   empty, so the key can only hit a name from its first segment.
pub fn pattern_lints(rules: &RuleSet) -> Diagnostics {
    use crate::syntax::ast::PatternKind;
    let mut out = Diagnostics::new();
    for a in rules.atoms() {
        let span = a.span.unwrap_or_default();
        if a.kind == PatternKind::Path {
            continue;
        }
        let b = a.text.as_bytes();
        let mut escaped = false;
        let mut in_class = false;
        for i in 0..b.len() {
            let c = b[i];
            if escaped {
                escaped = false;
                continue;
            }
            match c {
                b'\\' => escaped = true,
                b'[' => in_class = true,
                b']' => in_class = false,
                b'.' if !in_class
                    && i > 0
                    && b[i - 1].is_ascii_digit()
                    && !(i > 1 && b[i - 2] == b'\\')
                    && matches!(b.get(i + 1), Some(b'*' | b'+')) =>
                {
                    out.push(
                        Diagnostic::warning(
                            code::UNESCAPED_DOT,
                            format!("`{}.{}` in `{}` also matches longer numbers", b[i - 1] as char, b[i + 1] as char, a.text),
                        )
                        .with_span(span, "regex")
                        .with_help(format!(
                            "the `.` after `{}` is any character, so `{}1` matches too; write `\\.` for a literal dot, or a path pattern where `{{0..9}}` is an exact number",
                            b[i - 1] as char,
                            b[i - 1] as char
                        )),
                    );
                    break;
                }
                _ => {}
            }
        }
        if a.kind == PatternKind::Key && a.text.starts_with('^') {
            out.push(
                Diagnostic::warning(code::ANCHORED_KEY, format!("key `{}` is anchored with `^`", a.text))
                    .with_span(span, "anchored key")
                    .with_help("a key may match after any `.` of the name; with `^` it only matches from the first segment. Use `re \"...\"` for a full-name pattern"),
            );
        }
    }
    if let Some(src) = rules.source() {
        out.attach_source(src);
    }
    out
}
