//! The JSON dictionary form → [`crate::syntax::ast::RuleFile`].
//!
//! ```json
//! {".*_proj": null, "down_proj": {"rank": 10, "init": "eva"}, "gate_proj": {"rank": 20, "alpha": 5}}
//! ```
//!
//! Keys are patterns read with the key rule ([`PatternKind::Key`]: the name
//! fully matches `(?:.*\.)?(?:K)`, PEFT 0.21.2 `get_pattern_key`), values are
//! override objects or `null` (exclude), in file order. The envelope
//! `{"version": 1, "defaults": {...}, "attributes": {...}, "rules": {...}}` is
//! recognised by a numeric top-level `version` (a rule's value is never a
//! number, so the two forms cannot be confused).
//!
//! Syntax is validated by serde_json (strict JSON, depth limit), then the
//! spanned tree is read with jsonc-parser so that every error points at the
//! line:col of its key or value, and duplicate keys — which JSON parsers
//! silently collapse — are errors.

use jsonc_parser::ast::{ObjectProp, Value};

use super::ast::{
    Action, Assignment, Block, Constraint, Declaration, Literal, PatternAtom, PatternExpr,
    PatternKind, Rule, RuleFile, Spanned, TypeName,
};
use crate::diag::{Diagnostic, Diagnostics, Span, code};

fn range_span(r: jsonc_parser::common::Range) -> Span {
    Span::new(r.start, r.end)
}

/// A spanned, order-preserving JSON tree, checked for strict syntax and for
/// duplicate keys at every level.
///
/// # Errors
/// `L030` for a syntax error (located by serde_json's line:col), `L004` for
/// nesting deeper than [`crate::limits::MAX_NESTING`], `L031` for each
/// duplicate key (pointing at the second one, with the first labelled).
pub fn parse_value(text: &str) -> Result<Value<'_>, Diagnostics> {
    let mut diags = Diagnostics::new();
    if let Some(pos) = crate::limits::excessive_nesting(text, b'[', b']') {
        diags.push(
            Diagnostic::error(
                code::LIMIT,
                format!(
                    "JSON nested deeper than {} levels",
                    crate::limits::MAX_NESTING
                ),
            )
            .with_span(Span::new(pos, pos + 1), "too deep here")
            .with_help(
                "a rule dictionary needs at most four levels: envelope, rules, attributes, values",
            ),
        );
        return Err(diags);
    }
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        let offset = offset_of_line_col(text, e.line(), e.column());
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        diags.push(
            Diagnostic::error(code::JSON_SYNTAX, format!("invalid JSON: {msg}"))
                .with_span(Span::new(offset, offset), "here")
                .with_help("the file must be one JSON object; check quotes, commas and braces near this point"),
        );
        return Err(diags);
    }
    let opts = jsonc_parser::ParseOptions {
        allow_comments: false,
        allow_loose_object_property_names: false,
        allow_trailing_commas: false,
    };
    let value = match jsonc_parser::parse_to_ast(text, &Default::default(), &opts) {
        Ok(r) => r.value,
        Err(e) => {
            diags.push(
                Diagnostic::error(code::JSON_SYNTAX, format!("invalid JSON: {}", e.kind()))
                    .with_span(range_span(e.range()), "here"),
            );
            return Err(diags);
        }
    };
    let Some(value) = value else {
        diags.push(
            Diagnostic::error(code::EMPTY, "the file is empty")
                .with_span(Span::new(0, 0), "expected a JSON object"),
        );
        return Err(diags);
    };
    check_duplicates(&value, &mut diags);
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(value)
    }
}

fn check_duplicates(v: &Value<'_>, diags: &mut Diagnostics) {
    match v {
        Value::Object(o) => {
            let mut seen: std::collections::HashMap<&str, &ObjectProp<'_>> = Default::default();
            for p in &o.properties {
                let name = p.name.as_str();
                if let Some(first) = seen.get(name) {
                    diags.push(
                        Diagnostic::error(code::JSON_DUPLICATE_KEY, format!("duplicate key `{name}`"))
                            .with_span(range_span(p.name.range()), "second occurrence")
                            .with_label(range_span(first.name.range()), "first occurrence")
                            .with_help("JSON readers keep only one of the two silently; merge them or delete one"),
                    );
                } else {
                    seen.insert(name, p);
                }
                check_duplicates(&p.value, diags);
            }
        }
        Value::Array(a) => a.elements.iter().for_each(|e| check_duplicates(e, diags)),
        _ => {}
    }
}

trait NameRange {
    fn range(&self) -> jsonc_parser::common::Range;
}
impl NameRange for jsonc_parser::ast::ObjectPropName<'_> {
    fn range(&self) -> jsonc_parser::common::Range {
        match self {
            jsonc_parser::ast::ObjectPropName::String(s) => s.range,
            jsonc_parser::ast::ObjectPropName::Word(w) => w.range,
        }
    }
}

