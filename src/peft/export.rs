//! Rules → a PEFT 0.21.2 `adapter_config.json` fragment that makes real PEFT produce the
//! same per-module table (targeted, `r`, `lora_alpha`, scaling) as the rules, on a given
//! module list.
//!
//! [`export`] resolves every module with the rules and writes:
//!
//! * `target_modules`: one **string** (PEFT `re.fullmatch`) matching exactly the adapted
//!   names: a trie of their escaped dot-separated segments, where sibling segments with the
//!   same continuation share it (`model\.layers\.(?:0|1|2)\.self_attn\.(?:q_proj|v_proj)`).
//!   A list would not do: PEFT matches list entries as `"." + entry` suffixes too, and
//!   condenses lists of 20+ entries against the model.
//! * `exclude_modules`: the same kind of regex for the names the rules exclude (so PEFT's
//!   table tells "excluded" from "not matched" as ours does), or `null`.
//! * `r` / `lora_alpha`: the most common rank / alpha among adapted modules (ties: the
//!   smallest rank, the first alpha met); `use_rslora`: the global flag.
//! * `rank_pattern` / `alpha_pattern`: one key per other value, `^` + the trie regex of the
//!   names having it. PEFT 0.21.2 `get_pattern_key` tests `re.match(rf"(.*\.)?({key})$",
//!   name)`; the `^` only holds at position 0, so the optional `(.*\.)?` prefix must be
//!   empty and the key matches **exactly** the listed full names (module names hold no
//!   newline, so `$` is the end). The key sets are disjoint, hence neither the key order
//!   nor the sorting PEFT applies on `save_pretrained` (`json.dump(sort_keys=True)`) can
//!   change which key wins.
//! * `lora_dropout`, `init_lora_weights`, `use_dora`, only when every adapted module has
//!   the same value and it is not PEFT's default.
//!
//! What PEFT cannot express per module — `dropout`, `init`, `use_dora`, `use_rslora`
//! differing between adapted modules, a declared attribute, an adapted module whose class
//! PEFT cannot wrap, an adapted module without a rank or alpha — is a [`Loss`]: an error,
//! or with [`ExportOptions::allow_lossy`] the majority value is used and every loss listed.
//!
//! Before returning, the fragment is evaluated with this crate's PEFT 0.21.2 evaluator
//! ([`super::legacy::evaluate`]), in key order and with keys sorted, and must give the
//! expected table on every module.

use std::collections::HashSet;
use std::fmt;

use serde_json::{Map, Number, Value as Json};

use super::legacy::{self, LegacyConfig, ModelInfo, Reason, SUPPORTED_CLASSES};
use crate::Matcher;
use crate::engine::Outcome;
use crate::ir::Value;

/// Options of [`export`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportOptions {
    /// Proceed when some attribute cannot be expressed, listing every [`Loss`].
    pub allow_lossy: bool,
}

/// Something the fragment cannot say, and the modules it concerns.
#[derive(Debug, Clone, PartialEq)]
pub struct Loss {
    /// The attribute (`dropout`, `init`, `use_dora`, `use_rslora`, `rank`, `alpha`, a
    /// declared attribute), or `class` for a module PEFT cannot wrap.
    pub attribute: String,
    /// What is lost and what PEFT does instead.
    pub message: String,
    /// The modules concerned, in module-list order.
    pub modules: Vec<String>,
}

impl Loss {
    /// True when the loss changes the module table PEFT produces (`use_rslora`: scaling;
    /// `class`: not targeted; `rank` / `alpha`: PEFT's global value), false when only
    /// training-time behaviour differs (`dropout`, `init`, `use_dora`, declared attributes).
    pub fn changes_table(&self) -> bool {
        matches!(
            self.attribute.as_str(),
            "use_rslora" | "class" | "rank" | "alpha"
        )
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} module{}: {})",
            self.message,
            self.modules.len(),
            if self.modules.len() == 1 { "" } else { "s" },
            self.modules.join(", ")
        )
    }
}

