//! Step two: the syntax tree → the checked [`RuleSet`]. The only way to
//! build a rule set. Collects every error (and the warnings) in one pass.

use crate::diag::{Diagnostic, Diagnostics, Source, Span, code};
use crate::ir::{Action, Atom, Attrs, Expr, Rule, RuleSet, Value};
use crate::schema::{AttrSpec, Check, Mismatch, Schema};
use crate::syntax::ast::{self, Constraint, Literal, PatternExpr, TypeName};

/// Type-checks a parsed file against the schema (built-ins plus the file's
/// declarations), compiles every pattern, and computes each rule's effective
/// attributes (defaults overlaid by the rule's overrides).
///
/// Returns the rule set and the warnings.
///
/// # Errors
/// All errors found (unknown attributes with a did-you-mean, wrong types,
/// out-of-range values, duplicate attributes, bad patterns, more than
/// [`crate::limits::MAX_RULES`] rules), each located in `source`.
pub fn check(file: &ast::RuleFile, source: &Source) -> Result<(RuleSet, Diagnostics), Diagnostics> {
    let mut diags = Diagnostics::new();
    if file.rules.len() > crate::limits::MAX_RULES {
        diags.push(Diagnostic::error(
            code::LIMIT,
            format!(
                "{} rules, more than the limit of {}",
                file.rules.len(),
                crate::limits::MAX_RULES
            ),
        ));
    }
    let mut schema = Schema::builtin();
    for d in &file.declarations {
        declare(&mut schema, d, &mut diags);
    }
    if let Some(extra) = file.defaults.get(1) {
        diags.push(
            Diagnostic::error(code::SYNTAX, "more than one `defaults` block")
                .with_span(extra.span, "second block")
                .with_label(file.defaults[0].span, "first block")
                .with_help("merge them into one"),
        );
    }
    let defaults = file
        .defaults
        .first()
        .map(|b| typed_block(&schema, b, &mut diags))
        .unwrap_or_default();
    let mut rules = Vec::with_capacity(file.rules.len());
    let mut atoms = Vec::new();
    for (index, r) in file.rules.iter().enumerate() {
        let expr = lower_expr(&r.pattern, index, &mut atoms, &mut diags);
        let (action, attrs) = match &r.action {
            ast::Action::Exclude(_) => (Action::Exclude, None),
            ast::Action::Adapt(b) => {
                let over = typed_block(&schema, b, &mut diags);
                let eff = defaults.overlay(&schema, &over);
                (Action::Adapt(over), Some(eff))
            }
        };
        let scaling = attrs.as_ref().and_then(Attrs::scaling);
        rules.push(Rule {
            index,
            expr,
            pattern_text: crate::print::pattern(&r.pattern),
            action,
            attrs,
            scaling,
            span: Some(r.span),
        });
    }
    if file.rules.is_empty() {
        diags.push(
            Diagnostic::warning(
                code::EMPTY,
                "the rule set has no rules: no module will be adapted",
            )
            .with_span(Span::new(0, 0), "no rules")
            .with_help("add a rule, e.g. `\"**.q_proj\" {}` to adapt every `q_proj`"),
        );
    }
    diags.attach_source(source);
    if diags.has_errors() {
        return Err(diags);
    }
    Ok((
        RuleSet {
            rules,
            atoms,
            defaults,
            schema,
            source: Some(source.clone()),
        },
        diags,
    ))
}

fn declare(schema: &mut Schema, d: &ast::Declaration, diags: &mut Diagnostics) {
    let check = match &d.constraint {
        None => Check::Any,
        Some(c) => match &c.node {
            Constraint::Range { lo, hi, inclusive } => {
                if !matches!(d.ty.node, TypeName::Int | TypeName::Float) {
                    diags.push(
                        Diagnostic::error(
                            code::BAD_DECLARATION,
                            format!("a range needs a numeric type, not `{}`", d.ty.node.as_str()),
                        )
                        .with_span(c.span, "range"),
                    );
                }
                if lo > hi || (lo == hi && !inclusive) {
                    diags.push(
                        Diagnostic::error(code::BAD_DECLARATION, "the range is empty")
                            .with_span(c.span, "no value fits"),
                    );
                }
                Check::Range {
                    lo: *lo,
                    hi: *hi,
                    inclusive: *inclusive,
                }
            }
            Constraint::Choices(items) => {
                let mut vals = Vec::new();
                for it in items {
                    match literal_value(&it.node) {
                        Some(v) if type_fits(d.ty.node, &v) => vals.push(v),
                        _ => diags.push(
                            Diagnostic::error(
                                code::BAD_DECLARATION,
                                format!("choice is not of type `{}`", d.ty.node.as_str()),
                            )
                            .with_span(it.span, "wrong type"),
                        ),
                    }
                }
                Check::Choices(vals)
            }
        },
    };
    let spec = AttrSpec {
        name: d.name.node.clone(),
        aliases: Vec::new(),
        ty: d.ty.node,
        check,
        declared: true,
    };
    if !schema.declare(spec) {
        diags.push(
            Diagnostic::error(code::BAD_DECLARATION, format!("attribute `{}` is already defined", d.name.node))
                .with_span(d.name.span, "declared again")
                .with_help("built-in attributes (rank, alpha, dropout, init, use_dora, use_rslora) need no declaration"),
        );
    }
}

fn type_fits(t: TypeName, v: &Value) -> bool {
    matches!(
        (t, v),
        (TypeName::Int, Value::Int(_))
            | (TypeName::Float, Value::Int(_) | Value::Float(_))
            | (TypeName::Bool, Value::Bool(_))
            | (TypeName::String, Value::Str(_))
    )
}

