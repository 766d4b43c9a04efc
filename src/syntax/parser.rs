//! Step one: `.lora` text → [`ast::RuleFile`] with the pest grammar in
//! `grammar/lora.pest`. Pest errors are renamed into user words ("expected
//! `{` or `exclude`", not rule names).

use pest::Parser as _;
use pest::iterators::Pair;

use super::ast::{
    Action, Assignment, Block, Constraint, Declaration, Literal, PatternAtom, PatternExpr,
    PatternKind, Rule as AstRule, RuleFile, Spanned, TypeName,
};
use crate::diag::{Diagnostic, Diagnostics, Span, code};

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/lora.pest"]
struct LoraParser;

/// What a grammar rule is called in messages.
fn describe(r: &Rule) -> &'static str {
    match r {
        Rule::EOI => "end of file",
        Rule::file | Rule::rule => "a rule",
        Rule::declaration | Rule::kw_attribute => "`attribute`",
        Rule::defaults | Rule::kw_defaults => "`defaults`",
        Rule::type_name => "a type (`int`, `float`, `bool` or `string`)",
        Rule::constraint | Rule::range | Rule::choices => {
            "a range (`1..=64`) or a list (`[\"a\", \"b\"]`)"
        }
        Rule::range_op => "`..` or `..=`",
        Rule::attr_block => "`{`",
        Rule::assignment => "an attribute assignment (`rank = 8`)",
        Rule::pattern_expr | Rule::and_expr | Rule::not_expr | Rule::atom => {
            "a pattern (`\"model.layers.*.q_proj\"`, `re \"...\"` or `key \"...\"`)"
        }
        Rule::negation => "`!`",
        Rule::pattern_kind | Rule::kw_re | Rule::kw_key | Rule::kw_path => {
            "a pattern kind (`path`, `re` or `key`)"
        }
        Rule::value => "a value",
        Rule::boolean => "`true` or `false`",
        Rule::number => "a number",
        Rule::string | Rule::dq_inner | Rule::sq_inner => "a quoted string",
        Rule::ident => "a name",
        Rule::kw_exclude => "`exclude`",
        Rule::kw_in => "`in`",
        Rule::WHITESPACE | Rule::COMMENT => "whitespace",
        _ => "a rule",
    }
}

fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

fn pest_to_diagnostic(err: &pest::error::Error<Rule>, text: &str) -> Diagnostic {
    let pos = match err.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let (mut expected, found): (Vec<&str>, String) = match &err.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => {
            let mut v: Vec<&str> = positives.iter().map(describe).collect();
            v.dedup();
            let found = next_token(text, pos);
            (v, found)
        }
        pest::error::ErrorVariant::CustomError { message } => {
            return Diagnostic::error(code::SYNTAX, message.clone())
                .with_span(Span::new(pos, pos), "here");
        }
    };
    expected.sort_unstable();
    expected.dedup();
    // After a complete rule the parser may also accept more patterns or `|`:
    // say what a person would try first.
    let msg = if expected.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("expected {}, found {found}", join_or(&expected))
    };
    let end = (pos + next_token_len(text, pos)).min(text.len());
    let mut d =
        Diagnostic::error(code::SYNTAX, msg).with_span(Span::new(pos, end), "unexpected here");
    // A misspelt keyword: did you mean?
    let word: String = text
        .get(pos..)
        .unwrap_or("")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let keyword = (word.len() >= 4)
        .then(|| {
            crate::schema::closest(
                &word,
                [
                    "exclude",
                    "defaults",
                    "attribute",
                    "path",
                    "key",
                    "re",
                    "true",
                    "false",
                ],
            )
        })
        .flatten()
        .filter(|k| *k != word);
    if let Some(k) = keyword {
        return d.with_help(format!("did you mean `{k}`?"));
    }
    let rest = text.get(pos..).unwrap_or("");
    if rest.starts_with("//") || rest.starts_with("/*") {
        d = d.with_help("comments start with `#` and run to the end of the line");
    } else if !word.is_empty()
        && !word.starts_with(|c: char| c.is_ascii_digit())
        && expected.iter().any(|e| e.contains("`{`"))
        && rest[word.len()..].trim_start().starts_with('=')
    {
        d = d.with_help(format!(
            "attributes go in braces after the pattern: `{{ {word} = ... }}`"
        ));
    } else if found.starts_with("`\"") && expected.iter().any(|e| e.contains("`{`")) {
        d = d.with_help("a rule is a pattern followed by `{ attr = value }` or `exclude`; combine patterns with `|`, `&` and `!`");
    } else if expected.contains(&"a number") {
        d = d.with_help("a value is a number, `true`, `false` or a quoted string (`\"pissa\"`)");
    } else if expected == ["a name"] {
        d = d.with_help("a block is `{ attr = value, ... }`: is its closing `}` missing?");
    } else if text[pos.min(text.len())..].starts_with('\\')
        || text[..pos.min(text.len())].ends_with('\\')
        || text[..pos.min(text.len())].ends_with("\\\"")
        || text[..pos.min(text.len())].ends_with("\\'")
    {
        d = d.with_help("strings are raw: write `\"a\\.b\"` for the regex `a\\.b`; a string cannot contain its own quote character (use the other quote)");
    }
    d
}

