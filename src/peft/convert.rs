//! Legacy PEFT 0.21.2 config → an equivalent `.lora` rule file.
//!
//! [`convert`] writes, in this order:
//!
//! 1. `defaults { rank = r, alpha = lora_alpha[, dropout = lora_dropout][, init =
//!    init_lora_weights][, use_dora = true][, use_rslora = true] }`, each optional one only
//!    when it differs from PEFT 0.21.2's default (0.0, `true`, `false`, `false`);
//! 2. `exclude_modules` as `exclude` rules (a list entry `e` is `key "<escaped e>"`, exactly
//!    PEFT's "equals `e` or ends with `.e`"; a string is `re "<translated>"`), then the
//!    `modules_to_save` guard (`re.match(rf"(^|.*\.){m}($|\..*)")`) as `exclude` rules;
//! 3. one rule per `(rank key, alpha key)` combination, in lexicographic order of
//!    (rank key index, alpha key index) with "no key" last: `T & key "Ki" & key "Aj" { .. }`;
//!    then the plain target rule `T {}`.
//!
//! Why first-match order gives PEFT's pair: PEFT takes the *first* rank key `i` and,
//! independently, the *first* alpha key `j` matching a module. A module whose pair is
//! `(i, j)` does not match any rule `(i', _)` with `i' < i` (it matches no earlier rank key)
//! nor any rule `(i, j')` with `j' < j` (no earlier alpha key), so the first rule it meets
//! is `(i, j)` itself. A pair `(i, none)` matches no `(i, j)` rule (no alpha key at all),
//! and a pair `(none, j)` matches no rank-keyed rule. When `rank_pattern` and
//! `alpha_pattern` have the same keys in the same order (EVA files), the first rank key is
//! the first alpha key, so only the diagonal `(i, i)` is written.
//!
//! Python-only regex constructs: a leading negative look-ahead `^(?!A)B` becomes
//! `re "B" & !re "A.*"`; the never-matching alternative `(?!x)x` is dropped; Python's `\b`
//! becomes the ASCII word boundary `(?-u:\b)` (with a warning: exact for ASCII names).
//! Anything else, and a layer filter (`layers_to_transform`), falls back — when the model
//! is known — to the exact list of module names PEFT targets, grouped by `(r, lora_alpha)`
//! (with a warning: exact for that model only); without a model it is an error naming the
//! construct and its byte offset.
//!
//! Module names are assumed to contain no newline (as everywhere in this crate).

use std::collections::BTreeSet;
use std::fmt;

use serde_json::Number;

use super::legacy::{
    Evaluation, ExcludeModules, LegacyConfig, LegacyError, ModelInfo, TargetModules, evaluate,
};
use super::pyregex::{Construct, Engine, non_dfa_construct, translate_python_regex};

/// Bounds on the size of the produced file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvertLimits {
    /// The most rank/alpha combination rules written (without a model every combination of
    /// a rank key and an alpha key needs a rule).
    pub max_rules: usize,
}

impl Default for ConvertLimits {
    fn default() -> Self {
        ConvertLimits { max_rules: 4096 }
    }
}

/// The result of [`convert`].
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    /// The `.lora` source.
    pub text: String,
    /// What the reader should know (model-specific output, ASCII-only word boundaries, ...).
    pub warnings: Vec<String>,
    /// Number of rules in `text` (the `defaults` block not counted).
    pub rules: usize,
}

/// Why a config could not be converted.
#[derive(Debug, Clone)]
pub enum ConvertError {
    /// PEFT itself rejects the config (or, with a model, raises while injecting).
    Peft(LegacyError),
    /// An invalid Python regex (PEFT raises `re.error` when it compiles it).
    InvalidRegex {
        /// Config field.
        field: String,
        /// The pattern (or key).
        pattern: String,
        /// Python's message.
        message: String,
        /// Python's error position as a byte offset into `pattern`, when known.
        byte_offset: Option<usize>,
    },
    /// A Python-only construct with no exact translation, and no model to enumerate names.
    Unrepresentable {
        /// Config field.
        field: String,
        /// The pattern (or key).
        pattern: String,
        /// The construct.
        construct: &'static str,
        /// Its byte offset in `pattern`.
        byte_offset: usize,
    },
    /// The answer depends on the model's module names (`"all-linear"`, null
    /// `target_modules`, a layer filter): give a [`ModelInfo`].
    NeedsModel(String),
    /// A value the rule language cannot hold, or a config PEFT would reject on every model:
    /// a non-positive rank or alpha, a pattern with a newline, `target_parameters`, a
    /// string target that matches no name at all.
    NotExpressible {
        /// Config field involved (`r`, `rank_pattern`, ...), if known.
        field: Option<String>,
        /// Entry / key of that field involved, if any.
        key: Option<String>,
        /// What cannot be expressed, and why.
        message: String,
    },
    /// More combination rules than [`ConvertLimits::max_rules`].
    TooManyRules {
        /// Rules needed.
        needed: usize,
        /// The limit.
        max: usize,
    },
    /// `--format json`: a rule has no JSON dictionary key (only `key` patterns, their
    /// `|` combinations and full-name regexes written as `^(?:R)` keys have one).
    NeedsLora {
        /// Index of the rule in the produced file (0-based).
        rule: usize,
        /// The rule's pattern in `.lora` syntax.
        pattern: String,
        /// The construct that has no JSON form.
        reason: String,
    },
    /// The produced text did not load (a bug).
    Internal(String),
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConvertError::Peft(e) => write!(f, "PEFT rejects this config: {e}"),
            ConvertError::InvalidRegex {
                field,
                pattern,
                message,
                ..
            } => {
                write!(f, "`{field}`: invalid Python regex {pattern:?}: {message}")
            }
            ConvertError::Unrepresentable {
                field,
                pattern,
                construct,
                byte_offset,
            } => write!(
                f,
                "`{field}`: {pattern:?} uses {construct} at byte {byte_offset}, which has no exact \
                 equivalent in the rule language; give the model's module names to convert it into \
                 an exact (model-specific) name list, or rewrite the pattern"
            ),
            ConvertError::NeedsModel(what) => {
                write!(f, "{what}: the module names of the model are needed")
            }
            ConvertError::NotExpressible { message, .. } => write!(f, "{message}"),
            ConvertError::TooManyRules { needed, max } => write!(
                f,
                "{needed} rank/alpha combination rules would be needed, more than the limit of {max}; \
                 give the model's module names (only the combinations that occur are written) or raise the limit"
            ),
            ConvertError::NeedsLora {
                rule,
                pattern,
                reason,
            } => write!(
                f,
                "rule {rule} (`{pattern}`) uses {reason}, which a JSON dictionary key cannot express: write the `.lora` form instead"
            ),
            ConvertError::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for ConvertError {}

/// Where in the config an error is: field, entry/key, byte offset inside that entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorLocation {
    /// Top-level field (`target_modules`, `rank_pattern`, ...).
    pub field: Option<String>,
    /// Entry of a list or key of a dictionary (the pattern text).
    pub key: Option<String>,
    /// Byte offset inside `key` (or inside the field's string value when `key` is None).
    pub byte_offset: Option<usize>,
}

