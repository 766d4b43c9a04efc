//! One pattern → one regex (Rust `regex-syntax` dialect) and its HIR.
//!
//! * [`PatternKind::Regex`]: the text itself; the name must match entirely
//!   (PEFT 0.21.2 string `target_modules`: `re.fullmatch`).
//! * [`PatternKind::Key`]: the text K; the name must fully match
//!   `(?:.*\.)?(?:K)` (PEFT 0.21.2 `get_pattern_key`). The HIR kept here is
//!   K's own; the engine adds the dot-suffix part.
//! * [`PatternKind::Path`]: a dotted path pattern translated to a regex (see
//!   [`path_to_regex`]).
//!
//! Each pattern is validated on its own so that its errors carry its span.

use regex_syntax::ast::ErrorKind as AstErrorKind;
use regex_syntax::hir::Hir;

use crate::diag::{Diagnostic, Span, code};
use crate::syntax::ast::{PatternAtom, PatternKind};

/// A parsed pattern.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The regex text.
    pub regex: String,
    /// The regex parsed (Unicode mode, `.` excludes `\n`); `None` when it is
    /// plain (see [`is_plain`]): it cannot fail to parse, and
    /// [`crate::ir::Atom::hir`] builds it on first use.
    pub hir: Option<Hir>,
}

/// Compiles one pattern atom.
///
/// # Errors
/// `L022` for a malformed path pattern, `L020` for regex syntax errors,
/// `L021` for constructs no DFA can run (look-around, backreferences,
/// Unicode word boundaries), `L023` for oversized patterns. Each points into
/// the pattern when offsets are exact.
pub fn compile(atom: &PatternAtom) -> Result<Compiled, Diagnostic> {
    if atom.text.len() > crate::limits::MAX_PATTERN_BYTES {
        return Err(Diagnostic::error(
            code::PATTERN_TOO_BIG,
            format!(
                "pattern is {} bytes long, more than the limit of {}",
                atom.text.len(),
                crate::limits::MAX_PATTERN_BYTES
            ),
        )
        .with_span(atom.span, "this pattern")
        .with_help("split it into several rules"));
    }
    let regex = match atom.kind {
        PatternKind::Path => path_to_regex(&atom.text).map_err(|e| {
            let span = if atom.exact_offsets {
                Span::new(atom.text_span.start + e.start, atom.text_span.start + e.end)
            } else {
                atom.text_span
            };
            Diagnostic::error(
                code::PATH_SYNTAX,
                format!("invalid path pattern: {}", e.message),
            )
            .with_span(span, e.label)
            .with_help(e.help)
        })?,
        PatternKind::Regex | PatternKind::Key => atom.text.clone(),
    };
    if is_plain(&regex) {
        return Ok(Compiled { regex, hir: None });
    }
    let hir = parse_regex(&regex).map_err(|e| {
        let span = if atom.exact_offsets && atom.kind != PatternKind::Path {
            Span::new(atom.text_span.start + e.start, atom.text_span.start + e.end)
        } else {
            atom.text_span
        };
        let mut d = Diagnostic::error(e.code, e.message).with_span(span, e.label);
        if let Some(h) = e.help {
            d = d.with_help(h);
        }
        d
    })?;
    Ok(Compiled {
        regex,
        hir: Some(hir),
    })
}

/// `regex` parsed in ASCII mode (`.`, classes and case folding over bytes),
/// or `None` when it uses something only Unicode mode accepts (a Unicode
/// class, a non-ASCII literal in a class, ...). On ASCII input the result
/// matches exactly what the Unicode HIR matches (ENGINE-NOTES §6).
pub fn parse_ascii(regex: &str) -> Option<Hir> {
    if let Some(h) = plain(regex, false) {
        return Some(h);
    }
    regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .nest_limit(crate::limits::MAX_NESTING as u32)
        .build()
        .parse(regex)
        .ok()
}