fn next_token_len(text: &str, pos: usize) -> usize {
    let rest = text.get(pos..).unwrap_or("");
    let n = rest
        .char_indices()
        .find(|&(_, c)| c.is_whitespace())
        .map_or(rest.len(), |(i, _)| i);
    n.clamp(rest.chars().next().map_or(0, char::len_utf8), 40)
        .min(rest.len())
}

fn next_token(text: &str, pos: usize) -> String {
    let rest = text.get(pos..).unwrap_or("");
    if rest.is_empty() {
        return "end of file".to_string();
    }
    let n = next_token_len(text, pos);
    let mut tok: String = rest.get(..n).unwrap_or(rest).to_string();
    if tok.is_empty() {
        tok = rest.chars().next().map(String::from).unwrap_or_default();
    }
    // Control characters (NUL, a lone `\r`, ...) are invisible when printed.
    if tok.chars().any(char::is_control) {
        return format!("`{}`", tok.escape_debug());
    }
    format!("`{tok}`")
}

fn span_of(p: &Pair<'_, Rule>) -> Span {
    let s = p.as_span();
    Span::new(s.start(), s.end())
}

/// Parses `.lora` text into the syntax tree.
///
/// # Errors
/// A [`Diagnostics`] with one `L001` syntax error (pest stops at the first
/// one) located at the offending token, or `L004` if nesting is too deep.
///
/// Complexity: linear in the text for this grammar (PEG with bounded
/// look-ahead); nesting depth is limited by [`crate::limits::MAX_NESTING`].
pub fn parse(text: &str) -> Result<RuleFile, Diagnostics> {
    let mut diags = Diagnostics::new();
    if let Some(pos) = crate::limits::excessive_nesting(text, b'(', b')') {
        diags.push(
            Diagnostic::error(
                code::LIMIT,
                format!(
                    "parentheses nested deeper than {}",
                    crate::limits::MAX_NESTING
                ),
            )
            .with_span(Span::new(pos, pos + 1), "too deep here")
            .with_help("flatten the pattern expression; `a | b | c` needs no parentheses"),
        );
        return Err(diags);
    }
    let file = match LoraParser::parse(Rule::file, text) {
        Ok(mut pairs) => pairs.next(),
        Err(e) => {
            diags.push(pest_to_diagnostic(&e, text));
            return Err(diags);
        }
    };
    let mut out = RuleFile::default();
    let Some(file) = file else { return Ok(out) };
    for item in file.into_inner() {
        match item.as_rule() {
            Rule::declaration => out.declarations.push(lower_declaration(item, &mut diags)),
            Rule::defaults => {
                if let Some(block) = item.into_inner().find(|p| p.as_rule() == Rule::attr_block) {
                    out.defaults.push(lower_block(block, &mut diags));
                }
            }
            Rule::rule => out.rules.push(lower_rule(item, &mut diags)),
            _ => {}
        }
    }
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(out)
    }
}