impl ConvertError {
    /// Where the error is in the config, as far as known. O(1).
    pub fn location(&self) -> ErrorLocation {
        match self {
            ConvertError::Peft(e) => {
                let key = e.key.clone();
                // PEFT wraps pattern keys / modules_to_save entries in `(.*\.)?(` / `(^|.*\.)`
                // (8 bytes): map the offset back into the entry when it falls inside it.
                let byte_offset = e.regex.as_ref().and_then(|r| {
                    let b = r.byte_offset?;
                    let k = key.as_deref()?;
                    if r.pattern == k {
                        Some(b)
                    } else {
                        b.checked_sub(8).filter(|x| *x <= k.len())
                    }
                });
                ErrorLocation {
                    field: e.field.clone(),
                    key,
                    byte_offset,
                }
            }
            ConvertError::InvalidRegex {
                field,
                pattern,
                byte_offset,
                ..
            } => ErrorLocation {
                field: Some(field.clone()),
                key: Some(pattern.clone()),
                byte_offset: *byte_offset,
            },
            ConvertError::Unrepresentable {
                field,
                pattern,
                byte_offset,
                ..
            } => ErrorLocation {
                field: Some(field.clone()),
                key: Some(pattern.clone()),
                byte_offset: Some(*byte_offset),
            },
            ConvertError::NotExpressible { field, key, .. } => ErrorLocation {
                field: field.clone(),
                key: key.clone(),
                byte_offset: None,
            },
            ConvertError::NeedsModel(_)
            | ConvertError::NeedsLora { .. }
            | ConvertError::TooManyRules { .. }
            | ConvertError::Internal(_) => ErrorLocation::default(),
        }
    }
}

fn not_expressible(field: Option<&str>, key: Option<&str>, message: String) -> ConvertError {
    ConvertError::NotExpressible {
        field: field.map(str::to_string),
        key: key.map(str::to_string),
        message,
    }
}

impl From<LegacyError> for ConvertError {
    fn from(e: LegacyError) -> Self {
        ConvertError::Peft(e)
    }
}

// ------------------------------------------------------------------------------------------
// Pattern expressions
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum P {
    Key(String),
    Re(String),
    Not(Box<P>),
    And(Vec<P>),
    Or(Vec<P>),
    /// Never matches (only ever removed or turned into an error).
    False,
}

impl P {
    fn and(v: Vec<P>) -> P {
        let mut out = Vec::new();
        for p in v {
            match p {
                P::And(xs) => out.extend(xs),
                p => out.push(p),
            }
        }
        if out.contains(&P::False) {
            return P::False;
        }
        if out.len() == 1 {
            out.pop().unwrap_or(P::False)
        } else {
            P::And(out)
        }
    }
    fn or(v: Vec<P>) -> P {
        let mut out = Vec::new();
        for p in v {
            match p {
                P::Or(xs) => out.extend(xs),
                P::False => {}
                p => out.push(p),
            }
        }
        match out.len() {
            0 => P::False,
            1 => out.pop().unwrap_or(P::False),
            _ => P::Or(out),
        }
    }
    fn atoms(&self) -> usize {
        match self {
            P::Key(_) | P::Re(_) => 1,
            P::Not(p) => p.atoms(),
            P::And(v) | P::Or(v) => v.iter().map(P::atoms).sum(),
            P::False => 0,
        }
    }
    fn print(&self) -> Result<String, ConvertError> {
        fn lit(s: &str) -> Result<String, ConvertError> {
            crate::print::string(s).ok_or_else(|| {
                not_expressible(
                    None,
                    Some(s),
                    format!(
                        "the pattern {s:?} contains a newline or both quote characters, which a `.lora` string cannot hold"
                    ),
                )
            })
        }
        fn go(p: &P, parent: u8) -> Result<String, ConvertError> {
            Ok(match p {
                P::Key(k) => format!("key {}", lit(k)?),
                P::Re(r) => format!("re {}", lit(r)?),
                P::Not(x) => format!("!{}", go(x, 3)?),
                P::And(v) => {
                    let s = v
                        .iter()
                        .map(|x| go(x, 2))
                        .collect::<Result<Vec<_>, _>>()?
                        .join(" & ");
                    if parent > 2 { format!("({s})") } else { s }
                }
                P::Or(v) => {
                    let s = v
                        .iter()
                        .map(|x| go(x, 1))
                        .collect::<Result<Vec<_>, _>>()?
                        .join(" | ");
                    if parent > 1 { format!("({s})") } else { s }
                }
                P::False => {
                    return Err(ConvertError::Internal(
                        "never-matching pattern printed".into(),
                    ));
                }
            })
        }
        go(self, 0)
    }
}

// ------------------------------------------------------------------------------------------
// Python regex → rule patterns
// ------------------------------------------------------------------------------------------