/// The HIR of a *plain* regex — ASCII letters, digits, `_`, `-`, `.` and
/// `\.` only, as EVA and most hand-written keys are — built directly, equal
/// to what regex-syntax's parser and translator give (`unicode`: `.` is any
/// character but `\n`, else any byte but `\n`); `None` for anything else.
///
/// Parsing 45,032 EVA keys through the AST twice took most of a 2 s load;
/// this takes a few milliseconds. O(len(regex)).
fn plain(regex: &str, unicode: bool) -> Option<Hir> {
    use regex_syntax::hir::Dot;
    if regex.len() > 4096 {
        return None;
    }
    let dot = if unicode {
        Dot::AnyCharExceptLF
    } else {
        Dot::AnyByteExceptLF
    };
    let parts = plain_parts(regex)?;
    let hirs = parts
        .split_inclusive(Option::is_none)
        .flat_map(|run| {
            let (lit, wildcard) = match run.split_last() {
                Some((None, lit)) => (lit, true),
                _ => (run, false),
            };
            let lit: Vec<u8> = lit.iter().flatten().copied().collect();
            let lit = (!lit.is_empty()).then(|| Hir::literal(lit));
            lit.into_iter().chain(wildcard.then(|| Hir::dot(dot)))
        })
        .collect();
    Some(Hir::concat(hirs))
}

/// A plain regex (see [`plain`]) as bytes, `None` for each `.` wildcard:
/// the literal key table's form, read from the text without building a HIR.
/// `None` if `regex` is not plain, or is empty or longer than 1024 bytes.
pub(crate) fn plain_bytes(regex: &str) -> Option<Vec<Option<u8>>> {
    plain_parts(regex).filter(|p| !p.is_empty() && p.len() <= 1024)
}

/// The characters of a plain regex, `None` for a `.` wildcard (`\.` is a
/// literal dot); `None` if anything else occurs.
fn plain_parts(regex: &str) -> Option<Vec<Option<u8>>> {
    let mut out = Vec::with_capacity(regex.len());
    plain_scan(regex, |c| out.push(c)).then_some(out)
}

/// Whether `regex` is plain (ASCII letters, digits, `_`, `-`, `.` and `\.`
/// only, at most 4096 bytes): its HIR is built directly, without the
/// parser, and it cannot fail to parse. O(len(regex)), no allocation.
pub fn is_plain(regex: &str) -> bool {
    regex.len() <= 4096 && plain_scan(regex, |_| {})
}

/// Calls `each` with every character of a plain regex (`None` for a `.`
/// wildcard) and returns true, or returns false at the first character that
/// is not plain.
fn plain_scan(regex: &str, mut each: impl FnMut(Option<u8>)) -> bool {
    let b = regex.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' => each(Some(c)),
            b'\\' if b.get(i + 1) == Some(&b'.') => {
                each(Some(b'.'));
                i += 1;
            }
            b'.' => each(None),
            _ => return false,
        }
        i += 1;
    }
    true
}

/// A regex error located inside the pattern text.
#[derive(Debug, Clone)]
pub struct RegexError {
    /// `L020` or `L021`.
    pub code: &'static str,
    /// One-line message.
    pub message: String,
    /// Label for the span.
    pub label: String,
    /// Advice.
    pub help: Option<String>,
    /// Byte offsets in the pattern.
    pub start: usize,
    /// End offset.
    pub end: usize,
}

/// Parses `regex` with the settings every engine uses (Unicode on, UTF-8
/// only, nest limit [`crate::limits::MAX_NESTING`]) and rejects what a DFA
/// cannot run.
///
/// # Errors
/// A located [`RegexError`].
pub fn parse_regex(regex: &str) -> Result<Hir, RegexError> {
    if let Some(h) = plain(regex, true) {
        return Ok(h);
    }
    let mut parser = regex_syntax::ast::parse::ParserBuilder::new()
        .nest_limit(crate::limits::MAX_NESTING as u32)
        .build();
    let ast = parser.parse(regex).map_err(|e| {
        let span = e.span();
        let (code, help) = match e.kind() {
            AstErrorKind::UnsupportedLookAround => (
                code::REGEX_UNSUPPORTED,
                Some("look-around cannot run in a DFA; write the condition with the boolean form instead, e.g. `re \".*q_proj\" & !re \".*visual.*\"`, or put an earlier `exclude` rule".to_string()),
            ),
            AstErrorKind::UnsupportedBackreference => (
                code::REGEX_UNSUPPORTED,
                Some("backreferences cannot run in a DFA; spell out the alternatives, e.g. `(00|11|22)`".to_string()),
            ),
            AstErrorKind::NestLimitExceeded(_) => (code::LIMIT, Some("flatten the pattern".to_string())),
            _ => (
                code::REGEX_SYNTAX,
                Some("regexes use Rust `regex` syntax; escape a literal `.`, `(`, `[`, `{` or `*` with `\\`".to_string()),
            ),
        };
        RegexError {
            code,
            message: format!("invalid regex: {}", e.kind()),
            label: "here".into(),
            help,
            start: span.start.offset,
            end: span.end.offset.max(span.start.offset + 1).min(regex.len().max(span.start.offset)),
        }
    })?;
    let mut tr = regex_syntax::hir::translate::TranslatorBuilder::new()
        .unicode(true)
        .utf8(true)
        .build();
    let hir = tr.translate(regex, &ast).map_err(|e| RegexError {
        code: code::REGEX_SYNTAX,
        message: format!("invalid regex: {}", e.kind()),
        label: "here".into(),
        help: None,
        start: e.span().start.offset,
        end: e.span().end.offset,
    })?;
    if let Some((start, end)) = unicode_word_boundary(&ast) {
        return Err(RegexError {
            code: code::REGEX_UNSUPPORTED,
            message: "invalid regex: Unicode word boundary `\\b` cannot run in a DFA".into(),
            label: "here".into(),
            help: Some("module names are ASCII: write the ASCII word boundary `(?-u:\\b)`".into()),
            start,
            end,
        });
    }
    Ok(hir)
}

