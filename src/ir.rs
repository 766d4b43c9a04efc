//! The checked rule set: an ordered list of rules with typed, effective
//! attributes. Built only by [`crate::check`]; immutable afterwards.

use std::fmt;
use std::sync::OnceLock;

use regex_syntax::hir::Hir;

use crate::diag::{Source, Span};
use crate::schema::Schema;
use crate::syntax::ast::PatternKind;

/// A typed attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An integer (kept apart from floats: PEFT reports `16` and `16.0` differently).
    Int(i64),
    /// A number with a fractional part or exponent as written.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(String),
}

impl Value {
    /// The numeric value of an `Int` or `Float`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// As JSON (integers stay integers; a non-finite float becomes `null`).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Str(s) => serde_json::Value::String(s.clone()),
        }
    }
}

impl fmt::Display for Value {
    /// `.lora` literal syntax: `16`, `16.0`, `true`, `"eva"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => {
                if x.fract() == 0.0 && x.abs() < 1e15 {
                    write!(f, "{x:.1}")
                } else if x.fract() == 0.0 {
                    // `{}` would print an integer literal for 1e300.
                    write!(f, "{x:e}")
                } else {
                    write!(f, "{x}")
                }
            }
            Value::Bool(b) => write!(f, "{b}"),
            Value::Str(s) => {
                if s.contains('"') {
                    write!(f, "'{s}'")
                } else {
                    write!(f, "\"{s}\"")
                }
            }
        }
    }
}

/// A set of attribute values by canonical name, in schema order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Attrs {
    entries: Vec<(String, Value)>,
}

impl Attrs {
    /// The value of `name` (canonical name). O(number of attributes).
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// `(name, value)` pairs in schema order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// Number of attributes set.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when none is set.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sets `name` to `value`, keeping the order of `schema`.
    pub fn set(&mut self, schema: &Schema, name: &str, value: Value) {
        if let Some(e) = self.entries.iter_mut().find(|(n, _)| n == name) {
            e.1 = value;
            return;
        }
        let pos = |n: &str| schema.lookup(n).map_or(usize::MAX, |(i, _)| i);
        let p = pos(name);
        let at = self
            .entries
            .iter()
            .position(|(n, _)| pos(n) > p)
            .unwrap_or(self.entries.len());
        self.entries.insert(at, (name.to_string(), value));
    }

    /// `self` overlaid by `over` (values of `over` win).
    pub fn overlay(&self, schema: &Schema, over: &Attrs) -> Attrs {
        let mut out = self.clone();
        for (n, v) in over.iter() {
            out.set(schema, n, v.clone());
        }
        out
    }

    /// LoRA scaling of these attributes, when `rank` and `alpha` are both
    /// set: `alpha / rank`, or `alpha / sqrt(rank)` when `use_rslora` is true
    /// (PEFT 0.21.2 `LoraLayer.update_layer`).
    pub fn scaling(&self) -> Option<f64> {
        let r = self.get("rank")?.as_f64()?;
        let a = self.get("alpha")?.as_f64()?;
        if matches!(self.get("use_rslora"), Some(Value::Bool(true))) {
            Some(a / r.sqrt())
        } else {
            Some(a / r)
        }
    }

    /// As a JSON object with canonical names, in schema order.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.entries
                .iter()
                .map(|(n, v)| (n.clone(), v.to_json()))
                .collect(),
        )
    }
}

/// What a rule does to the names it decides.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Adapt, with these overrides (effective values are in [`Rule::attrs`]).
    Adapt(Attrs),
    /// Do not adapt.
    Exclude,
}

/// A boolean pattern over atoms ([`RuleSet::atoms`] indices).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// One atom.
    Atom(usize),
    /// Negation.
    Not(Box<Expr>),
    /// Conjunction.
    And(Vec<Expr>),
    /// Disjunction.
    Or(Vec<Expr>),
}

impl Expr {
    /// Evaluates with `matched(atom)` telling whether an atom matches.
    pub fn eval(&self, matched: &mut impl FnMut(usize) -> bool) -> bool {
        match self {
            Expr::Atom(a) => matched(*a),
            Expr::Not(e) => !e.eval(matched),
            Expr::And(es) => es.iter().all(|e| e.eval(matched)),
            Expr::Or(es) => es.iter().any(|e| e.eval(matched)),
        }
    }