/// Why a Python pattern has no exact rule form.
struct NoDfa {
    construct: Construct,
    offset: usize,
}

enum Conv {
    Ok(P),
    NoDfa(NoDfa),
}

/// The Python pattern copied as is when it means the same for Rust's `regex` (a
/// conservative subset: ASCII identifiers, `.`, `\.`, `\b`, groups `(...)` / `(?:...)`,
/// `* + ? {m} {m,n}` (greedy or lazy), `|`, simple classes, `^`, `$`).
fn readable(py: &str) -> Option<String> {
    let b = py.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    let mut prev_quant = false;
    while i < b.len() {
        let c = b[i];
        let mut quant = false;
        match c {
            b'a'..=b'z'
            | b'A'..=b'Z'
            | b'0'..=b'9'
            | b'_'
            | b'-'
            | b'.'
            | b'|'
            | b')'
            | b'^'
            | b'$' => out.push(c as char),
            b'*' | b'+' | b'?' => {
                if prev_quant && c != b'?' {
                    return None; // possessive (Python 3.11) / nested repeat
                }
                out.push(c as char);
                quant = !prev_quant;
            }
            b'(' => {
                if b.get(i + 1) == Some(&b'?') {
                    if b.get(i + 2) != Some(&b':') {
                        return None;
                    }
                    out.push_str("(?:");
                    i += 3;
                    prev_quant = false;
                    continue;
                }
                out.push('(');
            }
            b'\\' => match b.get(i + 1) {
                Some(b'.') => {
                    out.push_str("\\.");
                    i += 2;
                    prev_quant = false;
                    continue;
                }
                Some(b'b') => {
                    out.push_str("(?-u:\\b)");
                    i += 2;
                    prev_quant = false;
                    continue;
                }
                _ => return None,
            },
            b'{' => {
                let end = py[i..].find('}')? + i;
                let inner = &py[i + 1..end];
                let ok = {
                    let (m, n) = match inner.split_once(',') {
                        Some((m, n)) => (m, Some(n)),
                        None => (inner, None),
                    };
                    !m.is_empty()
                        && m.bytes().all(|x| x.is_ascii_digit())
                        && n.is_none_or(|n| n.bytes().all(|x| x.is_ascii_digit()))
                        && m.len() < 4
                        && n.is_none_or(|n| n.len() < 4)
                };
                if !ok || prev_quant {
                    return None;
                }
                out.push_str(&py[i..=end]);
                i = end + 1;
                prev_quant = true;
                continue;
            }
            b'[' => {
                let mut j = i + 1;
                if b.get(j) == Some(&b'^') {
                    j += 1;
                }
                let start = j;
                while j < b.len() && b[j] != b']' {
                    let x = b[j];
                    if !(x.is_ascii_alphanumeric() || x == b'_' || x == b'.' || x == b'-') {
                        return None;
                    }
                    if x == b'-' && b.get(j + 1) == Some(&b'-') {
                        return None;
                    }
                    j += 1;
                }
                if j >= b.len() || j == start {
                    return None;
                }
                out.push_str(&py[i..=j]);
                i = j + 1;
                prev_quant = false;
                continue;
            }
            _ => return None,
        }
        prev_quant = quant;
        i += 1;
    }
    if regex::Regex::new(&out).is_err() {
        return None;
    }
    Some(out)
}

/// A Rust regex with the meaning of the Python pattern (no look-around etc.), or why not.
fn rust_regex(
    py: &str,
    field: &str,
    warnings: &mut Vec<String>,
) -> Result<Result<String, NoDfa>, ConvertError> {
    let t = translate_python_regex(py).map_err(|e| ConvertError::InvalidRegex {
        field: field.into(),
        pattern: py.into(),
        message: e.python_message(),
        byte_offset: e.byte_offset,
    })?;
    if t.engine == Engine::Regex {
        return Ok(Ok(readable(py).unwrap_or(t.rust)));
    }
    // Only Python word boundaries: the ASCII word boundary (module names are ASCII).
    if t.constructs
        .iter()
        .all(|(c, _)| *c == Construct::WordBoundary)
        && let Some(r) = readable(py)
    {
        warnings.push(format!(
                "`{field}`: {py:?} uses `\\b`, written as the ASCII word boundary `(?-u:\\b)` (exact for ASCII module names)"
            ));
        return Ok(Ok(r));
    }
    let (construct, offset) = non_dfa_construct(py)
        .ok()
        .flatten()
        .unwrap_or((Construct::LookAhead, 0));
    Ok(Err(NoDfa { construct, offset }))
}

/// The structural bytes of a Python pattern from byte `from`: each `(`,
/// `)` and `|` outside character classes and escapes, with the group depth
/// before it. One scanner for both helpers below.
fn structure(py: &str, from: usize) -> Vec<(usize, u8, usize)> {
    let b = py.as_bytes();
    let mut out = Vec::new();
    let (mut depth, mut i, mut in_class) = (0usize, from, false);
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            i += 2;
            continue;
        }
        if in_class {
            in_class = c != b']';
        } else {
            match c {
                b'[' => {
                    in_class = true;
                    // `[]` and `[^]` start: the `]` is literal
                    if b.get(i + 1) == Some(&b'^') {
                        i += 1;
                    }
                    if b.get(i + 1) == Some(&b']') {
                        i += 1;
                    }
                }
                b'(' | b')' | b'|' => {
                    out.push((i, c, depth));
                    depth = if c == b'(' {
                        depth + 1
                    } else if c == b')' {
                        depth.saturating_sub(1)
                    } else {
                        depth
                    };
                }
                _ => {}
            }
        }
        i += 1;
    }
    out
}

/// Splits a pattern at its top-level `|` (byte ranges).
fn top_level_alternatives(py: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, _, _) in structure(py, 0)
        .into_iter()
        .filter(|&(_, c, d)| c == b'|' && d == 0)
    {
        out.push((start, i));
        start = i + 1;
    }
    out.push((start, py.len()));
    out
}