/// The expected PEFT answer for one module (the oracle's `modules` entry, plus whether
/// PEFT's reason is an exclusion).
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedModule {
    /// Module name.
    pub name: String,
    /// PEFT puts a LoRA adapter on it.
    pub targeted: bool,
    /// `exclude_modules` matches it.
    pub excluded: bool,
    /// `r`, targeted modules only.
    pub r: Option<u32>,
    /// `lora_alpha` with its JSON type, targeted modules only.
    pub lora_alpha: Option<Number>,
    /// `lora_alpha / r` (or `/ sqrt(r)` with `use_rslora`), targeted modules only.
    pub scaling: Option<f64>,
}

/// The result of [`export`].
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    /// The `adapter_config.json` fragment (key order as written).
    pub config: Map<String, Json>,
    /// Every loss (empty unless [`ExportOptions::allow_lossy`]).
    pub losses: Vec<Loss>,
    /// What PEFT 0.21.2 produces with `config` on the module list, one entry per module
    /// of the input, in order. Equal to the rules' resolution when `losses` is empty.
    pub expected: Vec<ExpectedModule>,
}

/// Why [`export`] failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportError {
    /// The rules adapt no module of the list; PEFT raises `NoMatchingPeftModuleError` on
    /// any config with nothing targeted.
    NothingAdapted,
    /// Attributes PEFT cannot express (without [`ExportOptions::allow_lossy`]).
    Lossy(Vec<Loss>),
    /// A module name PEFT cannot have (empty, or with an empty dotted segment).
    BadName(String),
    /// The self-check with the PEFT evaluator failed (a bug).
    Internal(String),
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::NothingAdapted => write!(
                f,
                "the rules adapt no module of the list; PEFT raises NoMatchingPeftModuleError when nothing is targeted"
            ),
            ExportError::Lossy(losses) => {
                write!(
                    f,
                    "{} thing(s) the PEFT config cannot express (use --allow-lossy to export anyway):",
                    losses.len()
                )?;
                for l in losses {
                    write!(f, "\n  - {l}")?;
                }
                Ok(())
            }
            ExportError::BadName(n) => write!(
                f,
                "module name {n:?} is empty or has an empty segment; PEFT module names cannot"
            ),
            ExportError::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for ExportError {}

// ------------------------------------------------------------------------------------------
// Exact name regexes
// ------------------------------------------------------------------------------------------

/// Escapes `s` for Python's `re` (and Rust's `regex`): the characters Python 3.7+
/// `re.escape` escapes (`()[]{}?*+-|^$\.&~#` and whitespace) get a backslash; everything
/// else is literal in both engines. O(len).
pub fn py_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        match c {
            '(' | ')' | '[' | ']' | '{' | '}' | '?' | '*' | '+' | '-' | '|' | '^' | '$' | '\\'
            | '.' | '&' | '~' | '#' => {
                out.push('\\');
                out.push(c);
            }
            ' ' => out.push_str("\\ "),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\x0b' => out.push_str("\\x0b"),
            '\x0c' => out.push_str("\\x0c"),
            c => out.push(c),
        }
    }
    out
}

#[derive(Default)]
struct Node {
    terminal: bool,
    children: Vec<(String, Node)>,
}

impl Node {
    fn insert(&mut self, segs: &[&str]) {
        match segs.split_first() {
            None => self.terminal = true,
            Some((first, rest)) => {
                let i = match self.children.iter().position(|(s, _)| s == first) {
                    Some(i) => i,
                    None => {
                        self.children.push(((*first).to_string(), Node::default()));
                        self.children.len() - 1
                    }
                };
                self.children[i].1.insert(rest);
            }
        }
    }

    /// The continuations after this node's segment: `""`, `\.X` or `(?:\.X)?`.
    fn tail(&self) -> String {
        if self.children.is_empty() {
            return String::new();
        }
        let inner = format!("\\.{}", self.alternatives());
        if self.terminal {
            format!("(?:{inner})?")
        } else {
            inner
        }
    }