fn lower_declaration(p: Pair<'_, Rule>, diags: &mut Diagnostics) -> Declaration {
    let span = span_of(&p);
    let mut name = Spanned::new(String::new(), span);
    let mut ty = Spanned::new(TypeName::Int, span);
    let mut constraint = None;
    for c in p.into_inner() {
        match c.as_rule() {
            Rule::ident => name = Spanned::new(c.as_str().to_string(), span_of(&c)),
            Rule::type_name => {
                let t = match c.as_str() {
                    "int" => TypeName::Int,
                    "float" => TypeName::Float,
                    "bool" => TypeName::Bool,
                    _ => TypeName::String,
                };
                ty = Spanned::new(t, span_of(&c));
            }
            Rule::constraint => {
                let cspan = span_of(&c);
                if let Some(inner) = c.into_inner().next() {
                    constraint = Some(Spanned::new(lower_constraint(inner, diags), cspan));
                }
            }
            _ => {}
        }
    }
    Declaration {
        name,
        ty,
        constraint,
        span,
    }
}

fn lower_constraint(p: Pair<'_, Rule>, diags: &mut Diagnostics) -> Constraint {
    match p.as_rule() {
        Rule::range => {
            let mut lo = 0.0;
            let mut hi = 0.0;
            let mut inclusive = false;
            let mut seen_lo = false;
            for c in p.into_inner() {
                match c.as_rule() {
                    Rule::number => {
                        let v = match lower_number(&c, diags) {
                            Literal::Int(i) => i as f64,
                            Literal::Float(f) => f,
                            _ => 0.0,
                        };
                        if seen_lo {
                            hi = v;
                        } else {
                            lo = v;
                            seen_lo = true;
                        }
                    }
                    Rule::range_op => inclusive = c.as_str() == "..=",
                    _ => {}
                }
            }
            Constraint::Range { lo, hi, inclusive }
        }
        _ => Constraint::Choices(
            p.into_inner()
                .map(|c| Spanned::new(lower_value(&c, diags), span_of(&c)))
                .collect(),
        ),
    }
}

fn lower_block(p: Pair<'_, Rule>, diags: &mut Diagnostics) -> Block {
    let span = span_of(&p);
    let assignments = p
        .into_inner()
        .filter(|a| a.as_rule() == Rule::assignment)
        .map(|a| {
            let mut it = a.into_inner();
            let (name, value) = match (it.next(), it.next()) {
                (Some(n), Some(v)) => (
                    Spanned::new(n.as_str().to_string(), span_of(&n)),
                    Spanned::new(lower_value(&v, diags), span_of(&v)),
                ),
                _ => (
                    Spanned::new(String::new(), span),
                    Spanned::new(Literal::Null, span),
                ),
            };
            Assignment { name, value }
        })
        .collect();
    Block { assignments, span }
}

fn lower_number(p: &Pair<'_, Rule>, diags: &mut Diagnostics) -> Literal {
    let t = p.as_str();
    if !t.contains(['.', 'e', 'E']) {
        if let Ok(i) = t.parse::<i64>() {
            return Literal::Int(i);
        }
        diags.push(
            Diagnostic::error(
                code::ATTR_RANGE,
                format!("integer `{t}` does not fit in 64 bits"),
            )
            .with_span(span_of(p), "too large")
            .with_help("integers are 64-bit: at most 9223372036854775807"),
        );
        return Literal::Int(0);
    }
    match t.parse::<f64>() {
        Ok(f) if f.is_finite() => Literal::Float(f),
        _ => {
            diags.push(
                Diagnostic::error(code::ATTR_RANGE, format!("number `{t}` is not finite"))
                    .with_span(span_of(p), "out of range"),
            );
            Literal::Float(0.0)
        }
    }
}