/// Byte offset of a 1-based line and column (serde_json's convention).
pub fn offset_of_line_col(text: &str, line: usize, column: usize) -> usize {
    let mut off = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            let col = column.saturating_sub(1);
            return off + l.char_indices().nth(col).map_or(l.len(), |(b, _)| b);
        }
        off += l.len();
    }
    text.len()
}

/// The span of a JSON value.
pub fn value_span(v: &Value<'_>) -> Span {
    use jsonc_parser::common::Ranged;
    range_span(v.range())
}

/// A scalar JSON value as a [`Literal`]; integers stay integers.
pub fn literal(v: &Value<'_>) -> Literal {
    match v {
        Value::BooleanLit(b) => Literal::Bool(b.value),
        Value::NullKeyword(_) => Literal::Null,
        Value::StringLit(s) => Literal::Str(s.value.to_string()),
        Value::NumberLit(n) => {
            let t = n.value;
            if !t.contains(['.', 'e', 'E']) {
                // An integer past i64 is not silently read as a float.
                return match t.parse::<i64>() {
                    Ok(i) => Literal::Int(i),
                    Err(_) => Literal::Composite("an integer too large for 64 bits"),
                };
            }
            match t.parse::<f64>() {
                Ok(f) if f.is_finite() => Literal::Float(f),
                _ => Literal::Composite("a number too large to be finite"),
            }
        }
        Value::Array(_) => Literal::Composite("array"),
        Value::Object(_) => Literal::Composite("object"),
    }
}

/// Reads a JSON dictionary (or envelope) into the syntax tree.
///
/// # Errors
/// Every problem at once: JSON syntax (`L030`), duplicate keys (`L031`),
/// values of the wrong shape (`L032`: a rule value that is not an object or
/// `null`, an envelope field of the wrong type, an unknown envelope field).
pub fn parse(text: &str) -> Result<RuleFile, Diagnostics> {
    let root = parse_value(text)?;
    let mut diags = Diagnostics::new();
    let mut out = RuleFile::default();
    let Value::Object(obj) = &root else {
        diags.push(
            Diagnostic::error(code::JSON_SHAPE, "a rule dictionary must be a JSON object")
                .with_span(value_span(&root), "not an object")
                .with_help("write `{\"<pattern>\": {\"rank\": 8}, \"<pattern>\": null}`"),
        );
        return Err(diags);
    };
    let is_envelope = obj
        .properties
        .iter()
        .any(|p| p.name.as_str() == "version" && matches!(p.value, Value::NumberLit(_)));
    if !is_envelope {
        lower_rules(obj, &mut out, &mut diags);
    } else {
        for p in &obj.properties {
            let span = range_span(p.name.range());
            match p.name.as_str() {
                "version" => {
                    if !matches!(literal(&p.value), Literal::Int(1)) {
                        diags.push(
                            Diagnostic::error(code::JSON_SHAPE, "unsupported dictionary version")
                                .with_span(value_span(&p.value), "expected 1"),
                        );
                    }
                }
                "defaults" => match &p.value {
                    Value::Object(o) => out.defaults.push(lower_block(o, &mut diags)),
                    v => diags.push(shape(v, "`defaults` must be an object of attributes")),
                },
                "rules" => match &p.value {
                    Value::Object(o) => lower_rules(o, &mut out, &mut diags),
                    v => diags.push(shape(
                        v,
                        "`rules` must be an object of `\"<pattern>\": {...} | null`",
                    )),
                },
                "attributes" => match &p.value {
                    Value::Object(o) => lower_declarations(o, &mut out, &mut diags),
                    v => diags.push(shape(v, "`attributes` must be an object of declarations")),
                },
                other => diags.push(
                    Diagnostic::error(
                        code::JSON_SHAPE,
                        format!("unknown envelope field `{other}`"),
                    )
                    .with_span(
                        span,
                        "not one of `version`, `defaults`, `attributes`, `rules`",
                    )
                    .with_help("remove it, or fix its spelling; a dictionary with a numeric `version` is an envelope"),
                ),
            }
        }
    }
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(out)
    }
}

fn shape(v: &Value<'_>, msg: &str) -> Diagnostic {
    Diagnostic::error(code::JSON_SHAPE, msg.to_string())
        .with_span(value_span(v), format!("found {}", literal(v).kind()))
}