/// End (exclusive) of the group opened at byte `open` (`(`), or None.
fn group_end(py: &str, open: usize) -> Option<usize> {
    structure(py, open)
        .into_iter()
        .find(|&(_, c, d)| c == b')' && d == 1)
        .map(|(i, _, _)| i + 1)
}

fn strip_start_anchor(s: &str) -> Option<&str> {
    s.strip_prefix('^').or_else(|| s.strip_prefix("\\A"))
}

/// `re.fullmatch(py, name)` as a rule pattern.
fn conv_full(py: &str, field: &str, warnings: &mut Vec<String>) -> Result<Conv, ConvertError> {
    let whole = match rust_regex(py, field, warnings)? {
        Ok(r) => return Ok(Conv::Ok(P::Re(r))),
        Err(n) => n,
    };
    let alts = top_level_alternatives(py);
    let mut parts = Vec::new();
    for (s, e) in alts {
        match conv_full_alt(&py[s..e], field, warnings)? {
            Some(p) => parts.push(p),
            None => return Ok(Conv::NoDfa(whole)),
        }
    }
    Ok(Conv::Ok(P::or(parts)))
}

/// One top-level alternative of a full-match pattern (None: no exact form).
fn conv_full_alt(
    alt: &str,
    field: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<P>, ConvertError> {
    if alt == "(?!x)x" {
        return Ok(Some(P::False));
    }
    let body = strip_start_anchor(alt).unwrap_or(alt);
    if body.starts_with("(?!")
        && let Some(end) = group_end(body, 0)
    {
        let look = &body[3..end - 1];
        let rest = &body[end..];
        // `(?!A)` at the start: the name does not start with a match of A.
        let Ok(a) = rust_regex(look, field, warnings)? else {
            return Ok(None);
        };
        let not = if top_level_alternatives(look).len() > 1 {
            format!("(?:{a}).*")
        } else {
            format!("{a}.*")
        };
        let rest_p = if rest.is_empty() {
            Some(P::Re(".*".into()))
        } else {
            match conv_full(rest, field, warnings)? {
                Conv::Ok(p) => Some(p),
                Conv::NoDfa(_) => None,
            }
        };
        let Some(rest_p) = rest_p else {
            return Ok(None);
        };
        return Ok(Some(P::and(vec![rest_p, P::Not(Box::new(P::Re(not)))])));
    }
    Ok(match rust_regex(alt, field, warnings)? {
        Ok(r) => Some(P::Re(r)),
        Err(_) => None,
    })
}

/// `re.match(rf"(.*\.)?({key})$", name)` as a rule pattern.
fn conv_key(key: &str, field: &str, warnings: &mut Vec<String>) -> Result<Conv, ConvertError> {
    let whole = match rust_regex(key, field, warnings)? {
        Ok(r) => return Ok(Conv::Ok(P::Key(r))),
        Err(n) => n,
    };
    let mut parts = Vec::new();
    for (s, e) in top_level_alternatives(key) {
        let alt = &key[s..e];
        let p = if alt == "(?!x)x" {
            Some(P::False)
        } else if let Some(rest) = strip_start_anchor(alt) {
            // `^` forces the optional `(.*\.)?` prefix to be empty: a full match.
            match conv_full(rest, field, warnings)? {
                Conv::Ok(p) => Some(p),
                Conv::NoDfa(_) => None,
            }
        } else {
            match rust_regex(alt, field, warnings)? {
                Ok(r) => Some(P::Key(r)),
                Err(_) => None,
            }
        };
        match p {
            Some(p) => parts.push(p),
            None => return Ok(Conv::NoDfa(whole)),
        }
    }
    Ok(Conv::Ok(P::or(parts)))
}

// ------------------------------------------------------------------------------------------
// Values
// ------------------------------------------------------------------------------------------

fn number_text(n: &Number) -> Result<String, ConvertError> {
    if let Some(i) = n.as_i64() {
        return Ok(i.to_string());
    }
    if n.is_f64() {
        let x = n.as_f64().unwrap_or(f64::NAN);
        if !x.is_finite() {
            return Err(not_expressible(
                Some("lora_alpha"),
                None,
                format!("lora_alpha {n} is not finite"),
            ));
        }
        return Ok(if x.fract() == 0.0 && x.abs() < 1e15 {
            format!("{x:.1}")
        } else {
            format!("{x:?}")
        });
    }
    Err(not_expressible(
        None,
        None,
        format!("the number {n} is out of the 64-bit integer range"),
    ))
}

/// `field` / `key` name the value (`lora_alpha`, or `alpha_pattern` and its key).
fn alpha_text(n: &Number, field: &str, key: Option<&str>) -> Result<String, ConvertError> {
    if n.as_f64().is_none_or(|x| x <= 0.0) {
        let what = match key {
            Some(k) => format!("{field}[{k:?}]"),
            None => field.to_string(),
        };
        return Err(not_expressible(
            Some(field),
            key,
            format!("{what} = {n}: the rule language needs a positive `alpha`"),
        ));
    }
    number_text(n)
}

/// `field` / `key` name the value (`r`, or `rank_pattern` and its key).
fn rank_text(r: i64, field: &str, key: Option<&str>) -> Result<String, ConvertError> {
    if r <= 0 {
        let what = match key {
            Some(k) => format!("{field}[{k:?}]"),
            None => field.to_string(),
        };
        return Err(not_expressible(
            Some(field),
            key,
            format!(
                "{what} = {r}: PEFT raises `r should be a positive integer` for every module using it, and the rule language needs `rank >= 1`"
            ),
        ));
    }
    Ok(r.to_string())
}

// ------------------------------------------------------------------------------------------
// Conversion
// ------------------------------------------------------------------------------------------

struct Out {
    rules: Vec<String>,
}

impl Out {
    fn rule(&mut self, p: &P, action: &str) -> Result<(), ConvertError> {
        if *p == P::False {
            return Ok(());
        }
        self.rules.push(format!("{} {action}", p.print()?));
        Ok(())
    }
}

fn defaults_line(cfg: &LegacyConfig) -> Result<String, ConvertError> {
    let mut s = format!(
        "defaults {{ rank = {}, alpha = {}",
        rank_text(cfg.r, "r", None)?,
        alpha_text(&cfg.lora_alpha, "lora_alpha", None)?
    );
    if cfg.lora_dropout.as_f64() != Some(0.0) {
        let p = cfg.lora_dropout.as_f64().unwrap_or(f64::NAN);
        if !(0.0..1.0).contains(&p) {
            return Err(not_expressible(
                Some("lora_dropout"),
                None,
                format!(
                    "lora_dropout = {}: the rule language needs 0 <= dropout < 1",
                    cfg.lora_dropout
                ),
            ));
        }
        s.push_str(&format!(", dropout = {}", number_text(&cfg.lora_dropout)?));
    }
    match &cfg.init_lora_weights {
        serde_json::Value::Bool(true) => {}
        serde_json::Value::String(init) => {
            let text = crate::print::string(init).ok_or_else(|| {
                not_expressible(
                    Some("init_lora_weights"),
                    None,
                    format!(
                        "init_lora_weights = {init:?} contains a newline or both quote characters"
                    ),
                )
            })?;
            s.push_str(&format!(", init = {text}"));
        }
        other => s.push_str(&format!(", init = {other}")),
    }
    if cfg.use_dora {
        s.push_str(", use_dora = true");
    }
    if cfg.use_rslora {
        s.push_str(", use_rslora = true");
    }
    s.push_str(" }\n");
    Ok(s)
}

fn finish(defaults: String, rules: Vec<String>, warnings: Vec<String>) -> Converted {
    let mut text = defaults;
    if !rules.is_empty() {
        text.push('\n');
    }
    for r in &rules {
        text.push_str(r);
        text.push('\n');
    }
    Converted {
        text,
        warnings,
        rules: rules.len(),
    }
}

enum General {
    Done(Converted),
    /// Needs the model: (reason for the warning, error without a model).
    Fallback(String, ConvertError),
}

fn unrep(field: &str, pattern: &str, n: NoDfa) -> (String, ConvertError) {
    (
        format!(
            "`{field}`: {pattern:?} uses {} at byte {}",
            n.construct.name(),
            n.offset
        ),
        ConvertError::Unrepresentable {
            field: field.into(),
            pattern: pattern.into(),
            construct: n.construct.name(),
            byte_offset: n.offset,
        },
    )
}

/// Convert a legacy LoRA config into an equivalent `.lora` rule file.
///
/// With a model, PEFT's own errors are reproduced first ([`evaluate`]), model-dependent
/// targets (`"all-linear"`, null, the 20+ entry condensation) are written as PEFT expands
/// them, only the rank/alpha combinations that occur get a rule, and the result is checked
/// against [`evaluate`] on every module (falling back to an exact name list if needed).
///
/// # Errors
/// See [`ConvertError`].
pub fn convert(
    cfg: &LegacyConfig,
    model: Option<&ModelInfo>,
    limits: &ConvertLimits,
) -> Result<Converted, ConvertError> {
    cfg.validate()?;
    if let Some(tp) = &cfg.target_parameters
        && !tp.is_empty()
    {
        return Err(not_expressible(
            Some("target_parameters"),
            None,
            "`target_parameters` (LoRA on raw parameters) has no rule equivalent".into(),
        ));
    }
    let ev = match model {
        Some(m) => Some(evaluate(cfg, m)?),
        None => None,
    };
    let general = general(cfg, ev.as_ref(), limits)?;
    let (Some(model), Some(ev)) = (model, ev.as_ref()) else {
        return match general {
            General::Done(c) => Ok(c),
            General::Fallback(_, e) => Err(e),
        };
    };
    let reason = match general {
        General::Done(c) => match verify(&c.text, ev) {
            Ok(()) => return Ok(c),
            Err(m) => format!("the general rules differ from PEFT on this model ({m})"),
        },
        General::Fallback(reason, _) => reason,
    };
    let c = exact(cfg, model, ev, reason)?;
    verify(&c.text, ev).map_err(ConvertError::Internal)?;
    Ok(c)
}

fn general(
    cfg: &LegacyConfig,
    ev: Option<&Evaluation>,
    limits: &ConvertLimits,
) -> Result<General, ConvertError> {
    let mut warnings = Vec::new();
    let defaults = defaults_line(cfg)?;
    let mut out = Out { rules: Vec::new() };

    // 1. exclude_modules
    match &cfg.exclude_modules {
        Some(ExcludeModules::List(l)) if !l.is_empty() => {
            let p = P::or(l.iter().map(|e| P::Key(regex::escape(e))).collect());
            out.rule(&p, "exclude")?;
        }
        Some(ExcludeModules::Regex(s)) if !s.is_empty() => {
            match conv_full(s, "exclude_modules", &mut warnings)? {
                Conv::Ok(p) => out.rule(&p, "exclude")?,
                Conv::NoDfa(n) => {
                    let (w, e) = unrep("exclude_modules", s, n);
                    return Ok(General::Fallback(w, e));
                }
            }
        }
        _ => {}
    }
    // 2. modules_to_save guard
    if let Some(mts) = &cfg.modules_to_save {
        let mut ps = Vec::new();
        for m in mts {
            let simple =
                readable(m).filter(|r| !r.contains('|') && !m.contains('^') && !m.contains('$'));
            let p = match simple {
                Some(r) => {
                    let inner = if r
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
                    {
                        r
                    } else {
                        format!("(?:{r})")
                    };
                    P::Re(format!("(?:.*\\.)?{inner}(?:\\..*)?"))
                }
                None => {
                    let wrapper = super::legacy::modules_to_save_regex(m);
                    match rust_regex(&wrapper, "modules_to_save", &mut warnings)? {
                        Ok(r) => P::Re(format!("(?:{r}).*")),
                        Err(n) => {
                            let (w, e) = unrep("modules_to_save", m, n);
                            return Ok(General::Fallback(w, e));
                        }
                    }
                }
            };
            ps.push(p);
        }
        out.rule(&P::or(ps), "exclude")?;
    }

    // 3. targets
    let targets = match ev {
        Some(ev) => {
            if ev.effective_targets
                != cfg
                    .target_modules
                    .clone()
                    .unwrap_or(TargetModules::List(Vec::new()))
            {
                warnings.push(
                    "`target_modules` was expanded for this model (null / \"all-linear\" / 20+ entries condensed): the rules are exact for this model only"
                        .into(),
                );
            }
            ev.effective_targets.clone()
        }
        None => match &cfg.target_modules {
            None => {
                return Ok(General::Fallback(
                    String::new(),
                    ConvertError::NeedsModel(
                        "`target_modules` is null (architecture default)".into(),
                    ),
                ));
            }
            Some(TargetModules::Regex(s)) if s.eq_ignore_ascii_case("all-linear") => {
                return Ok(General::Fallback(
                    String::new(),
                    ConvertError::NeedsModel("`target_modules = \"all-linear\"`".into()),
                ));
            }
            Some(TargetModules::List(l)) if l.iter().collect::<BTreeSet<_>>().len() >= 20 => {
                return Ok(General::Fallback(
                    String::new(),
                    ConvertError::NeedsModel("`target_modules` has 20 or more entries (PEFT condenses them against the model)".into()),
                ));
            }
            Some(t) => t.clone(),
        },
    };
    let layer_filter = match &cfg.layers_to_transform {
        Some(super::legacy::LayersToTransform::List(v)) => !v.is_empty(),
        Some(_) => true,
        None => false,
    };
    if layer_filter {
        return Ok(General::Fallback(
            "`layers_to_transform` selects modules by layer index".into(),
            ConvertError::NeedsModel("`layers_to_transform` (layer filter)".into()),
        ));
    }
    let t = match &targets {
        TargetModules::List(l) => {
            let mut seen = BTreeSet::new();
            P::or(
                l.iter()
                    .filter(|e| seen.insert(e.as_str()))
                    .map(|e| P::Key(regex::escape(e)))
                    .collect(),
            )
        }
        TargetModules::Regex(s) => match conv_full(s, "target_modules", &mut warnings)? {
            Conv::Ok(p) => p,
            Conv::NoDfa(n) => {
                let (w, e) = unrep("target_modules", s, n);
                return Ok(General::Fallback(w, e));
            }
        },
    };
    if t == P::False {
        return Err(not_expressible(
            Some("target_modules"),
            None,
            "`target_modules` matches no module name: PEFT raises NoMatchingPeftModuleError".into(),
        ));
    }

    // 4. rank / alpha combinations
    let mut rk = Vec::new();
    for (k, _) in &cfg.rank_pattern {
        match conv_key(k, "rank_pattern", &mut warnings)? {
            Conv::Ok(p) => rk.push(p),
            Conv::NoDfa(n) => {
                let (w, e) = unrep("rank_pattern", k, n);
                return Ok(General::Fallback(w, e));
            }
        }
    }
    let mut ak = Vec::new();
    for (k, _) in &cfg.alpha_pattern {
        match conv_key(k, "alpha_pattern", &mut warnings)? {
            Conv::Ok(p) => ak.push(p),
            Conv::NoDfa(n) => {
                let (w, e) = unrep("alpha_pattern", k, n);
                return Ok(General::Fallback(w, e));
            }
        }
    }
    let (nr, na) = (rk.len(), ak.len());
    let same_keys = nr > 0
        && cfg
            .rank_pattern
            .iter()
            .map(|(k, _)| k)
            .eq(cfg.alpha_pattern.iter().map(|(k, _)| k));
    // combination (i, j), index nr / na = no key
    let combos: Vec<(usize, usize)> = match ev {
        Some(ev) => {
            let idx = |k: &Option<String>, keys: Vec<&String>, none: usize| {
                k.as_ref()
                    .and_then(|k| keys.iter().position(|x| *x == k))
                    .unwrap_or(none)
            };
            let set: BTreeSet<(usize, usize)> = ev
                .decisions
                .iter()
                .filter(|d| d.targeted)
                .map(|d| {
                    (
                        idx(
                            &d.rank_key,
                            cfg.rank_pattern.iter().map(|(k, _)| k).collect(),
                            nr,
                        ),
                        idx(
                            &d.alpha_key,
                            cfg.alpha_pattern.iter().map(|(k, _)| k).collect(),
                            na,
                        ),
                    )
                })
                .collect();
            set.into_iter().collect()
        }
        None if same_keys => (0..=nr).map(|i| (i, i)).collect(),
        None => {
            // A combination no module can have is left out: when rank key k
            // and alpha key l are the same text, a module matching one
            // matches the other, so (i, j) with alpha key j == rank key
            // k < i, or rank key i == alpha key l < j, never occurs, nor
            // (i, none) / (none, j) when key i / j has a twin.
            let text_r: Vec<&String> = cfg.rank_pattern.iter().map(|(k, _)| k).collect();
            let text_a: Vec<&String> = cfg.alpha_pattern.iter().map(|(k, _)| k).collect();
            // For each key of `of`, the index of its twin in `other`
            // (usize::MAX: none), plus one entry for "no key".
            let twins_of = |of: &[&String], other: &[&String]| -> Vec<usize> {
                of.iter()
                    .map(|k| other.iter().position(|x| x == k).unwrap_or(usize::MAX))
                    .chain([usize::MAX])
                    .collect()
            };
            let (twin_in_a, twin_in_r) = (twins_of(&text_r, &text_a), twins_of(&text_a, &text_r));
            let occurs = |&(i, j): &(usize, usize)| {
                let (ta, tr) = (twin_in_a[i], twin_in_r[j]);
                match (i < nr, j < na) {
                    (true, true) => !(tr < i || ta < j),
                    (true, false) => ta == usize::MAX,
                    (false, true) => tr == usize::MAX,
                    (false, false) => true,
                }
            };
            let all = (nr + 1) * (na + 1) - 1;
            let kept: Vec<(usize, usize)> = (0..=nr)
                .flat_map(|i| (0..=na).map(move |j| (i, j)))
                .filter(occurs)
                .take(limits.max_rules.saturating_add(2))
                .collect();
            if kept.len() > limits.max_rules + 1 {
                return Err(ConvertError::TooManyRules {
                    needed: all,
                    max: limits.max_rules,
                });
            }
            kept
        }
    };
    // (i, j) with rank key i and alpha key j the same text: one `key`.
    let twins =
        |i: usize, j: usize| i < nr && j < na && cfg.rank_pattern[i].0 == cfg.alpha_pattern[j].0;
    let combo_rules: Vec<&(usize, usize)> =
        combos.iter().filter(|(i, j)| *i < nr || *j < na).collect();
    if combo_rules.len() > limits.max_rules {
        return Err(ConvertError::TooManyRules {
            needed: combo_rules.len(),
            max: limits.max_rules,
        });
    }
    let guard = combo_rules.len() >= 2 && t.atoms() >= 2;
    if guard {
        out.rule(&P::Not(Box::new(t.clone())), "exclude")?;
    }
    for &&(i, j) in &combo_rules {
        let mut parts = Vec::new();
        if !guard {
            parts.push(t.clone());
        }
        let mut attrs = Vec::new();
        if i < nr {
            parts.push(rk[i].clone());
            attrs.push(format!(
                "rank = {}",
                rank_text(
                    cfg.rank_pattern[i].1,
                    "rank_pattern",
                    Some(&cfg.rank_pattern[i].0)
                )?
            ));
        }
        if j < na && !twins(i, j) {
            parts.push(ak[j].clone());
        }
        if j < na {
            attrs.push(format!(
                "alpha = {}",
                alpha_text(
                    &cfg.alpha_pattern[j].1,
                    "alpha_pattern",
                    Some(&cfg.alpha_pattern[j].0)
                )?
            ));
        }
        out.rule(&P::and(parts), &format!("{{ {} }}", attrs.join(", ")))?;
    }
    out.rule(&t, "{}")?;
    Ok(General::Done(finish(defaults, out.rules, warnings)))
}

/// The exact, model-specific file: PEFT's targeted names grouped by `(r, lora_alpha)`.
fn exact(
    cfg: &LegacyConfig,
    model: &ModelInfo,
    ev: &Evaluation,
    reason: String,
) -> Result<Converted, ConvertError> {
    let _ = model;
    let defaults = defaults_line(cfg)?;
    let mut groups: Vec<((u32, String), Vec<String>)> = Vec::new();
    for d in ev.decisions.iter().filter(|d| d.targeted) {
        let r =
            d.r.ok_or_else(|| ConvertError::Internal("targeted without r".into()))?;
        let a = d
            .lora_alpha
            .as_ref()
            .ok_or_else(|| ConvertError::Internal("targeted without alpha".into()))?;
        let key = (r, alpha_text(a, "lora_alpha", None)?);
        let name = regex::escape(&d.name);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => {
                if !v.contains(&name) {
                    v.push(name)
                }
            }
            None => groups.push((key, vec![name])),
        }
    }
    let def = (
        u32::try_from(cfg.r).unwrap_or(0),
        number_text(&cfg.lora_alpha)?,
    );
    // the default group last, as `{}`
    groups.sort_by_key(|(k, _)| *k == def);
    let mut rules = Vec::new();
    for ((r, a), names) in &groups {
        let mut atoms = Vec::new();
        let mut cur = String::new();
        for n in names {
            if !cur.is_empty() && cur.len() + n.len() > 30_000 {
                atoms.push(P::Re(std::mem::take(&mut cur)));
            }
            if !cur.is_empty() {
                cur.push('|');
            }
            cur.push_str(n);
        }
        if !cur.is_empty() {
            atoms.push(P::Re(cur));
        }
        let mut attrs = Vec::new();
        if i64::from(*r) != cfg.r {
            attrs.push(format!("rank = {r}"));
        }
        if *a != def.1 {
            attrs.push(format!("alpha = {a}"));
        }
        let action = if attrs.is_empty() {
            "{}".to_string()
        } else {
            format!("{{ {} }}", attrs.join(", "))
        };
        rules.push(format!("{} {action}", P::or(atoms).print()?));
    }
    let warnings = vec![format!(
        "{reason}: the rules list the exact module names PEFT targets, so they are exact for this model only"
    )];
    Ok(finish(defaults, rules, warnings))
}

