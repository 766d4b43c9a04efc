//! Output formats of `resolve` and `explain`.

use std::io::{self, Write};

use lora_rules::{Matcher, Outcome};

fn record(m: &Matcher, name: &str, winner: Option<usize>) -> serde_json::Value {
    let rule = winner.and_then(|i| m.rules().rules().get(i));
    let outcome = match rule {
        None => Outcome::None,
        Some(r) if r.attrs.is_some() => Outcome::Adapt,
        Some(_) => Outcome::Exclude,
    };
    let mut o = serde_json::Map::new();
    o.insert("module".into(), name.into());
    o.insert("rule".into(), winner.map_or(serde_json::Value::Null, |i| i.into()));
    o.insert("action".into(), outcome.as_str().into());
    o.insert(
        "attrs".into(),
        rule.and_then(|r| r.attrs.as_ref()).map_or(serde_json::Value::Null, |a| a.to_json()),
    );
    o.insert(
        "scaling".into(),
        rule.and_then(|r| r.scaling)
            .and_then(serde_json::Number::from_f64)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
    );
    serde_json::Value::Object(o)
}

/// `--format jsonl`: one object per module, in input order.
pub fn jsonl(w: &mut impl Write, m: &Matcher, names: &[&str], winners: &[Option<usize>]) -> io::Result<()> {
    for (n, win) in names.iter().zip(winners) {
        writeln!(w, "{}", record(m, n, *win))?;
    }
    Ok(())
}

/// `--format json`: one array.
pub fn json(w: &mut impl Write, m: &Matcher, names: &[&str], winners: &[Option<usize>]) -> io::Result<()> {
    let arr: Vec<serde_json::Value> = names.iter().zip(winners).map(|(n, win)| record(m, n, *win)).collect();
    serde_json::to_writer_pretty(&mut *w, &arr).map_err(io::Error::other)?;
    writeln!(w)
}

fn attrs_text(m: &Matcher, i: usize) -> String {
    m.rules().rules()[i]
        .attrs
        .as_ref()
        .map(|a| a.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// `--format table`: aligned columns, then a summary of counts and of the
/// rules that matched nothing.
pub fn table(w: &mut impl Write, m: &Matcher, names: &[&str], winners: &[Option<usize>]) -> io::Result<()> {
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(6).clamp(6, 80);
    writeln!(w, "{:<width$}  {:>5}  {:<7}  {:>8}  ATTRS", "MODULE", "RULE", "ACTION", "SCALING")?;
    let nrules = m.rules().rules().len();
    let mut hits = vec![0usize; nrules];
    let (mut adapted, mut excluded, mut unmatched) = (0usize, 0usize, 0usize);
    for (n, win) in names.iter().zip(winners) {
        let rule = win.and_then(|i| m.rules().rules().get(i));
        let (action, scaling, attrs) = match rule {
            None => {
                unmatched += 1;
                ("none", String::new(), String::new())
            }
            Some(r) => {
                hits[r.index] += 1;
                match r.attrs {
                    Some(_) => {
                        adapted += 1;
                        ("adapt", r.scaling.map(|s| format!("{s:.4}")).unwrap_or_default(), attrs_text(m, r.index))
                    }
                    None => {
                        excluded += 1;
                        ("exclude", String::new(), String::new())
                    }
                }
            }
        };
        let rule_col = win.map_or("-".to_string(), |i| i.to_string());
        writeln!(w, "{n:<width$}  {rule_col:>5}  {action:<7}  {scaling:>8}  {attrs}")?;
    }
    writeln!(w)?;
    writeln!(
        w,
        "{} modules: {adapted} adapted, {excluded} excluded, {unmatched} unmatched",
        names.len()
    )?;
    let unused: Vec<usize> = (0..nrules).filter(|&i| hits[i] == 0).collect();
    if unused.is_empty() {
        writeln!(w, "every rule decided at least one module")?;
    } else {
        writeln!(w, "{} rule(s) decided no module:", unused.len())?;
        for i in unused.iter().take(50) {
            let r = &m.rules().rules()[*i];
            let loc = m.rules().location(*i).unwrap_or_default();
            writeln!(w, "  rule {i} at {loc}: {}", r.pattern_text)?;
        }
        if unused.len() > 50 {
            writeln!(w, "  ... and {} more", unused.len() - 50)?;
        }
    }
    Ok(())
}

/// `explain`: the winner and every other matching rule, with locations.
pub fn explain(w: &mut impl Write, m: &Matcher, module: &str) -> io::Result<()> {
    let d = m.resolve(module);
    let all = m.reference().matching(module);
    match d.rule() {
        None => writeln!(w, "{module}: no rule matches: not adapted")?,
        Some(r) => {
            let loc = m.rules().location(r.index).unwrap_or_default();
            let what = match d.outcome() {
                Outcome::Adapt => format!(
                    "adapt {}{}",
                    attrs_text(m, r.index),
                    d.scaling().map(|s| format!(" scaling={s}")).unwrap_or_default()
                ),
                _ => "exclude".to_string(),
            };
            writeln!(w, "{module}: rule {} wins ({loc}): {}", r.index, r.pattern_text)?;
            writeln!(w, "  => {what}")?;
        }
    }
    let others: Vec<usize> = all.into_iter().filter(|&i| Some(i) != d.rule_index()).collect();
    if others.is_empty() {
        writeln!(w, "no other rule matches")?;
    } else {
        writeln!(w, "also matching (shadowed by the winner):")?;
        for i in others {
            let r = &m.rules().rules()[i];
            writeln!(w, "  rule {i} ({}): {}", m.rules().location(i).unwrap_or_default(), r.pattern_text)?;
        }
    }
    Ok(())
}