    /// The children as one concatenation-safe regex: siblings with equal tails share it.
    fn alternatives(&self) -> String {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for (seg, child) in &self.children {
            let t = child.tail();
            let s = py_escape(seg);
            match groups.iter_mut().find(|(gt, _)| *gt == t) {
                Some((_, v)) => v.push(s),
                None => groups.push((t, vec![s])),
            }
        }
        let parts: Vec<String> = groups
            .into_iter()
            .map(|(t, segs)| {
                if segs.len() == 1 {
                    format!("{}{t}", segs[0])
                } else {
                    format!("(?:{}){t}", segs.join("|"))
                }
            })
            .collect();
        if parts.len() == 1 {
            parts.into_iter().next().unwrap_or_default()
        } else {
            format!("(?:{})", parts.join("|"))
        }
    }
}

/// A regex (valid for Python `re` and Rust `regex`) that fully matches exactly the given
/// names: a trie over their dotted segments with shared continuations. The result is
/// concatenation-safe (no top-level `|`). Empty input gives a never-matching `(?!)`.
/// O(total length × distinct continuations) time.
pub fn exact_names_regex<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let mut root = Node::default();
    let mut any = false;
    for n in names {
        any = true;
        root.insert(&n.split('.').collect::<Vec<_>>());
    }
    if !any {
        return "(?!)".into();
    }
    root.alternatives()
}

// ------------------------------------------------------------------------------------------
// Export
// ------------------------------------------------------------------------------------------

struct Adapted {
    name: String,
    rank: Option<i64>,
    alpha: Option<Value>,
    rslora: bool,
    dropout: f64,
    init: Value,
    use_dora: bool,
}

fn json_of(v: &Value) -> Json {
    v.to_json()
}

fn number_of(v: &Value) -> Option<Number> {
    match v {
        Value::Int(i) => Some(Number::from(*i)),
        Value::Float(x) => Number::from_f64(*x),
        _ => None,
    }
}

/// The most common value (first met among equals, or `prefer` when tied with it).
fn majority<T: PartialEq + Clone>(values: impl Iterator<Item = T>, prefer: Option<T>) -> Option<T> {
    let mut counts: Vec<(T, usize)> = Vec::new();
    for v in values {
        match counts.iter_mut().find(|(x, _)| *x == v) {
            Some((_, c)) => *c += 1,
            None => counts.push((v, 1)),
        }
    }
    let best = counts.iter().map(|(_, c)| *c).max()?;
    if let Some(p) = prefer
        && counts.iter().any(|(v, c)| *v == p && *c == best)
    {
        return Some(p);
    }
    counts.into_iter().find(|(_, c)| *c == best).map(|(v, _)| v)
}

/// One loss per distinct non-global value of an attribute.
fn value_losses<T: PartialEq + Clone + fmt::Display>(
    adapted: &[Adapted],
    get: impl Fn(&Adapted) -> T,
    global: &T,
    attribute: &str,
    what: impl Fn(&T) -> String,
    losses: &mut Vec<Loss>,
) {
    let mut seen: Vec<T> = Vec::new();
    for a in adapted {
        let v = get(a);
        if v != *global && !seen.contains(&v) {
            seen.push(v.clone());
            losses.push(Loss {
                attribute: attribute.into(),
                message: what(&v),
                modules: adapted
                    .iter()
                    .filter(|b| get(b) == v)
                    .map(|b| b.name.clone())
                    .collect(),
            });
        }
    }
}

const BUILTIN: &[&str] = &["rank", "alpha", "dropout", "init", "use_dora", "use_rslora"];

