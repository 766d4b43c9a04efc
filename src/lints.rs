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
                // A witness of control characters only (`[^\w.]` matches a
                // tab) is shown escaped, as `explain` needs it typed.
                let name: String = if name.chars().any(char::is_control) {
                    name.escape_debug().collect()
                } else {
                    name.clone()
                };
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

/// Lints against a model's modules, from every rule that matches each module
/// (the reference resolver, so bounded to `rules × modules ≤ 20,000,000`;
/// the second value says why it was skipped past that):
///
/// * `L055` — rule j also matches modules that an earlier rule i decides
///   (one warning per pair, with the count and an example module), unless
///   every module LoRA can wrap that i decides is matched by j (i is an
///   exception carved out of j, the "specific rules first" idiom the
///   language is built on; modules of a class PEFT 0.21.2 cannot wrap, such
///   as `act_fn`, do not count, a module without a class does), when no
///   module they share can be wrapped, or when j decides no module at all
///   (`L051`/`L050` already say so);
/// * `L056` — an `exclude` rule decides every module of a kind (the last
///   segment, e.g. `q_proj`) that a later adapt rule would adapt; only
///   modules LoRA can wrap count.
pub fn overlap_on_model(
    rules: &RuleSet,
    winners: &[Option<usize>],
    list: &crate::modules::ModuleList,
) -> (Diagnostics, Option<String>) {
    use std::collections::BTreeMap;
    let modules = list.names();
    let wrappable: Vec<bool> = list
        .modules
        .iter()
        .map(|m| {
            m.class
                .as_deref()
                .is_none_or(|c| crate::peft::legacy::SUPPORTED_CLASSES.contains(&c))
        })
        .collect();
    let mut out = Diagnostics::new();
    let work = rules.rules().len().saturating_mul(modules.len());
    if work > 20_000_000 {
        return (
            out,
            Some(format!(
                "{} rules × {} modules is past the 20,000,000 checks this lint allows",
                rules.rules().len(),
                modules.len()
            )),
        );
    }
    let reference = crate::engine::Reference::new(rules);
    // (winner, shadowed) -> (count, count of wrappable modules, a wrappable example)
    let mut pairs: BTreeMap<(usize, usize), (usize, usize, Option<&str>)> = BTreeMap::new();
    // Per rule: modules it decides, and how many of them LoRA can wrap.
    let mut decided = vec![(0usize, 0usize); rules.rules().len()];
    // kind -> (modules of that kind, per exclude rule: (modules it decides, a later adapt rule))
    type PerExclude = BTreeMap<usize, (usize, Option<usize>)>;
    let mut kinds: BTreeMap<&str, (usize, PerExclude)> = BTreeMap::new();
    for ((name, win), &wrap) in modules.iter().zip(winners).zip(&wrappable) {
        // Kinds count only modules LoRA can wrap (not `self_attn` containers).
        let kind = name.rsplit('.').next().unwrap_or(name);
        let mut entry = wrap.then(|| kinds.entry(kind).or_default());
        if let Some(e) = entry.as_mut() {
            e.0 += 1;
        }
        let Some(w) = *win else { continue };
        decided[w].0 += 1;
        decided[w].1 += usize::from(wrap);
        let matching = reference.matching(name);
        for &j in matching.iter().filter(|&&j| j > w) {
            let e = pairs.entry((w, j)).or_insert((0, 0, None));
            e.0 += 1;
            if wrap {
                e.1 += 1;
                e.2 = e.2.or(Some(name));
            }
        }
        let wrule = &rules.rules()[w];
        if let Some(entry) = entry
            && wrule.attrs.is_none()
        {
            let later_adapt = matching
                .iter()
                .copied()
                .find(|&j| j > w && rules.rules()[j].attrs.is_some());
            let e = entry.1.entry(w).or_insert((0, None));
            e.0 += 1;
            e.1 = e.1.or(later_adapt);
        }
    }
    let partial = pairs
        .iter()
        .filter(|((i, j), (_, wrapped, _))| {
            0 < *wrapped && *wrapped < decided[*i].1 && decided[*j].0 > 0
        })
        .filter_map(|(pair, (count, _, example))| Some((pair, count, (*example)?)));
    for ((i, j), count, example) in partial.take(200) {
        let (ri, rj) = (&rules.rules()[*i], &rules.rules()[*j]);
        out.push(
            Diagnostic::warning(
                code::SHADOWED_ON_MODEL,
                format!("rule {j} also matches {count} module(s) that rule {i} decides"),
            )
            .with_span(rj.span.unwrap_or_default(), "shadowed here")
            .with_label(
                ri.span.unwrap_or_default(),
                format!("rule {i} decides first"),
            )
            .with_help(format!(
                "e.g. `{example}`; reorder the rules if rule {j} should win there"
            )),
        );
    }
    for (kind, (total, by_rule)) in &kinds {
        for (e, (count, later)) in by_rule {
            if count == total
                && *total > 1
                && let Some(j) = later
            {
                out.push(
                    Diagnostic::warning(code::EXCLUDE_HIDES_KIND, format!("exclude rule {e} hides every `{kind}` ({count} modules)"))
                        .with_span(rules.rules()[*e].span.unwrap_or_default(), "excludes them all")
                        .with_label(rules.rules()[*j].span.unwrap_or_default(), format!("rule {j} would adapt them"))
                        .with_help("if some of them should be adapted, narrow the exclude rule or move the adapt rule above it"),
                );
            }
        }
    }
    if let Some(src) = rules.source() {
        out.attach_source(src);
    }
    (out, None)
}