fn lower_block(o: &jsonc_parser::ast::Object<'_>, _diags: &mut Diagnostics) -> Block {
    Block {
        assignments: o
            .properties
            .iter()
            .map(|p| Assignment {
                name: Spanned::new(p.name.as_str().to_string(), range_span(p.name.range())),
                value: Spanned::new(literal(&p.value), value_span(&p.value)),
            })
            .collect(),
        span: range_span(o.range),
    }
}

fn lower_rules(o: &jsonc_parser::ast::Object<'_>, out: &mut RuleFile, diags: &mut Diagnostics) {
    for p in &o.properties {
        let key_span = range_span(p.name.range());
        let key = p.name.as_str().to_string();
        // Offsets map one-to-one when the key has no escapes.
        let raw = &key_span;
        let exact = raw.len() == key.len() + 2;
        let text_span = if exact {
            Span::new(raw.start + 1, raw.end - 1)
        } else {
            key_span
        };
        let action = match &p.value {
            Value::NullKeyword(n) => Action::Exclude(range_span(n.range)),
            Value::Object(obj) => Action::Adapt(lower_block(obj, diags)),
            v => {
                diags.push(
                    shape(v, &format!("the value of `{key}` must be an object of attributes or `null`"))
                        .with_help("write `{\"rank\": 8}` to adapt with overrides, `{}` to adapt with the defaults, `null` to exclude"),
                );
                continue;
            }
        };
        out.rules.push(Rule {
            pattern: PatternExpr::Atom(PatternAtom {
                kind: PatternKind::Key,
                text: key,
                text_span,
                exact_offsets: exact,
                span: key_span,
            }),
            action,
            span: range_span(p.range),
        });
    }
}

fn lower_declarations(
    o: &jsonc_parser::ast::Object<'_>,
    out: &mut RuleFile,
    diags: &mut Diagnostics,
) {
    for p in &o.properties {
        let name = Spanned::new(p.name.as_str().to_string(), range_span(p.name.range()));
        let Value::Object(d) = &p.value else {
            diags.push(shape(&p.value, "an attribute declaration must be an object like `{\"type\": \"int\", \"range\": [1, 64]}`"));
            continue;
        };
        let mut ty = None;
        let mut constraint = None;
        for f in &d.properties {
            match (f.name.as_str(), &f.value) {
                ("type", Value::StringLit(s)) => {
                    let t = match s.value.as_ref() {
                        "int" => Some(TypeName::Int),
                        "float" => Some(TypeName::Float),
                        "bool" => Some(TypeName::Bool),
                        "string" => Some(TypeName::String),
                        _ => None,
                    };
                    match t {
                        Some(t) => ty = Some(Spanned::new(t, range_span(s.range))),
                        None => diags.push(
                            Diagnostic::error(
                                code::BAD_DECLARATION,
                                format!("unknown type `{}`", s.value),
                            )
                            .with_span(range_span(s.range), "not a type")
                            .with_help("use `int`, `float`, `bool` or `string`"),
                        ),
                    }
                }
                ("range", Value::Array(a)) => {
                    let nums: Vec<f64> = a
                        .elements
                        .iter()
                        .filter_map(|e| match literal(e) {
                            Literal::Int(i) => Some(i as f64),
                            Literal::Float(f) => Some(f),
                            _ => None,
                        })
                        .collect();
                    if nums.len() == 2 && a.elements.len() == 2 {
                        constraint = Some(Spanned::new(
                            Constraint::Range {
                                lo: nums[0],
                                hi: nums[1],
                                inclusive: true,
                            },
                            range_span(a.range),
                        ));
                    } else {
                        diags.push(
                            Diagnostic::error(
                                code::BAD_DECLARATION,
                                "`range` must be `[min, max]` (both included)",
                            )
                            .with_span(range_span(a.range), "expected two numbers"),
                        );
                    }
                }
                ("choices", Value::Array(a)) => {
                    constraint = Some(Spanned::new(
                        Constraint::Choices(
                            a.elements
                                .iter()
                                .map(|e| Spanned::new(literal(e), value_span(e)))
                                .collect(),
                        ),
                        range_span(a.range),
                    ));
                }
                (other, v) => diags.push(
                    Diagnostic::error(
                        code::BAD_DECLARATION,
                        format!("unexpected declaration field `{other}`"),
                    )
                    .with_span(value_span(v), "here")
                    .with_help("fields: `type` (string), `range` ([min, max]), `choices` (array)"),
                ),
            }
        }
        match ty {
            Some(ty) => out.declarations.push(Declaration {
                name,
                ty,
                constraint,
                span: range_span(p.range),
            }),
            None => diags.push(
                Diagnostic::error(
                    code::BAD_DECLARATION,
                    format!("attribute `{}` has no `type`", p.name.as_str()),
                )
                .with_span(range_span(p.name.range()), "declared here"),
            ),
        }
    }
}