fn unicode_word_boundary(ast: &regex_syntax::ast::Ast) -> Option<(usize, usize)> {
    use regex_syntax::ast::{AssertionKind, Ast};
    // Walk with an explicit stack (depth already bounded by the nest limit).
    let mut stack: Vec<(&Ast, bool)> = vec![(ast, true)];
    while let Some((node, unicode)) = stack.pop() {
        match node {
            Ast::Assertion(a) => {
                let word = matches!(
                    a.kind,
                    AssertionKind::WordBoundary
                        | AssertionKind::NotWordBoundary
                        | AssertionKind::WordBoundaryStart
                        | AssertionKind::WordBoundaryEnd
                        | AssertionKind::WordBoundaryStartAngle
                        | AssertionKind::WordBoundaryEndAngle
                        | AssertionKind::WordBoundaryStartHalf
                        | AssertionKind::WordBoundaryEndHalf
                );
                if word && unicode {
                    return Some((a.span.start.offset, a.span.end.offset));
                }
            }
            Ast::Group(g) => {
                let u = match &g.kind {
                    regex_syntax::ast::GroupKind::NonCapturing(flags) => {
                        flag_unicode(flags, unicode)
                    }
                    _ => unicode,
                };
                stack.push((&g.ast, u));
            }
            Ast::Concat(c) => {
                // Flags set mid-concat (`(?-u)`) apply to what follows.
                let mut u = unicode;
                let mut items = Vec::new();
                for a in &c.asts {
                    if let Ast::Flags(f) = a {
                        u = flag_unicode(&f.flags, u);
                    }
                    items.push((a, u));
                }
                stack.extend(items.into_iter().rev());
            }
            Ast::Alternation(a) => stack.extend(a.asts.iter().map(|x| (x, unicode))),
            Ast::Repetition(r) => stack.push((&r.ast, unicode)),
            _ => {}
        }
    }
    None
}

fn flag_unicode(flags: &regex_syntax::ast::Flags, current: bool) -> bool {
    use regex_syntax::ast::{Flag, FlagsItemKind};
    let mut negate = false;
    let mut u = current;
    for item in &flags.items {
        match item.kind {
            FlagsItemKind::Negation => negate = true,
            FlagsItemKind::Flag(Flag::Unicode) => u = !negate,
            _ => {}
        }
    }
    u
}

/// A path-pattern syntax error, with byte offsets into the pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct PathError {
    /// What is wrong.
    pub message: String,
    /// Label text.
    pub label: &'static str,
    /// How to fix it.
    pub help: String,
    /// Offsets into the pattern.
    pub start: usize,
    /// End offset.
    pub end: usize,
}

