//! The attribute schema: the single table of every attribute a rule may set,
//! with its type and allowed values. The checker and the spec both read it.
//!
//! Built-in attributes (PEFT 0.21.2 `LoraConfig` fields in brackets):
//!
//! | name | aliases | type | allowed values |
//! |---|---|---|---|
//! | `rank` | `r` | integer | >= 1 (`r`) |
//! | `alpha` | `lora_alpha` | number | > 0 (`lora_alpha`) |
//! | `dropout` | `lora_dropout` | number | 0 <= p < 1 (`lora_dropout`) |
//! | `init` | `init_lora_weights` | bool or string | `true`, `false`, `"gaussian"`, `"eva"`, `"olora"`, `"pissa"`, `"pissa_niter_<N>"`, `"corda"`, `"loftq"`, `"orthogonal"`, `"lora_ga"` (`init_lora_weights`) |
//! | `use_dora` | | bool | (`use_dora`) |
//! | `use_rslora` | | bool | (`use_rslora`: scaling = alpha / sqrt(rank)) |
//!
//! A file may declare more (`attribute NAME: TYPE [in RANGE]`), so that new
//! attributes and other PEFT methods need no code change.

use crate::ir::Value;
use crate::syntax::ast::TypeName;

/// The string values `init` accepts besides booleans and `pissa_niter_<N>`
/// (PEFT 0.21.2 `LoraConfig.init_lora_weights`).
pub const INIT_VALUES: &[&str] = &[
    "gaussian",
    "eva",
    "olora",
    "pissa",
    "corda",
    "loftq",
    "orthogonal",
    "lora_ga",
];

/// What values an attribute accepts beyond its type.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// Any value of the type.
    Any,
    /// An integer >= the bound.
    IntAtLeast(i64),
    /// A number > 0.
    Positive,
    /// A number p with 0 <= p < 1.
    Probability,
    /// A number in `lo..hi` or `lo..=hi`.
    Range {
        /// Lower bound, included.
        lo: f64,
        /// Upper bound.
        hi: f64,
        /// Whether `hi` is included.
        inclusive: bool,
    },
    /// One of these values.
    Choices(Vec<Value>),
    /// PEFT's `init_lora_weights`: a bool or one of [`INIT_VALUES`] or `pissa_niter_<N>`.
    Init,
}

/// One attribute of the schema.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrSpec {
    /// Canonical name (used in output: `rank`, `alpha`, ...).
    pub name: String,
    /// Other accepted spellings (PEFT's field names).
    pub aliases: Vec<String>,
    /// The value type. `init` is declared `String` but also takes booleans (see [`Check::Init`]).
    pub ty: TypeName,
    /// Allowed values.
    pub check: Check,
    /// True for attributes declared in the rule file.
    pub declared: bool,
}

/// The attribute table of one rule set: built-ins first, then declarations.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    attrs: Vec<AttrSpec>,
}

impl Default for Schema {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Schema {
    /// The built-in attributes (table in the module docs).
    pub fn builtin() -> Self {
        let a = |name: &str, aliases: &[&str], ty, check| AttrSpec {
            name: name.into(),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
            ty,
            check,
            declared: false,
        };
        Schema {
            attrs: vec![
                a("rank", &["r"], TypeName::Int, Check::IntAtLeast(1)),
                a("alpha", &["lora_alpha"], TypeName::Float, Check::Positive),
                a(
                    "dropout",
                    &["lora_dropout"],
                    TypeName::Float,
                    Check::Probability,
                ),
                a(
                    "init",
                    &["init_lora_weights"],
                    TypeName::String,
                    Check::Init,
                ),
                a("use_dora", &[], TypeName::Bool, Check::Any),
                a("use_rslora", &[], TypeName::Bool, Check::Any),
            ],
        }
    }

    /// Adds a declared attribute. Returns false (and adds nothing) when the
    /// name or an alias is already taken.
    pub fn declare(&mut self, spec: AttrSpec) -> bool {
        if self.lookup(&spec.name).is_some() {
            return false;
        }
        self.attrs.push(spec);
        true
    }

    /// The attribute named `name` (canonical or alias) and its position. O(attrs).
    pub fn lookup(&self, name: &str) -> Option<(usize, &AttrSpec)> {
        self.attrs
            .iter()
            .enumerate()
            .find(|(_, a)| a.name == name || a.aliases.iter().any(|x| x == name))
    }

