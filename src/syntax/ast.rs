//! The untyped syntax tree shared by the `.lora` text form and the JSON
//! dictionary form. Every node keeps the [`Span`] it came from, so that the
//! checker and the formatter can point back at the source. No semantic check
//! happens here: that is [`crate::check`]'s job.

use crate::diag::Span;

/// A parsed rule file, before type checking.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuleFile {
    /// `attribute NAME: TYPE [in ...]` declarations, in file order.
    pub declarations: Vec<Declaration>,
    /// The `defaults { ... }` blocks, in file order (more than one is an error).
    pub defaults: Vec<Block>,
    /// The ordered rules. Index = rule number (0-based) = priority.
    pub rules: Vec<Rule>,
}

/// A declared attribute: `attribute corda_iters: int in 1..=64`.
#[derive(Debug, Clone, PartialEq)]
pub struct Declaration {
    /// The attribute name.
    pub name: Spanned<String>,
    /// The declared type.
    pub ty: Spanned<TypeName>,
    /// The optional constraint after `in`.
    pub constraint: Option<Spanned<Constraint>>,
    /// The whole declaration.
    pub span: Span,
}

/// A value type of the attribute schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TypeName {
    /// A signed 64-bit integer.
    Int,
    /// A number (integer or decimal); integers keep their integer form.
    Float,
    /// `true` or `false`.
    Bool,
    /// A string.
    String,
}

impl TypeName {
    /// The keyword (`int`, `float`, `bool`, `string`).
    pub fn as_str(self) -> &'static str {
        match self {
            TypeName::Int => "int",
            TypeName::Float => "float",
            TypeName::Bool => "bool",
            TypeName::String => "string",
        }
    }
}

/// What values a declared attribute accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum Constraint {
    /// `lo..hi` (hi excluded) or `lo..=hi`.
    Range {
        /// Lower bound (included).
        lo: f64,
        /// Upper bound.
        hi: f64,
        /// Whether `hi` is included.
        inclusive: bool,
    },
    /// `["a", "b"]`: one of the listed values.
    Choices(Vec<Spanned<Literal>>),
}

/// A `{ name = value, ... }` block (rule overrides or defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// The assignments in order.
    pub assignments: Vec<Assignment>,
    /// The block, braces included.
    pub span: Span,
}

/// `name = value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// Attribute name as written (maybe an alias such as `r`).
    pub name: Spanned<String>,
    /// The value as written.
    pub value: Spanned<Literal>,
}

/// A literal value as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `true` / `false`.
    Bool(bool),
    /// An integer literal (no `.`, no exponent).
    Int(i64),
    /// A decimal literal (`0.5`, `1e-3`, `16.0`).
    Float(f64),
    /// A string.
    Str(String),
    /// JSON `null` (only the JSON forms can write it).
    Null,
    /// A JSON array or object where a scalar was expected (kept so the
    /// checker can report it at its place).
    Composite(&'static str),
}

impl Literal {
    /// A short type word for messages (`integer`, `string`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Literal::Bool(_) => "boolean",
            Literal::Int(_) => "integer",
            Literal::Float(_) => "number",
            Literal::Str(_) => "string",
            Literal::Null => "null",
            Literal::Composite(k) => k,
        }
    }
}

/// One rule: a pattern expression and an action.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Which names the rule matches.
    pub pattern: PatternExpr,
    /// What happens to them.
    pub action: Action,
    /// The whole rule.
    pub span: Span,
}

/// A rule's action.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Adapt, with these overrides (possibly none).
    Adapt(Block),
    /// `exclude` (JSON: `null`): the module is not adapted.
    Exclude(Span),
}

/// A boolean combination of pattern atoms.
#[derive(Debug, Clone, PartialEq)]
pub enum PatternExpr {
    /// One pattern.
    Atom(PatternAtom),
    /// `!e`.
    Not(Box<PatternExpr>, Span),
    /// `a & b & ...` (two or more).
    And(Vec<PatternExpr>, Span),
    /// `a | b | ...` (two or more).
    Or(Vec<PatternExpr>, Span),
}