/// Translates a dotted path pattern into an anchored-by-use regex.
///
/// Syntax: segments separated by `.` (a literal dot); inside a segment `*`
/// is any run of non-dot characters; a segment that is exactly `*` is one
/// whole segment (at least one character); a segment that is exactly `**`
/// is zero or more whole segments; `{a..b}` is a decimal number from a to b
/// inclusive (canonical form, no leading zeros); `{x,y,z}` is one of the
/// listed literals; `\` escapes the next character.
///
/// Examples: `model.layers.{0..7}.mlp.*_proj` →
/// `model\.layers\.(?:0|1|…|7)\.mlp\.[^.]*_proj`; `**.q_proj` →
/// `(?:[^.]+\.)*q_proj`; `model.visual.**` → `model\.visual(?:\.[^.]+)*`.
///
/// # Errors
/// [`PathError`] for empty segments, unbalanced braces, bad ranges (more than
/// [`crate::limits::MAX_RANGE_SIZE`] numbers, or `a > b`), a trailing `\`.
pub fn path_to_regex(pat: &str) -> Result<String, PathError> {
    let err = |message: String, label, help: &str, start, end| PathError {
        message,
        label,
        help: help.to_string(),
        start,
        end,
    };
    if pat.is_empty() {
        return Err(err(
            "the pattern is empty".into(),
            "empty",
            "write at least one segment, e.g. `**` for every module",
            0,
            0,
        ));
    }
    // Split into segments at unescaped dots outside braces.
    let mut segments: Vec<(usize, usize)> = Vec::new();
    let bytes = pat.as_bytes();
    let (mut depth, mut start, mut i) = (0usize, 0usize, 0usize);
    let mut brace_open = 0usize;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                if i + 1 >= bytes.len() {
                    return Err(err(
                        "trailing `\\`".into(),
                        "escapes nothing",
                        "remove it or escape a character: `\\.`",
                        i,
                        i + 1,
                    ));
                }
                i += 1;
            }
            b'{' => {
                if depth > 0 {
                    return Err(err(
                        "nested `{`".into(),
                        "inside another `{`",
                        "braces do not nest; list alternatives in one `{a,b}`",
                        i,
                        i + 1,
                    ));
                }
                depth = 1;
                brace_open = i;
            }
            b'}' => {
                if depth == 0 {
                    return Err(err(
                        "unmatched `}`".into(),
                        "no `{` before it",
                        "escape it as `\\}` or add the `{`",
                        i,
                        i + 1,
                    ));
                }
                depth = 0;
            }
            b'.' if depth == 0 => {
                segments.push((start, i));
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if depth > 0 {
        return Err(err(
            "unclosed `{`".into(),
            "opened here",
            "close it with `}`",
            brace_open,
            brace_open + 1,
        ));
    }
    segments.push((start, bytes.len()));
    let mut out = String::new();
    let n = segments.len();
    let mut prev_leading_globstar = false;
    for (k, &(s, e)) in segments.iter().enumerate() {
        let seg = &pat[s..e];
        if seg.is_empty() {
            return Err(err(
                "empty segment".into(),
                "nothing between dots",
                "module names have no empty segments; remove the extra `.` (use `**` for any number of segments)",
                s.saturating_sub(1),
                (s + 1).min(pat.len()),
            ));
        }
        if seg == "**" {
            if n == 1 {
                out.push_str(r"[^.]+(?:\.[^.]+)*");
            } else if k == 0 {
                out.push_str(r"(?:[^.]+\.)*");
                prev_leading_globstar = true;
                continue;
            } else {
                out.push_str(r"(?:\.[^.]+)*");
            }
            prev_leading_globstar = false;
            continue;
        }
        if k > 0 && !prev_leading_globstar {
            out.push_str(r"\.");
        }
        prev_leading_globstar = false;
        if seg == "*" {
            out.push_str("[^.]+");
            continue;
        }
        segment_regex(pat, s, e, &mut out)?;
    }
    Ok(out)
}

fn segment_regex(pat: &str, s: usize, e: usize, out: &mut String) -> Result<(), PathError> {
    let seg = &pat[s..e];
    let mut chars = seg.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, n)) = chars.next() {
                    out.push_str(&regex_syntax::escape(&n.to_string()));
                }
            }
            '*' => {
                if chars.peek().is_some_and(|&(_, c)| c == '*') {
                    return Err(PathError {
                        message: "`**` must be a whole segment".into(),
                        label: "inside a segment",
                        help: "write `a.**.b` for any number of segments, or `*` for any characters within one segment".into(),
                        start: s + i,
                        end: s + i + 2,
                    });
                }
                out.push_str("[^.]*");
            }
            '{' => {
                let close = seg[i..].find('}').map(|j| i + j).unwrap_or(seg.len());
                let body = &seg[i + 1..close];
                out.push_str(&brace_regex(body, s + i + 1)?);
                // Skip to after the closing brace.
                while chars.peek().is_some_and(|&(j, _)| j <= close) {
                    chars.next();
                }
            }
            _ => out.push_str(&regex_syntax::escape(&c.to_string())),
        }
    }
    Ok(())
}