/// Every module of the evaluation resolves to PEFT's answer with `text`.
fn verify(text: &str, ev: &Evaluation) -> Result<(), String> {
    verify_as(text, crate::Format::Lora, ev)
}

/// [`verify`] for a text in `format`.
fn verify_as(text: &str, format: crate::Format, ev: &Evaluation) -> Result<(), String> {
    let src = crate::Source::new("converted", text);
    let (rules, _) =
        crate::load(&src, format).map_err(|d| format!("the produced file does not load: {d}"))?;
    let m = crate::Matcher::new(rules).map_err(|e| e.to_string())?;
    for d in &ev.decisions {
        let r = m.resolve(&d.name);
        let adapted = r.outcome() == crate::Outcome::Adapt;
        if adapted != d.targeted {
            return Err(format!(
                "{}: targeted {adapted}, PEFT {}",
                d.name, d.targeted
            ));
        }
        if !d.targeted {
            continue;
        }
        let attrs = r
            .attrs()
            .ok_or_else(|| format!("{}: no attributes", d.name))?;
        let rank = attrs.get("rank").and_then(|v| match v {
            crate::ir::Value::Int(i) => Some(*i),
            _ => None,
        });
        if rank != d.r.map(i64::from) {
            return Err(format!("{}: rank {rank:?}, PEFT {:?}", d.name, d.r));
        }
        let alpha_ok = match (attrs.get("alpha"), &d.lora_alpha) {
            (Some(crate::ir::Value::Int(i)), Some(n)) => !n.is_f64() && n.as_i64() == Some(*i),
            (Some(crate::ir::Value::Float(x)), Some(n)) => n.is_f64() && n.as_f64() == Some(*x),
            _ => false,
        };
        if !alpha_ok {
            return Err(format!(
                "{}: alpha {:?}, PEFT {:?}",
                d.name,
                attrs.get("alpha"),
                d.lora_alpha
            ));
        }
        let s = r.scaling();
        match (s, d.scaling) {
            (Some(a), Some(b)) if (a - b).abs() <= 1e-12 * b.abs().max(1e-300) => {}
            _ => return Err(format!("{}: scaling {s:?}, PEFT {:?}", d.name, d.scaling)),
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// JSON dictionary form
// ------------------------------------------------------------------------------------------

fn literal_json(l: &crate::syntax::ast::Literal) -> Result<serde_json::Value, ConvertError> {
    use crate::syntax::ast::Literal;
    Ok(match l {
        Literal::Bool(b) => serde_json::Value::Bool(*b),
        Literal::Int(i) => serde_json::Value::from(*i),
        Literal::Float(x) => Number::from_f64(*x)
            .map(serde_json::Value::Number)
            .ok_or_else(|| ConvertError::Internal(format!("non-finite number {x}")))?,
        Literal::Str(s) => serde_json::Value::String(s.clone()),
        Literal::Null | Literal::Composite(_) => {
            return Err(ConvertError::Internal(format!(
                "unexpected value {}",
                l.kind()
            )));
        }
    })
}

/// The JSON key (`(?:.*\.)?(?:K)` rule) of a pattern, or the construct that has none.
fn json_key(p: &crate::syntax::ast::PatternExpr) -> Result<String, String> {
    use crate::syntax::ast::{PatternExpr, PatternKind};
    match p {
        PatternExpr::Atom(a) => match a.kind {
            PatternKind::Key => Ok(a.text.clone()),
            // `^` holds only at the start, so the optional `(?:.*\.)?` prefix must be
            // empty: `^(?:R)` as a key is the full-name regex R.
            PatternKind::Regex => Ok(format!("^(?:{})", a.text)),
            PatternKind::Path => Err("a path pattern".into()),
        },
        PatternExpr::Or(v, _) => Ok(v
            .iter()
            .map(|x| json_key(x).map(|k| format!("(?:{k})")))
            .collect::<Result<Vec<_>, _>>()?
            .join("|")),
        PatternExpr::Not(..) => Err("a negation `!`".into()),
        PatternExpr::And(..) => Err("a conjunction `&`".into()),
    }
}

/// Rewrites a `.lora` file made by [`convert`] in the JSON dictionary form
/// `{"version": 1, "defaults": {...}, "rules": {...}}`: every rule must be a `key` pattern,
/// an `re` pattern (written `^(?:R)`), or an `|` of those; `exclude` becomes `null`.
/// With `ev` (the model's PEFT evaluation) the result is checked on every module like
/// [`convert`]'s output; without, it is only checked to load.
///
/// Complexity: linear in the text, plus one compilation of the result.
///
/// # Errors
/// [`ConvertError::NeedsLora`] naming the first rule with `&`, `!` or a path pattern (or
/// two rules with the same key, which a JSON object cannot hold);
/// [`ConvertError::Internal`] if the text or the result does not load.
pub fn to_json_dictionary(lora: &str, ev: Option<&Evaluation>) -> Result<String, ConvertError> {
    let file = crate::syntax::parse(lora)
        .map_err(|d| ConvertError::Internal(format!("the .lora text does not parse: {d}")))?;
    if let Some(d) = file.declarations.first() {
        return Err(ConvertError::NeedsLora {
            rule: 0,
            pattern: d.name.node.clone(),
            reason: "an attribute declaration".into(),
        });
    }
    let mut defaults = serde_json::Map::new();
    for b in &file.defaults {
        for a in &b.assignments {
            defaults.insert(a.name.node.clone(), literal_json(&a.value.node)?);
        }
    }
    let mut rules = serde_json::Map::new();
    for (i, r) in file.rules.iter().enumerate() {
        let pattern = crate::print::pattern(&r.pattern);
        let key = json_key(&r.pattern).map_err(|reason| ConvertError::NeedsLora {
            rule: i,
            pattern: pattern.clone(),
            reason,
        })?;
        if rules.contains_key(&key) {
            return Err(ConvertError::NeedsLora {
                rule: i,
                pattern,
                reason: "the same key as an earlier rule".into(),
            });
        }
        let value = match &r.action {
            crate::syntax::ast::Action::Exclude(_) => serde_json::Value::Null,
            crate::syntax::ast::Action::Adapt(b) => {
                let mut o = serde_json::Map::new();
                for a in &b.assignments {
                    o.insert(a.name.node.clone(), literal_json(&a.value.node)?);
                }
                serde_json::Value::Object(o)
            }
        };
        rules.insert(key, value);
    }
    let mut env = serde_json::Map::new();
    env.insert("version".into(), 1.into());
    env.insert("defaults".into(), serde_json::Value::Object(defaults));
    env.insert("rules".into(), serde_json::Value::Object(rules));
    let mut text = serde_json::to_string_pretty(&serde_json::Value::Object(env))
        .map_err(|e| ConvertError::Internal(e.to_string()))?;
    text.push('\n');
    match ev {
        Some(ev) => verify_as(&text, crate::Format::Json, ev).map_err(ConvertError::Internal)?,
        None => {
            let src = crate::Source::new("converted.json", text.as_str());
            let (rules, _) = crate::load(&src, crate::Format::Json)
                .map_err(|d| ConvertError::Internal(format!("the JSON form does not load: {d}")))?;
            crate::Matcher::new(rules).map_err(|e| ConvertError::Internal(e.to_string()))?;
        }
    }
    Ok(text)
}