/// Builds the PEFT 0.21.2 config fragment reproducing the rules' per-module table on
/// `model.modules` (see the module docs for the encoding and why it is exact).
///
/// Complexity: one resolution per module, the trie regexes in O(total name length ×
/// distinct continuations), then two runs of [`legacy::evaluate`] for the self-check.
///
/// # Errors
/// [`ExportError::NothingAdapted`] when no module is adapted; [`ExportError::Lossy`] when
/// something cannot be expressed and `allow_lossy` is off; [`ExportError::BadName`] for an
/// empty name or segment; [`ExportError::Internal`] when the self-check fails.
pub fn export(
    rules: &Matcher,
    model: &ModelInfo,
    options: &ExportOptions,
) -> Result<Exported, ExportError> {
    let mut seen = HashSet::new();
    let mut adapted: Vec<Adapted> = Vec::new();
    let mut excluded: Vec<&str> = Vec::new();
    let mut losses: Vec<Loss> = Vec::new();
    let mut unsupported: Vec<String> = Vec::new();
    let mut declared: Vec<(String, String, Vec<String>)> = Vec::new();
    for m in &model.modules {
        if m.name.is_empty() || m.name.split('.').any(str::is_empty) {
            return Err(ExportError::BadName(m.name.clone()));
        }
        if !seen.insert(m.name.as_str()) {
            continue;
        }
        let d = rules.resolve(&m.name);
        match d.outcome() {
            Outcome::None => {}
            Outcome::Exclude => excluded.push(&m.name),
            Outcome::Adapt => {
                let supported = m.linear_like
                    || m.class
                        .as_deref()
                        .is_some_and(|c| SUPPORTED_CLASSES.contains(&c));
                if !supported {
                    unsupported.push(m.name.clone());
                    continue;
                }
                let empty = crate::ir::Attrs::default();
                let attrs = d.attrs().unwrap_or(&empty);
                for (k, v) in attrs.iter() {
                    if !BUILTIN.contains(&k) {
                        let text = v.to_string();
                        match declared.iter_mut().find(|(a, t, _)| a == k && *t == text) {
                            Some((_, _, mods)) => mods.push(m.name.clone()),
                            None => declared.push((k.to_string(), text, vec![m.name.clone()])),
                        }
                    }
                }
                adapted.push(Adapted {
                    name: m.name.clone(),
                    rank: match attrs.get("rank") {
                        Some(Value::Int(i)) => Some(*i),
                        _ => None,
                    },
                    alpha: attrs
                        .get("alpha")
                        .filter(|v| matches!(v, Value::Int(_) | Value::Float(_)))
                        .cloned(),
                    rslora: matches!(attrs.get("use_rslora"), Some(Value::Bool(true))),
                    dropout: attrs.get("dropout").and_then(Value::as_f64).unwrap_or(0.0),
                    init: attrs.get("init").cloned().unwrap_or(Value::Bool(true)),
                    use_dora: matches!(attrs.get("use_dora"), Some(Value::Bool(true))),
                });
            }
        }
    }
    if !unsupported.is_empty() {
        losses.push(Loss {
            attribute: "class".into(),
            message: "adapted by the rules, but PEFT 0.21.2 cannot put LoRA on modules of this class (it raises \"Target module ... is not supported\"): left out of `target_modules`".into(),
            modules: unsupported,
        });
    }
    if adapted.is_empty() {
        return Err(ExportError::NothingAdapted);
    }

    // global values
    let r = majority(
        {
            let mut ranks: Vec<i64> = adapted.iter().filter_map(|a| a.rank).collect();
            ranks.sort_unstable();
            ranks.into_iter()
        },
        None,
    )
    .unwrap_or(8);
    let alpha =
        majority(adapted.iter().filter_map(|a| a.alpha.clone()), None).unwrap_or(Value::Int(8));
    let rslora = majority(adapted.iter().map(|a| a.rslora), Some(false)).unwrap_or(false);
    let dropout = majority(adapted.iter().map(|a| a.dropout), Some(0.0)).unwrap_or(0.0);
    let init = majority(
        adapted.iter().map(|a| a.init.clone()),
        Some(Value::Bool(true)),
    )
    .unwrap_or(Value::Bool(true));
    let use_dora = majority(adapted.iter().map(|a| a.use_dora), Some(false)).unwrap_or(false);

    let missing = |f: fn(&Adapted) -> bool| -> Vec<String> {
        adapted
            .iter()
            .filter(|a| f(a))
            .map(|a| a.name.clone())
            .collect()
    };
    let no_rank = missing(|a| a.rank.is_none());
    if !no_rank.is_empty() {
        losses.push(Loss {
            attribute: "rank".into(),
            message: format!("adapted without a `rank`; PEFT always has one: they get r = {r}"),
            modules: no_rank,
        });
    }
    let no_alpha = missing(|a| a.alpha.is_none());
    if !no_alpha.is_empty() {
        losses.push(Loss {
            attribute: "alpha".into(),
            message: format!(
                "adapted without an `alpha`; PEFT always has one: they get lora_alpha = {alpha}"
            ),
            modules: no_alpha,
        });
    }
    value_losses(
        &adapted,
        |a| a.rslora,
        &rslora,
        "use_rslora",
        |v| {
            format!(
                "use_rslora = {v}, but PEFT's use_rslora is one global flag (set to {rslora}): their scaling changes"
            )
        },
        &mut losses,
    );
    value_losses(
        &adapted,
        |a| a.dropout,
        &dropout,
        "dropout",
        |v| format!("dropout = {v}, but PEFT's lora_dropout is global (set to {dropout})"),
        &mut losses,
    );
    value_losses(
        &adapted,
        |a| a.init.clone(),
        &init,
        "init",
        |v| format!("init = {v}, but PEFT's init_lora_weights is global (set to {init})"),
        &mut losses,
    );
    value_losses(
        &adapted,
        |a| a.use_dora,
        &use_dora,
        "use_dora",
        |v| format!("use_dora = {v}, but PEFT's use_dora is global (set to {use_dora})"),
        &mut losses,
    );
    for (attr, text, modules) in declared {
        losses.push(Loss {
            message: format!("`{attr} = {text}`: a declared attribute, PEFT has no such field"),
            attribute: attr,
            modules,
        });
    }
    if !losses.is_empty() && !options.allow_lossy {
        return Err(ExportError::Lossy(losses));
    }

    // the fragment
    let eff_rank = |a: &Adapted| a.rank.unwrap_or(r);
    let eff_alpha = |a: &Adapted| a.alpha.clone().unwrap_or_else(|| alpha.clone());
    let mut config = Map::new();
    config.insert(
        "target_modules".into(),
        Json::String(exact_names_regex(adapted.iter().map(|a| a.name.as_str()))),
    );
    config.insert(
        "exclude_modules".into(),
        if excluded.is_empty() {
            Json::Null
        } else {
            Json::String(exact_names_regex(excluded.iter().copied()))
        },
    );
    config.insert("r".into(), Json::from(r));
    config.insert("lora_alpha".into(), json_of(&alpha));
    config.insert("use_rslora".into(), Json::Bool(rslora));
    let mut rank_values: Vec<i64> = adapted.iter().map(eff_rank).filter(|v| *v != r).collect();
    rank_values.sort_unstable();
    rank_values.dedup();
    let mut rank_pattern = Map::new();
    for v in rank_values {
        let names = adapted
            .iter()
            .filter(|a| eff_rank(a) == v)
            .map(|a| a.name.as_str());
        rank_pattern.insert(format!("^{}", exact_names_regex(names)), Json::from(v));
    }
    let mut alpha_values: Vec<Value> = Vec::new();
    for a in &adapted {
        let v = eff_alpha(a);
        if v != alpha && !alpha_values.contains(&v) {
            alpha_values.push(v);
        }
    }
    let mut alpha_pattern = Map::new();
    for v in alpha_values {
        let names = adapted
            .iter()
            .filter(|a| eff_alpha(a) == v)
            .map(|a| a.name.as_str());
        alpha_pattern.insert(format!("^{}", exact_names_regex(names)), json_of(&v));
    }
    config.insert("rank_pattern".into(), Json::Object(rank_pattern));
    config.insert("alpha_pattern".into(), Json::Object(alpha_pattern));
    if dropout != 0.0 {
        config.insert(
            "lora_dropout".into(),
            Number::from_f64(dropout).map_or(Json::Null, Json::Number),
        );
    }
    if init != Value::Bool(true) {
        config.insert("init_lora_weights".into(), json_of(&init));
    }
    if use_dora {
        config.insert("use_dora".into(), Json::Bool(true));
    }

    // the expected table
    let by_name: std::collections::HashMap<&str, &Adapted> =
        adapted.iter().map(|a| (a.name.as_str(), a)).collect();
    let excluded_set: HashSet<&str> = excluded.iter().copied().collect();
    let expected: Vec<ExpectedModule> = model
        .modules
        .iter()
        .map(|m| match by_name.get(m.name.as_str()).copied() {
            Some(a) => {
                let rv = eff_rank(a);
                let av = eff_alpha(a);
                let af = av.as_f64().unwrap_or(f64::NAN);
                ExpectedModule {
                    name: m.name.clone(),
                    targeted: true,
                    excluded: false,
                    r: u32::try_from(rv).ok(),
                    lora_alpha: number_of(&av),
                    scaling: Some(if rslora {
                        af / (rv as f64).sqrt()
                    } else {
                        af / rv as f64
                    }),
                }
            }
            None => ExpectedModule {
                name: m.name.clone(),
                targeted: false,
                excluded: excluded_set.contains(m.name.as_str()),
                r: None,
                lora_alpha: None,
                scaling: None,
            },
        })
        .collect();

    // self-check with the PEFT evaluator, in key order and sorted as PEFT saves them
    let (mut cfg, _) = LegacyConfig::from_json_value(&Json::Object(config.clone()))
        .map_err(|e| ExportError::Internal(format!("the fragment does not parse: {e}")))?;
    check_against(&cfg, model, &expected)?;
    cfg.sort_pattern_keys();
    check_against(&cfg, model, &expected)
        .map_err(|e| ExportError::Internal(format!("with sorted keys: {e}")))?;

    Ok(Exported {
        config,
        losses,
        expected,
    })
}