fn brace_regex(body: &str, at: usize) -> Result<String, PathError> {
    if let Some((a, b)) = body.split_once("..") {
        let parse = |t: &str, off: usize| -> Result<u64, PathError> {
            if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit()) || t.len() > 18 {
                return Err(PathError {
                    message: format!("`{t}` is not a number in a range"),
                    label: "expected digits",
                    help: "a range is `{a..b}` with decimal numbers, both included, e.g. `{0..15}`"
                        .into(),
                    start: off,
                    end: off + t.len().max(1),
                });
            }
            if t.len() > 1 && t.starts_with('0') {
                // Module numbers have no leading zeros: `{00..7}` looks like
                // a request for zero-padded names, which it would not match.
                let bare = t.trim_start_matches('0');
                return Err(PathError {
                    message: format!("`{t}` has a leading zero"),
                    label: "leading zero",
                    help: format!(
                        "a range matches numbers written without leading zeros, as PyTorch names them: write `{}` here (for zero-padded names, use a regex rule)",
                        if bare.is_empty() { "0" } else { bare }
                    ),
                    start: off,
                    end: off + t.len(),
                });
            }
            Ok(t.parse().unwrap_or(0))
        };
        let lo = parse(a, at)?;
        let hi = parse(b, at + a.len() + 2)?;
        if lo > hi {
            return Err(PathError {
                message: format!("empty range `{{{body}}}`"),
                label: "first number is larger",
                help: format!("write `{{{hi}..{lo}}}`"),
                start: at,
                end: at + body.len(),
            });
        }
        if hi - lo + 1 > crate::limits::MAX_RANGE_SIZE {
            return Err(PathError {
                message: format!(
                    "range `{{{body}}}` covers more than {} numbers",
                    crate::limits::MAX_RANGE_SIZE
                ),
                label: "too large",
                help: "use `*` for any segment, or a regex rule `re \"...\\d+...\"`".into(),
                start: at,
                end: at + body.len(),
            });
        }
        return Ok(numeric_range_regex(lo, hi));
    }
    let alts: Vec<String> = body
        .split(',')
        .map(|a| a.chars().filter(|&c| c != '\\').collect::<String>())
        .map(|a| regex_syntax::escape(&a))
        .collect();
    if body.contains('.') {
        return Err(PathError {
            message: "a `{...}` alternative contains `.`".into(),
            label: "alternatives stay within one segment",
            help: "use a boolean `|` of two path patterns instead".into(),
            start: at,
            end: at + body.len(),
        });
    }
    Ok(format!("(?:{})", alts.join("|")))
}