fn lower_value(p: &Pair<'_, Rule>, diags: &mut Diagnostics) -> Literal {
    match p.as_rule() {
        Rule::boolean => Literal::Bool(p.as_str() == "true"),
        Rule::number => lower_number(p, diags),
        Rule::string => Literal::Str(string_content(p).0),
        _ => Literal::Null,
    }
}

/// The raw content of a string pair and the span of that content.
fn string_content(p: &Pair<'_, Rule>) -> (String, Span) {
    match p.clone().into_inner().next() {
        Some(inner) => (inner.as_str().to_string(), span_of(&inner)),
        None => (String::new(), span_of(p)),
    }
}

fn lower_rule(p: Pair<'_, Rule>, diags: &mut Diagnostics) -> AstRule {
    let span = span_of(&p);
    let mut pattern = None;
    let mut action = Action::Exclude(span);
    for c in p.into_inner() {
        match c.as_rule() {
            Rule::pattern_expr => pattern = Some(lower_expr(c)),
            Rule::attr_block => action = Action::Adapt(lower_block(c, diags)),
            Rule::kw_exclude => action = Action::Exclude(span_of(&c)),
            _ => {}
        }
    }
    AstRule {
        pattern: pattern.unwrap_or_else(|| {
            PatternExpr::Atom(PatternAtom {
                kind: PatternKind::Path,
                text: String::new(),
                text_span: span,
                exact_offsets: false,
                span,
            })
        }),
        action,
        span,
    }
}

fn lower_expr(p: Pair<'_, Rule>) -> PatternExpr {
    let span = span_of(&p);
    match p.as_rule() {
        Rule::pattern_expr | Rule::and_expr => {
            let is_or = p.as_rule() == Rule::pattern_expr;
            let mut parts: Vec<PatternExpr> = p.into_inner().map(lower_expr).collect();
            if parts.len() == 1 {
                parts.pop().unwrap_or_else(|| empty_atom(span))
            } else if is_or {
                PatternExpr::Or(parts, span)
            } else {
                PatternExpr::And(parts, span)
            }
        }
        Rule::not_expr => {
            let mut negations = 0usize;
            let mut inner = None;
            for c in p.into_inner() {
                if c.as_rule() == Rule::negation {
                    negations += 1;
                } else {
                    inner = Some(lower_expr(c));
                }
            }
            let e = inner.unwrap_or_else(|| empty_atom(span));
            // `!!x` is `x`: keep only the parity, so a run of `!` cannot build
            // a tree deep enough to overflow the stack of later passes.
            if negations % 2 == 1 {
                PatternExpr::Not(Box::new(e), span)
            } else {
                e
            }
        }
        Rule::atom => {
            let mut kind = PatternKind::Path;
            let mut text = String::new();
            let mut text_span = span;
            for c in p.into_inner() {
                match c.as_rule() {
                    Rule::pattern_kind => {
                        kind = match c.as_str() {
                            "re" => PatternKind::Regex,
                            "key" => PatternKind::Key,
                            _ => PatternKind::Path,
                        }
                    }
                    Rule::string => (text, text_span) = string_content(&c),
                    _ => {}
                }
            }
            PatternExpr::Atom(PatternAtom {
                kind,
                text,
                text_span,
                exact_offsets: true,
                span,
            })
        }
        _ => empty_atom(span),
    }
}

fn empty_atom(span: Span) -> PatternExpr {
    PatternExpr::Atom(PatternAtom {
        kind: PatternKind::Path,
        text: String::new(),
        text_span: span,
        exact_offsets: false,
        span,
    })
}