    /// The atoms this expression mentions.
    pub fn atoms(&self, out: &mut Vec<usize>) {
        match self {
            Expr::Atom(a) => out.push(*a),
            Expr::Not(e) => e.atoms(out),
            Expr::And(es) | Expr::Or(es) => es.iter().for_each(|e| e.atoms(out)),
        }
    }
}

/// One pattern of one rule, compiled to a regex HIR.
#[derive(Debug, Clone)]
pub struct Atom {
    /// How the text was read.
    pub kind: PatternKind,
    /// The pattern as written.
    pub text: String,
    /// The regex (Rust syntax) that the name, or for [`PatternKind::Key`] a
    /// dot-aligned suffix of it, must match entirely.
    pub regex: String,
    /// `regex` parsed; empty until [`Atom::hir`] is first called when the
    /// regex is *plain* (letters, digits, `_`, `-`, `.`, `\.`), which cannot
    /// fail to parse.
    hir: OnceLock<Hir>,
    /// The rule this atom belongs to.
    pub rule: usize,
    /// Where it was written.
    pub span: Option<Span>,
}

impl Atom {
    /// An atom of rule `rule`. `hir` is `regex` parsed (Unicode mode, `.`
    /// excludes `\n`), or `None` to parse it on first use: for a plain
    /// regex, whose HIR is built directly (EVA's 45,032 keys, most of which
    /// go to the literal key table and never need one: building and freeing
    /// their HIRs took about half of loading and checking them).
    pub fn new(
        kind: PatternKind,
        text: String,
        regex: String,
        hir: Option<Hir>,
        rule: usize,
        span: Option<Span>,
    ) -> Atom {
        Atom {
            kind,
            text,
            regex,
            hir: hir.map(OnceLock::from).unwrap_or_default(),
            rule,
            span,
        }
    }

    /// `regex` parsed (Unicode mode, `.` excludes `\n`), built on the first
    /// call when [`Atom::new`] was given none: O(len(regex)) once, then
    /// cached (thread-safe). A regex that does not parse, which
    /// [`crate::check`] never lets through, gives `Hir::fail()` (matches
    /// nothing).
    pub fn hir(&self) -> &Hir {
        self.hir.get_or_init(|| {
            crate::pattern::parse_regex(&self.regex).unwrap_or_else(|_| Hir::fail())
        })
    }
}

/// One checked rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Position in the rule set = priority (0 is tried first).
    pub index: usize,
    /// The pattern.
    pub expr: Expr,
    /// The pattern as `.lora` text (for messages and `explain`).
    pub pattern_text: String,
    /// The action as written.
    pub action: Action,
    /// Effective attributes (defaults overlaid by the overrides) when adapting.
    pub attrs: Option<Attrs>,
    /// `attrs.scaling()`, precomputed.
    pub scaling: Option<f64>,
    /// The whole rule in its source.
    pub span: Option<Span>,
}

/// A checked, ordered rule set. First match wins.
#[derive(Debug, Clone)]
pub struct RuleSet {
    pub(crate) rules: Vec<Rule>,
    pub(crate) atoms: Vec<Atom>,
    pub(crate) defaults: Attrs,
    pub(crate) schema: Schema,
    pub(crate) source: Option<Source>,
}

impl RuleSet {
    /// The rules in priority order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
    /// Every atom of every rule.
    pub fn atoms(&self) -> &[Atom] {
        &self.atoms
    }
    /// The defaults block.
    pub fn defaults(&self) -> &Attrs {
        &self.defaults
    }
    /// The attribute schema (built-ins and declarations).
    pub fn schema(&self) -> &Schema {
        &self.schema
    }
    /// The source the rules came from, if any.
    pub fn source(&self) -> Option<&Source> {
        self.source.as_ref()
    }
    /// `file:line:col` of rule `i`, when known.
    pub fn location(&self, i: usize) -> Option<String> {
        let (src, span) = (self.source.as_ref()?, self.rules.get(i)?.span?);
        let (l, c) = src.line_col(span.start);
        Some(format!("{}:{l}:{c}", src.name()))
    }
}