/// Compares [`legacy::evaluate`] of `cfg` on `model` with `expected`.
fn check_against(
    cfg: &LegacyConfig,
    model: &ModelInfo,
    expected: &[ExpectedModule],
) -> Result<(), ExportError> {
    let ev = legacy::evaluate(cfg, model)
        .map_err(|e| ExportError::Internal(format!("PEFT would reject the fragment: {e}")))?;
    for (d, e) in ev.decisions.iter().zip(expected) {
        let excluded = matches!(d.reason, Reason::Excluded(_));
        let alpha_eq = match (&d.lora_alpha, &e.lora_alpha) {
            (Some(x), Some(y)) => x.is_f64() == y.is_f64() && x.as_f64() == y.as_f64(),
            (None, None) => true,
            _ => false,
        };
        let scaling_eq = match (d.scaling, e.scaling) {
            (Some(x), Some(y)) => (x - y).abs() <= 1e-12 * y.abs().max(1e-300),
            (None, None) => true,
            _ => false,
        };
        if d.targeted != e.targeted
            || excluded != e.excluded
            || d.r != e.r
            || !alpha_eq
            || !scaling_eq
        {
            return Err(ExportError::Internal(format!(
                "{}: PEFT would give targeted={} excluded={excluded} r={:?} alpha={:?} scaling={:?}, expected {e:?}",
                d.name, d.targeted, d.r, d.lora_alpha, d.scaling
            )));
        }
    }
    Ok(())
}
