//! Output formats of `resolve` and `explain`.

use std::io::{self, Write};

use lora_rules::{Matcher, Outcome};

/// One line of `resolve` output: exactly the `--format jsonl` record.
#[derive(Debug, Clone)]
pub struct Row<'a> {
    /// The module name.
    pub module: &'a str,
    /// Winning rule index (file order), if any.
    pub rule: Option<usize>,
    /// Adapt, exclude or none.
    pub outcome: Outcome,
    /// Effective attributes with canonical names, when adapted.
    pub attrs: Option<serde_json::Value>,
    /// LoRA scaling, when adapted and known.
    pub scaling: Option<f64>,
    /// Short attribute text for the table.
    pub attrs_text: String,
}

impl Row<'_> {
    fn json(&self) -> serde_json::Value {
        let mut o = serde_json::Map::new();
        o.insert("module".into(), self.module.into());
        o.insert(
            "rule".into(),
            self.rule.map_or(serde_json::Value::Null, |i| i.into()),
        );
        o.insert("action".into(), self.outcome.as_str().into());
        o.insert(
            "attrs".into(),
            self.attrs.clone().unwrap_or(serde_json::Value::Null),
        );
        o.insert(
            "scaling".into(),
            self.scaling
                .and_then(serde_json::Number::from_f64)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
        );
        serde_json::Value::Object(o)
    }
}

/// The rows of a rule-file resolution.
pub fn rows<'a>(m: &Matcher, names: &[&'a str], winners: &[Option<usize>]) -> Vec<Row<'a>> {
    names
        .iter()
        .zip(winners)
        .map(|(n, win)| {
            let rule = win.and_then(|i| m.rules().rules().get(i));
            let attrs = rule.and_then(|r| r.attrs.as_ref());
            Row {
                module: n,
                rule: *win,
                outcome: match rule {
                    None => Outcome::None,
                    Some(r) if r.attrs.is_some() => Outcome::Adapt,
                    Some(_) => Outcome::Exclude,
                },
                attrs: attrs.map(|a| a.to_json()),
                scaling: rule.and_then(|r| r.scaling),
                attrs_text: attrs
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// `--format jsonl`: one object per module, in input order.
pub fn jsonl(w: &mut impl Write, rows: &[Row<'_>]) -> io::Result<()> {
    for r in rows {
        writeln!(w, "{}", r.json())?;
    }
    Ok(())
}

/// `--format json`: one array.
pub fn json(w: &mut impl Write, rows: &[Row<'_>]) -> io::Result<()> {
    let arr: Vec<serde_json::Value> = rows.iter().map(Row::json).collect();
    // `From` keeps an I/O error as it is (a broken pipe stays `BrokenPipe`).
    serde_json::to_writer_pretty(&mut *w, &arr).map_err(io::Error::from)?;
    writeln!(w)
}

/// `--format table`: aligned columns, then a summary of counts and of the
/// rules that decided nothing (`rule_names`: the display text and location of
/// each rule, empty for legacy configs).
pub fn table(
    w: &mut impl Write,
    rows: &[Row<'_>],
    rule_names: &[(String, String)],
) -> io::Result<()> {
    let width = rows
        .iter()
        .map(|r| r.module.chars().count())
        .max()
        .unwrap_or(6)
        .clamp(6, 80);
    writeln!(
        w,
        "{:<width$}  {:>5}  {:<7}  {:>8}  ATTRS",
        "MODULE", "RULE", "ACTION", "SCALING"
    )?;
    let mut hits = vec![0usize; rule_names.len()];
    let (mut adapted, mut excluded, mut unmatched) = (0usize, 0usize, 0usize);
    for r in rows {
        match r.outcome {
            Outcome::Adapt => adapted += 1,
            Outcome::Exclude => excluded += 1,
            Outcome::None => unmatched += 1,
        }
        if let Some(h) = r.rule.and_then(|i| hits.get_mut(i)) {
            *h += 1;
        }
        let rule_col = r.rule.map_or("-".to_string(), |i| i.to_string());
        let scaling = r.scaling.map(|s| format!("{s:.4}")).unwrap_or_default();
        writeln!(
            w,
            "{:<width$}  {rule_col:>5}  {:<7}  {scaling:>8}  {}",
            r.module,
            r.outcome.as_str(),
            r.attrs_text
        )?;
    }
    writeln!(w)?;
    writeln!(
        w,
        "{} modules: {adapted} adapted, {excluded} excluded, {unmatched} unmatched",
        rows.len()
    )?;
    if rule_names.is_empty() {
        return Ok(());
    }
    let unused: Vec<usize> = (0..rule_names.len()).filter(|&i| hits[i] == 0).collect();
    if unused.is_empty() {
        writeln!(w, "every rule decided at least one module")?;
    } else {
        writeln!(w, "{} rule(s) decided no module:", unused.len())?;
        for i in unused.iter().take(50) {
            let (text, loc) = &rule_names[*i];
            writeln!(w, "  rule {i} at {loc}: {text}")?;
        }
        if unused.len() > 50 {
            writeln!(w, "  ... and {} more", unused.len() - 50)?;
        }
    }
    Ok(())
}

fn attrs_text(m: &Matcher, i: usize) -> String {
    m.rules().rules()[i]
        .attrs
        .as_ref()
        .map(|a| {
            a.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// `explain`: the winner and every other matching rule, with locations.
pub fn explain(w: &mut impl Write, m: &Matcher, module: &str) -> io::Result<()> {
    let d = m.resolve(module);
    let all = m.matching(module);
    match d.rule() {
        None => writeln!(w, "{module}: no rule matches: not adapted")?,
        Some(r) => {
            let loc = m.rules().location(r.index).unwrap_or_default();
            let what = match d.outcome() {
                Outcome::Adapt => format!(
                    "adapt {}{}",
                    attrs_text(m, r.index),
                    d.scaling()
                        .map(|s| format!(" scaling={s}"))
                        .unwrap_or_default()
                ),
                _ => "exclude".to_string(),
            };
            writeln!(
                w,
                "{module}: rule {} wins ({loc}): {}",
                r.index, r.pattern_text
            )?;
            writeln!(w, "  => {what}")?;
        }
    }
    let others: Vec<usize> = all
        .into_iter()
        .filter(|&i| Some(i) != d.rule_index())
        .collect();
    if others.is_empty() {
        writeln!(w, "no other rule matches")?;
    } else {
        writeln!(w, "also matching (shadowed by the winner):")?;
        for i in others {
            let r = &m.rules().rules()[i];
            writeln!(
                w,
                "  rule {i} ({}): {}",
                m.rules().location(i).unwrap_or_default(),
                r.pattern_text
            )?;
        }
    }
    Ok(())
}