/// A regex matching exactly the canonical decimal numbers lo..=hi (no
/// leading zeros). Small ranges are listed; large ones are split by digit
/// count and prefix (the classic range-to-regex construction), keeping the
/// regex O(digits²) long.
pub fn numeric_range_regex(lo: u64, hi: u64) -> String {
    fn rec(lo: u64, hi: u64, out: &mut Vec<String>) {
        // Split [lo, hi] into pieces where lo and hi have the same length and
        // the piece is a prefix followed by full digit classes.
        let (ls, hs) = (lo.to_string(), hi.to_string());
        if ls.len() < hs.len() {
            let top = 10u64.pow(ls.len() as u32) - 1;
            rec(lo, top, out);
            rec(top + 1, hi, out);
            return;
        }
        let n = ls.len();
        // Find the largest block size 10^k aligned at lo that fits.
        let mut k = 0u32;
        while k < n as u32 {
            let m = 10u64.pow(k + 1);
            if lo.is_multiple_of(m) && lo + m - 1 <= hi && (k + 1) < n as u32 {
                k += 1;
            } else {
                break;
            }
        }
        let m = 10u64.pow(k);
        let end = lo + m - 1;
        let prefix = &ls[..n - k as usize];
        let mut piece = regex_syntax::escape(prefix);
        for _ in 0..k {
            piece.push_str("[0-9]");
        }
        out.push(piece);
        if end < hi {
            rec(end + 1, hi, out);
        }
    }
    if hi - lo < 64 {
        return format!(
            "(?:{})",
            (lo..=hi)
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join("|")
        );
    }
    let mut pieces = Vec::new();
    rec(lo, hi, &mut pieces);
    format!("(?:{})", pieces.join("|"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What regex-syntax itself gives, in the two modes the engine uses.
    fn slow(re: &str, unicode: bool) -> Hir {
        regex_syntax::ParserBuilder::new()
            .unicode(unicode)
            .utf8(unicode)
            .build()
            .parse(re)
            .unwrap()
    }

    #[test]
    fn plain_fast_path_examples() {
        for re in [
            "",
            ".",
            "\\.",
            "a",
            "a.b",
            "model.layers.0.mlp.experts.17.up_proj",
            "x\\.y.z",
            "-_-",
        ] {
            assert_eq!(plain(re, true), Some(slow(re, true)), "{re:?}");
            assert_eq!(plain(re, false), Some(slow(re, false)), "{re:?}");
        }
        assert_eq!(
            plain_bytes("a\\.b.c"),
            Some(vec![Some(b'a'), Some(b'.'), Some(b'b'), None, Some(b'c')])
        );
        assert_eq!(plain_bytes(""), None);
        assert_eq!(plain_bytes("a+"), None);
        for re in ["a*", "a|b", "\\d", "(a)", "é", "a\\", "\\-", "[.]", " "] {
            assert_eq!(plain(re, true), None, "{re:?}");
        }
    }

    proptest! {
        #[test]
        fn plain_fast_path_equals_regex_syntax(parts in proptest::collection::vec(
            prop_oneof![Just("a"), Just("Z"), Just("7"), Just("_"), Just("-"), Just("."), Just("\\.")],
            0..12,
        )) {
            let re = parts.concat();
            prop_assert_eq!(plain(&re, true), Some(slow(&re, true)));
            let hir = slow(&re, false);
            prop_assert_eq!(plain_bytes(&re), crate::engine::dot_literal_of(&hir));
            prop_assert_eq!(plain(&re, false), Some(slow(&re, false)));
        }
    }

    fn full(re: &str, s: &str) -> bool {
        regex::Regex::new(&format!("^(?:{re})$"))
            .map(|r| r.is_match(s))
            .unwrap_or(false)
    }

    #[test]
    fn path_translation_examples() {
        assert_eq!(
            path_to_regex("**.q_proj").as_deref(),
            Ok(r"(?:[^.]+\.)*q_proj")
        );
        assert_eq!(
            path_to_regex("model.visual.**").as_deref(),
            Ok(r"model\.visual(?:\.[^.]+)*")
        );
        assert_eq!(path_to_regex("a.*.b").as_deref(), Ok(r"a\.[^.]+\.b"));
        assert_eq!(path_to_regex("**").as_deref(), Ok(r"[^.]+(?:\.[^.]+)*"));
        assert_eq!(
            path_to_regex("x.{q,k}_proj").as_deref(),
            Ok(r"x\.(?:q|k)_proj")
        );
    }

    #[test]
    fn layer_range_does_not_hit_layer_31() {
        let re = path_to_regex("model.layers.{0..3}.mlp.*_proj").unwrap_or_default();
        assert!(full(&re, "model.layers.3.mlp.up_proj"));
        assert!(!full(&re, "model.layers.31.mlp.up_proj"));
        assert!(!full(&re, "model.layers.03.mlp.up_proj"));
    }

    #[test]
    fn numeric_ranges_are_exact() {
        for (lo, hi) in [
            (0, 7),
            (5, 200),
            (0, 1000),
            (17, 4321),
            (99, 100),
            (123, 123456),
        ] {
            #[allow(clippy::regex_creation_in_loops)] // one regex per range under test
            let re = regex::Regex::new(&format!("^{}$", numeric_range_regex(lo, hi)))
                .expect("valid range regex");
            for x in 0..(hi + 50) {
                assert_eq!(
                    re.is_match(&x.to_string()),
                    (lo..=hi).contains(&x),
                    "{lo}..{hi} at {x}"
                );
            }
            assert!(!re.is_match("007"));
        }
    }

    #[test]
    fn path_errors_are_located() {
        let e = path_to_regex("model..x").err();
        assert_eq!(e.as_ref().map(|e| (e.start, e.end)), Some((5, 7)));
        let e = path_to_regex("a.{3..1}").err();
        assert_eq!(
            e.map(|e| e.message),
            Some("empty range `{3..1}`".to_string())
        );
        assert!(path_to_regex("a.{1..2").is_err());
        assert!(path_to_regex("a.b**").is_err());
    }
}