impl PatternExpr {
    /// The source span of the whole expression.
    pub fn span(&self) -> Span {
        match self {
            PatternExpr::Atom(a) => a.span,
            PatternExpr::Not(_, s) | PatternExpr::And(_, s) | PatternExpr::Or(_, s) => *s,
        }
    }
}

/// The three ways to write one pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatternKind {
    /// A dotted path pattern (`model.layers.{0..7}.*_proj`); the default for a bare string.
    Path,
    /// `re "..."`: a regex that must match the whole name (PEFT's string `target_modules` rule).
    Regex,
    /// `key "..."`: a regex K that must fully match the name or a part after a `.`,
    /// i.e. the name fully matches `(?:.*\.)?(?:K)` (PEFT's `rank_pattern` key rule;
    /// every JSON dictionary key).
    Key,
}

impl PatternKind {
    /// The keyword (`path`, `re`, `key`).
    pub fn keyword(self) -> &'static str {
        match self {
            PatternKind::Path => "path",
            PatternKind::Regex => "re",
            PatternKind::Key => "key",
        }
    }
}

/// One pattern as written.
#[derive(Debug, Clone, PartialEq)]
pub struct PatternAtom {
    /// How to read `text`.
    pub kind: PatternKind,
    /// The pattern text (string content, without quotes).
    pub text: String,
    /// The span of the text inside the quotes when offsets map one-to-one
    /// (`.lora` raw strings), else the span of the whole string or key.
    pub text_span: Span,
    /// Whether `text_span` maps byte-for-byte onto `text`.
    pub exact_offsets: bool,
    /// The whole atom (keyword and quotes included).
    pub span: Span,
}

/// A value with the span it was written at.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    /// The value.
    pub node: T,
    /// Where.
    pub span: Span,
}

impl<T> Spanned<T> {
    /// Pairs `node` with `span`.
    pub fn new(node: T, span: Span) -> Self {
        Spanned { node, span }
    }
}

impl RuleFile {
    /// A copy with every span set to `0..0`, for comparing trees that came
    /// from different texts (the parse∘print round trip).
    pub fn without_spans(&self) -> RuleFile {
        let z = Span::default();
        let block = |b: &Block| Block {
            assignments: b
                .assignments
                .iter()
                .map(|a| Assignment {
                    name: Spanned::new(a.name.node.clone(), z),
                    value: Spanned::new(a.value.node.clone(), z),
                })
                .collect(),
            span: z,
        };
        fn expr(e: &PatternExpr) -> PatternExpr {
            let z = Span::default();
            match e {
                PatternExpr::Atom(a) => PatternExpr::Atom(PatternAtom {
                    kind: a.kind,
                    text: a.text.clone(),
                    text_span: z,
                    exact_offsets: false,
                    span: z,
                }),
                PatternExpr::Not(x, _) => PatternExpr::Not(Box::new(expr(x)), z),
                PatternExpr::And(xs, _) => PatternExpr::And(xs.iter().map(expr).collect(), z),
                PatternExpr::Or(xs, _) => PatternExpr::Or(xs.iter().map(expr).collect(), z),
            }
        }
        RuleFile {
            declarations: self
                .declarations
                .iter()
                .map(|d| Declaration {
                    name: Spanned::new(d.name.node.clone(), z),
                    ty: Spanned::new(d.ty.node, z),
                    constraint: d.constraint.as_ref().map(|c| {
                        Spanned::new(
                            match &c.node {
                                Constraint::Choices(v) => Constraint::Choices(
                                    v.iter().map(|x| Spanned::new(x.node.clone(), z)).collect(),
                                ),
                                other => other.clone(),
                            },
                            z,
                        )
                    }),
                    span: z,
                })
                .collect(),
            defaults: self.defaults.iter().map(block).collect(),
            rules: self
                .rules
                .iter()
                .map(|r| Rule {
                    pattern: expr(&r.pattern),
                    action: match &r.action {
                        Action::Adapt(b) => Action::Adapt(block(b)),
                        Action::Exclude(_) => Action::Exclude(z),
                    },
                    span: z,
                })
                .collect(),
        }
    }
}