    /// All attributes in table order.
    pub fn attrs(&self) -> &[AttrSpec] {
        &self.attrs
    }

    /// The known name closest to `name` (edit distance <= 2, or a prefix),
    /// for "did you mean" help.
    pub fn suggest(&self, name: &str) -> Option<&str> {
        let names = self.attrs.iter().flat_map(|a| {
            std::iter::once(a.name.as_str()).chain(a.aliases.iter().map(|s| s.as_str()))
        });
        closest(name, names)
    }
}

/// The candidate closest to `word` by Damerau-Levenshtein distance, if the
/// distance is at most 2 (or at most a third of the word for longer words).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(&word.to_lowercase(), &c.to_lowercase()),
                c,
            )
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Why a value does not fit an attribute, for the diagnostic.
#[derive(Debug, Clone, PartialEq)]
pub enum Mismatch {
    /// Wrong type: the expected type words.
    Type(&'static str),
    /// Right type, out of range: what is allowed.
    Range(String),
    /// An `init` string that is not known: the closest known value.
    UnknownInit(Option<&'static str>),
}

impl AttrSpec {
    /// Checks `v` against the type and constraint.
    ///
    /// Integers are accepted where a number is expected and keep their
    /// integer form (PEFT keeps `lora_alpha: 16` and `16.0` apart).
    ///
    /// # Errors
    /// The [`Mismatch`] to report.
    pub fn accept(&self, v: &Value) -> Result<(), Mismatch> {
        let type_ok = match (self.ty, v) {
            (TypeName::Int, Value::Int(_)) => true,
            (TypeName::Float, Value::Int(_) | Value::Float(_)) => true,
            (TypeName::Bool, Value::Bool(_)) => true,
            (TypeName::String, Value::Str(_)) => true,
            (TypeName::String, Value::Bool(_)) => self.check == Check::Init,
            _ => false,
        };
        if !type_ok {
            return Err(Mismatch::Type(match (self.ty, &self.check) {
                (TypeName::String, Check::Init) => "a boolean or a string",
                (TypeName::Int, _) => "an integer",
                (TypeName::Float, _) => "a number",
                (TypeName::Bool, _) => "`true` or `false`",
                (TypeName::String, _) => "a string",
            }));
        }
        let num = v.as_f64();
        match &self.check {
            Check::Any => Ok(()),
            Check::IntAtLeast(min) => match v {
                Value::Int(i) if i >= min => Ok(()),
                _ => Err(Mismatch::Range(format!("an integer >= {min}"))),
            },
            Check::Positive => match num {
                Some(x) if x > 0.0 => Ok(()),
                _ => Err(Mismatch::Range("a number > 0".into())),
            },
            Check::Probability => match num {
                Some(x) if (0.0..1.0).contains(&x) => Ok(()),
                _ => Err(Mismatch::Range("a number p with 0 <= p < 1".into())),
            },
            Check::Range { lo, hi, inclusive } => match num {
                Some(x) if x >= *lo && (x < *hi || (*inclusive && x == *hi)) => Ok(()),
                _ => Err(Mismatch::Range(format!(
                    "a value in {lo}..{}{hi}",
                    if *inclusive { "=" } else { "" }
                ))),
            },
            Check::Choices(c) => {
                if c.contains(v) {
                    Ok(())
                } else {
                    Err(Mismatch::Range(format!(
                        "one of {}",
                        c.iter()
                            .map(|x| format!("`{x}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )))
                }
            }
            Check::Init => match v {
                Value::Bool(_) => Ok(()),
                Value::Str(s) if INIT_VALUES.contains(&s.as_str()) => Ok(()),
                Value::Str(s)
                    if s.strip_prefix("pissa_niter_")
                        .is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n >= 1)) =>
                {
                    Ok(())
                }
                Value::Str(s) => Err(Mismatch::UnknownInit(
                    closest(s, INIT_VALUES.iter().copied().chain(["pissa_niter_4"])).and_then(
                        |c| {
                            INIT_VALUES
                                .iter()
                                .copied()
                                .chain(["pissa_niter_4"])
                                .find(|x| *x == c)
                        },
                    ),
                )),
                _ => Err(Mismatch::Type("a boolean or a string")),
            },
        }
    }
}