fn literal_value(l: &Literal) -> Option<Value> {
    match l {
        Literal::Bool(b) => Some(Value::Bool(*b)),
        Literal::Int(i) => Some(Value::Int(*i)),
        Literal::Float(f) => Some(Value::Float(*f)),
        Literal::Str(s) => Some(Value::Str(s.clone())),
        Literal::Null | Literal::Composite(_) => None,
    }
}

/// Type-checks one `{ ... }` block into attributes with canonical names.
fn typed_block(schema: &Schema, b: &ast::Block, diags: &mut Diagnostics) -> Attrs {
    let mut out = Attrs::default();
    let mut seen: Vec<(String, Span)> = Vec::new();
    for a in &b.assignments {
        let name = &a.name.node;
        let Some((_, spec)) = schema.lookup(name) else {
            let mut d =
                Diagnostic::error(code::UNKNOWN_ATTR, format!("unknown attribute `{name}`"))
                    .with_span(a.name.span, "not in the schema");
            d = match schema.suggest(name) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!(
                    "known attributes: {}; declare new ones with `attribute {name}: int` (or float, bool, string)",
                    schema.attrs().iter().map(|a| format!("`{}`", a.name)).collect::<Vec<_>>().join(", ")
                )),
            };
            diags.push(d);
            continue;
        };
        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == spec.name) {
            diags.push(
                Diagnostic::error(
                    code::DUPLICATE_ATTR,
                    format!("attribute `{}` is set twice", spec.name),
                )
                .with_span(a.name.span, "set again here")
                .with_label(*first, "first set here")
                .with_help("keep one of the two"),
            );
            continue;
        }
        seen.push((spec.name.clone(), a.name.span));
        let Some(v) = literal_value(&a.value.node) else {
            diags.push(
                Diagnostic::error(
                    code::ATTR_TYPE,
                    format!(
                        "`{}` must be {}, found {}",
                        spec.name,
                        expected_words(spec),
                        a.value.node.kind()
                    ),
                )
                .with_span(a.value.span, format!("found {}", a.value.node.kind()))
                .with_help(format!(
                    "`{}` takes {}",
                    spec.name,
                    expected_words(spec)
                )),
            );
            continue;
        };
        match spec.accept(&v) {
            Ok(()) => out.set(schema, &spec.name, v),
            Err(Mismatch::Type(want)) => diags.push(
                Diagnostic::error(
                    code::ATTR_TYPE,
                    format!(
                        "`{}` must be {want}, found {}",
                        spec.name,
                        a.value.node.kind()
                    ),
                )
                .with_span(a.value.span, format!("expected {want}"))
                .with_help(format!(
                    "`{}` takes {}",
                    spec.name,
                    expected_words(spec)
                )),
            ),
            Err(Mismatch::Range(allowed)) => diags.push(
                Diagnostic::error(
                    code::ATTR_RANGE,
                    format!("`{}` = `{v}` is out of range", spec.name),
                )
                .with_span(a.value.span, format!("expected {allowed}"))
                .with_help(range_help(&spec.name)),
            ),
            Err(Mismatch::UnknownInit(sugg)) => {
                let mut d =
                    Diagnostic::error(code::ATTR_RANGE, format!("unknown `init` value `{v}`"))
                        .with_span(a.value.span, "not a PEFT initialisation");
                d = match sugg {
                    Some(s) => d.with_help(format!("did you mean `\"{s}\"`?")),
                    None => d.with_help(format!(
                        "use `true`, `false`, {}, or \"pissa_niter_<N>\"",
                        crate::schema::INIT_VALUES
                            .iter()
                            .map(|s| format!("\"{s}\""))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                };
                diags.push(d);
            }
        }
    }
    out
}

fn expected_words(spec: &AttrSpec) -> &'static str {
    match (spec.ty, &spec.check) {
        (_, Check::Init) => "a boolean or a string",
        (TypeName::Int, _) => "an integer",
        (TypeName::Float, _) => "a number",
        (TypeName::Bool, _) => "`true` or `false`",
        (TypeName::String, _) => "a string",
    }
}

fn range_help(name: &str) -> String {
    match name {
        "rank" => "LoRA rank `r` must be a positive integer (PEFT raises on `r <= 0`)".into(),
        "alpha" => "`lora_alpha` must be positive".into(),
        "dropout" => "dropout is a probability in [0, 1)".into(),
        _ => format!("see the declaration of `{name}`"),
    }
}

fn lower_expr(
    e: &PatternExpr,
    rule: usize,
    atoms: &mut Vec<Atom>,
    diags: &mut Diagnostics,
) -> Expr {
    match e {
        PatternExpr::Atom(a) => {
            let id = atoms.len();
            match crate::pattern::compile(a) {
                Ok(c) => atoms.push(Atom::new(
                    a.kind,
                    a.text.clone(),
                    c.regex,
                    c.hir,
                    rule,
                    Some(a.span),
                )),
                Err(d) => {
                    diags.push(d);
                    atoms.push(Atom::new(
                        a.kind,
                        a.text.clone(),
                        String::new(),
                        Some(regex_syntax::hir::Hir::fail()),
                        rule,
                        Some(a.span),
                    ));
                }
            }
            Expr::Atom(id)
        }
        PatternExpr::Not(inner, _) => Expr::Not(Box::new(lower_expr(inner, rule, atoms, diags))),
        PatternExpr::And(es, _) => Expr::And(
            es.iter()
                .map(|x| lower_expr(x, rule, atoms, diags))
                .collect(),
        ),
        PatternExpr::Or(es, _) => Expr::Or(
            es.iter()
                .map(|x| lower_expr(x, rule, atoms, diags))
                .collect(),
        ),
    }
}
