//! Python 3.11 `re` patterns, parsed and translated for Rust.
//!
//! PEFT 0.21.2 matches module names with Python's `re` module (`re.fullmatch` for string
//! `target_modules` / `exclude_modules`, `re.match(rf"(.*\.)?({key})$", name)` for
//! `rank_pattern` / `alpha_pattern` keys, `re.match` for the layer index). This module
//! reproduces Python's parser (`re._parser`, Python 3.11.7) exactly enough to
//!
//! * reject every pattern Python rejects, with Python's message and position
//!   ([`PyRegexError`], kind `re.error`), including the patterns Rust would accept
//!   (`(?i)` not at the start, `(?<name>...)`, variable-width look-behind, ...);
//! * translate every accepted pattern into a pattern with the **same meaning** for the
//!   `regex` crate (when no backtracking construct is used) or the `fancy-regex` crate
//!   (look-around, back-references, atomic groups, possessive quantifiers, conditionals,
//!   Python word boundaries), never letting Rust reinterpret syntax silently:
//!   every literal is emitted as `\x{..}`, `\d` / `\w` / `\s` are emitted as Python's own
//!   Unicode 14.0 tables, `\Z` becomes `\z`, `$` becomes "end or before a final newline",
//!   `{,n}` becomes `{0,n}`, `[[`, `&&`, `--`, `~~` inside a set stay literals, etc.
//!
//! Known remaining differences (documented, not silent in practice for module names):
//! case-insensitive matching of non-ASCII letters uses Rust's simple case folding instead of
//! Python's `lower()`-based comparison, and `\b` / `\B` on an *empty* haystack (Python never
//! matches there; module names are never empty).
// The parser mirrors CPython's re._parser loop structure on purpose, so that
// it can be compared with it line by line.
#![allow(clippy::while_let_loop)]

use std::fmt;

/// Engine needed to run a translated pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The `regex` crate (finite automata; no backtracking construct used).
    Regex,
    /// The `fancy-regex` crate (a backtracking construct is used).
    Fancy,
}

/// A Python-only construct that needs a backtracking engine (no exact DFA translation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Construct {
    /// `(?=...)`
    LookAhead,
    /// `(?!...)`
    NegativeLookAhead,
    /// `(?<=...)`
    LookBehind,
    /// `(?<!...)`
    NegativeLookBehind,
    /// `\1`, `(?P=name)`
    Backreference,
    /// `(?>...)`
    AtomicGroup,
    /// `a*+`, `a++`, `a?+`, `a{m,n}+`
    PossessiveQuantifier,
    /// `(?(1)yes|no)`
    ConditionalGroup,
    /// `\b` (Python's Unicode word definition)
    WordBoundary,
    /// `\B`
    NotWordBoundary,
}

impl Construct {
    /// Human-readable name of the construct.
    pub fn name(self) -> &'static str {
        match self {
            Construct::LookAhead => "look-ahead (?=...)",
            Construct::NegativeLookAhead => "negative look-ahead (?!...)",
            Construct::LookBehind => "look-behind (?<=...)",
            Construct::NegativeLookBehind => "negative look-behind (?<!...)",
            Construct::Backreference => "back-reference",
            Construct::AtomicGroup => "atomic group (?>...)",
            Construct::PossessiveQuantifier => "possessive quantifier",
            Construct::ConditionalGroup => "conditional group (?(n)yes|no)",
            Construct::WordBoundary => "word boundary \\b",
            Construct::NotWordBoundary => "non-boundary \\B",
        }
    }
}

/// Which kind of failure a [`PyRegexError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PyRegexErrorKind {
    /// Python raises `re.error` (exception type name `error`).
    ReError,
    /// Python raises `OverflowError` (repeat count too large).
    OverflowError,
    /// Python raises `ValueError` (incompatible flags).
    ValueError,
    /// Python accepts the pattern but this crate cannot reproduce its meaning exactly.
    Unsupported,
}

/// A pattern Python rejects (or that cannot be reproduced exactly).
///
/// Reproduces the `re.error` raised by Python 3.11's `re._parser.parse` /
/// `re._compiler.compile`: `message` is Python's own text, `position` Python's position
/// (in characters), `byte_offset` the same position as a byte offset into `pattern`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PyRegexError {
    /// Kind of failure (Python exception type, or unsupported).
    pub kind: PyRegexErrorKind,
    /// Python's message (e.g. `missing ), unterminated subpattern`).
    pub message: String,
    /// The pattern as given.
    pub pattern: String,
    /// Python's error position (character index), when Python reports one.
    pub position: Option<usize>,
    /// The same position as a byte offset into `pattern`.
    pub byte_offset: Option<usize>,
    /// Name of the construct involved, when known (e.g. `global flags`, `look-behind`).
    pub construct: Option<&'static str>,
}

impl fmt::Display for PyRegexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            PyRegexErrorKind::ReError => "invalid Python regular expression (re.error)",
            PyRegexErrorKind::OverflowError => "invalid Python regular expression (OverflowError)",
            PyRegexErrorKind::ValueError => "invalid Python regular expression (ValueError)",
            PyRegexErrorKind::Unsupported => "Python regular expression not reproducible in Rust",
        };
        write!(f, "{what}: {}", self.message)?;
        if let Some(p) = self.position {
            write!(f, " at position {p}")?;
        }
        if let Some(b) = self.byte_offset {
            write!(f, " (byte offset {b})")?;
        }
        if let Some(c) = self.construct {
            write!(f, " [{c}]")?;
        }
        write!(f, " in pattern {:?}", self.pattern)
    }
}

impl PyRegexError {
    /// Python's `str(re.error)`: `message` plus ` at position N` when a position is known.
    pub fn python_message(&self) -> String {
        match self.position {
            Some(p) => format!("{} at position {}", self.message, p),
            None => self.message.clone(),
        }
    }
}

// ------------------------------------------------------------------------------------------
// Python 3.11 character tables
// ------------------------------------------------------------------------------------------

include!("pytables.rs");

// ------------------------------------------------------------------------------------------
// AST
// ------------------------------------------------------------------------------------------

const F_IGNORECASE: u32 = 2;
const F_LOCALE: u32 = 4;
const F_MULTILINE: u32 = 8;
const F_DOTALL: u32 = 16;
const F_UNICODE: u32 = 32;
const F_VERBOSE: u32 = 64;
const F_ASCII: u32 = 256;
const F_TEMPLATE: u32 = 1;
const TYPE_FLAGS: u32 = F_ASCII | F_LOCALE | F_UNICODE;
const MAXREPEAT: u64 = 4294967295;
const MAXGROUPS: usize = 1073741823;

fn flag_of(c: char) -> Option<u32> {
    Some(match c {
        'i' => F_IGNORECASE,
        'L' => F_LOCALE,
        'm' => F_MULTILINE,
        's' => F_DOTALL,
        'x' => F_VERBOSE,
        'a' => F_ASCII,
        't' => F_TEMPLATE,
        'u' => F_UNICODE,
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cat {
    Digit,
    NotDigit,
    Space,
    NotSpace,
    Word,
    NotWord,
}

#[derive(Debug, Clone, PartialEq)]
enum SetItem {
    Lit(char),
    Range(char, char),
    Cat(Cat),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    Beginning,
    BeginningString,
    End,
    EndString,
    Boundary,
    NonBoundary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RepKind {
    Greedy,
    Lazy,
    Possessive,
}

/// Effective flags of a node (after global and scoped flags).
type Flags = u32;

#[derive(Debug, Clone)]
#[allow(dead_code)]
enum Node {
    Lit(char, Flags),
    NotLit(char, Flags),
    Any(Flags),
    In(bool, Vec<SetItem>, Flags),
    At(At, Flags, usize),
    Repeat {
        min: u64,
        max: u64,
        kind: RepKind,
        body: Vec<Node>,
    },
    Group {
        cap: Option<usize>,
        body: Vec<Node>,
    },
    Branch(Vec<Vec<Node>>),
    Assert {
        behind: bool,
        neg: bool,
        body: Vec<Node>,
    },
    Atomic(Vec<Node>),
    GroupRef(usize, Flags),
    CondRef {
        group: usize,
        yes: Vec<Node>,
        no: Option<Vec<Node>>,
    },
}

// ------------------------------------------------------------------------------------------
// Tokenizer (port of re._parser.Tokenizer)
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Ch(char),
    Esc(char),
}

impl Tok {
    fn len(self) -> usize {
        match self {
            Tok::Ch(_) => 1,
            Tok::Esc(_) => 2,
        }
    }
    fn text(self) -> String {
        match self {
            Tok::Ch(c) => c.to_string(),
            Tok::Esc(c) => format!("\\{c}"),
        }
    }
}

struct RawErr {
    kind: PyRegexErrorKind,
    msg: String,
    pos: Option<usize>,
    construct: Option<&'static str>,
}

type PResult<T> = Result<T, RawErr>;

struct Tokenizer {
    chars: Vec<char>,
    index: usize,
    next: Option<Tok>,
}

impl Tokenizer {
    fn new(s: &str) -> PResult<Self> {
        let mut t = Tokenizer {
            chars: s.chars().collect(),
            index: 0,
            next: None,
        };
        t.advance()?;
        Ok(t)
    }
    fn advance(&mut self) -> PResult<()> {
        let index = self.index;
        let Some(&c) = self.chars.get(index) else {
            self.next = None;
            return Ok(());
        };
        if c == '\\' {
            match self.chars.get(index + 1) {
                Some(&d) => {
                    self.index = index + 2;
                    self.next = Some(Tok::Esc(d));
                }
                None => {
                    return Err(RawErr {
                        kind: PyRegexErrorKind::ReError,
                        msg: "bad escape (end of pattern)".into(),
                        pos: Some(self.chars.len().saturating_sub(1)),
                        construct: None,
                    });
                }
            }
        } else {
            self.index = index + 1;
            self.next = Some(Tok::Ch(c));
        }
        Ok(())
    }
    fn matches(&mut self, c: char) -> PResult<bool> {
        if self.next == Some(Tok::Ch(c)) {
            self.advance()?;
            return Ok(true);
        }
        Ok(false)
    }
    fn get(&mut self) -> PResult<Option<Tok>> {
        let this = self.next;
        self.advance()?;
        Ok(this)
    }
    fn next_is(&self, c: char) -> bool {
        self.next == Some(Tok::Ch(c))
    }
    fn next_char_in(&self, set: &str) -> Option<char> {
        match self.next {
            Some(Tok::Ch(c)) if set.contains(c) => Some(c),
            _ => None,
        }
    }
    fn getwhile(&mut self, n: usize, set: &str) -> PResult<String> {
        let mut r = String::new();
        for _ in 0..n {
            match self.next_char_in(set) {
                Some(c) => {
                    r.push(c);
                    self.advance()?;
                }
                None => break,
            }
        }
        Ok(r)
    }
    fn getuntil(&mut self, terminator: char, name: &str) -> PResult<String> {
        let mut result = String::new();
        loop {
            let c = self.next;
            self.advance()?;
            match c {
                None => {
                    if result.is_empty() {
                        return Err(self.error(format!("missing {name}"), 0));
                    }
                    let n = result.chars().count();
                    return Err(self.error(format!("missing {terminator}, unterminated name"), n));
                }
                Some(t) if t == Tok::Ch(terminator) => {
                    if result.is_empty() {
                        return Err(self.error(format!("missing {name}"), 1));
                    }
                    break;
                }
                Some(t) => result.push_str(&t.text()),
            }
        }
        Ok(result)
    }
    fn tell(&self) -> usize {
        self.index - self.next.map(|t| t.len()).unwrap_or(0)
    }
    fn seek(&mut self, index: usize) -> PResult<()> {
        self.index = index;
        self.advance()
    }
    fn error(&self, msg: String, offset: usize) -> RawErr {
        RawErr {
            kind: PyRegexErrorKind::ReError,
            msg,
            pos: Some(self.tell().saturating_sub(offset)),
            construct: None,
        }
    }
    fn checkgroupname(&self, name: &str, offset: usize) -> PResult<()> {
        if !is_identifier(name) {
            return Err(self.error(
                format!("bad character in group name {}", py_repr(name)),
                name.chars().count() + offset,
            ));
        }
        Ok(())
    }
}

fn is_identifier(s: &str) -> bool {
    // Python str.isidentifier(): XID_Start/underscore then XID_Continue. Approximated with
    // Rust's alphabetic/alphanumeric tests (exact for ASCII names).
    let mut it = s.chars();
    match it.next() {
        Some(c) if c == '_' || c.is_alphabetic() => {}
        _ => return false,
    }
    it.all(|c| c == '_' || c.is_alphanumeric())
}

fn py_repr(s: &str) -> String {
    if s.contains('\'') && !s.contains('"') {
        format!("\"{s}\"")
    } else {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

// ------------------------------------------------------------------------------------------
// Parser (port of re._parser._parse_sub / _parse)
// ------------------------------------------------------------------------------------------

struct State {
    flags: u32,
    groupdict: Vec<(String, usize)>,
    groupwidths: Vec<Option<(u64, u64)>>,
    lookbehindgroups: Option<usize>,
    grouprefpos: Vec<(usize, usize)>,
    constructs: Vec<(Construct, usize)>,
    /// Scoped flag stack: (add, del) pairs currently open.
    scopes: Vec<(u32, u32)>,
    has_dollar: bool,
    /// First error of the compile phase (raised only if parsing succeeds).
    deferred: Option<RawErr>,
}

impl State {
    fn groups(&self) -> usize {
        self.groupwidths.len()
    }
    fn eff(&self) -> Flags {
        let mut f = self.flags;
        for &(add, del) in &self.scopes {
            if add & TYPE_FLAGS != 0 {
                f &= !TYPE_FLAGS;
            }
            f = (f | add) & !del;
        }
        f
    }
    fn checkgroup(&self, gid: usize) -> bool {
        gid < self.groups() && self.groupwidths[gid].is_some()
    }
    fn checklookbehindgroup(&self, gid: usize, src: &Tokenizer) -> PResult<()> {
        if let Some(lb) = self.lookbehindgroups {
            if !self.checkgroup(gid) {
                return Err(src.error("cannot refer to an open group".into(), 0));
            }
            if gid >= lb {
                return Err(src.error(
                    "cannot refer to group defined in the same lookbehind subpattern".into(),
                    0,
                ));
            }
        }
        Ok(())
    }
    fn group_lookup(&self, name: &str) -> Option<usize> {
        self.groupdict
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, g)| *g)
    }
}

fn width(nodes: &[Node], st: &State) -> (u64, u64) {
    let mut lo: u64 = 0;
    let mut hi: u64 = 0;
    for n in nodes {
        let (i, j) = match n {
            Node::Branch(alts) => {
                let mut i = MAXREPEAT - 1;
                let mut j = 0;
                for a in alts {
                    let (l, h) = width(a, st);
                    i = i.min(l);
                    j = j.max(h);
                }
                (i, j)
            }
            Node::Atomic(b) | Node::Group { body: b, .. } => width(b, st),
            Node::Repeat { min, max, body, .. } => {
                let (i, j) = width(body, st);
                (i.saturating_mul(*min), j.saturating_mul(*max))
            }
            Node::Lit(..) | Node::NotLit(..) | Node::Any(..) | Node::In(..) => (1, 1),
            Node::GroupRef(g, _) => st.groupwidths.get(*g).copied().flatten().unwrap_or((0, 0)),
            Node::CondRef { yes, no, .. } => {
                let (mut i, mut j) = width(yes, st);
                match no {
                    Some(no) => {
                        let (l, h) = width(no, st);
                        i = i.min(l);
                        j = j.max(h);
                    }
                    None => i = 0,
                }
                (i, j)
            }
            Node::At(..) | Node::Assert { .. } => (0, 0),
        };
        lo = lo.saturating_add(i);
        hi = hi.saturating_add(j);
    }
    (lo.min(MAXREPEAT - 1), hi.min(MAXREPEAT))
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit()
}

fn escape_code(src: &mut Tokenizer, st: &mut State, esc: char, in_class: bool) -> PResult<Node> {
    // Returns Lit / In(single category) / At / GroupRef.
    let f = st.eff();
    let escape = format!("\\{esc}");
    if !in_class {
        let cat = match esc {
            'A' => Some(Node::At(At::BeginningString, f, 0)),
            'b' => Some(Node::At(At::Boundary, f, 0)),
            'B' => Some(Node::At(At::NonBoundary, f, 0)),
            'Z' => Some(Node::At(At::EndString, f, 0)),
            _ => None,
        };
        if let Some(c) = cat {
            return Ok(c);
        }
    }
    let cat = match esc {
        'd' => Some(Cat::Digit),
        'D' => Some(Cat::NotDigit),
        's' => Some(Cat::Space),
        'S' => Some(Cat::NotSpace),
        'w' => Some(Cat::Word),
        'W' => Some(Cat::NotWord),
        _ => None,
    };
    if let Some(c) = cat {
        return Ok(Node::In(false, vec![SetItem::Cat(c)], f));
    }
    let simple = match esc {
        'a' => Some('\x07'),
        'b' => Some('\x08'), // only reached inside a class
        'f' => Some('\x0c'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\x0b'),
        '\\' => Some('\\'),
        _ => None,
    };
    if let Some(c) = simple {
        return Ok(Node::Lit(c, f));
    }
    let bad = |src: &Tokenizer, e: &str| src.error(format!("bad escape {e}"), e.chars().count());
    match esc {
        'x' => {
            let h = src.getwhile(2, "0123456789abcdefABCDEF")?;
            let e = format!("{escape}{h}");
            if h.len() != 2 {
                return Err(src.error(format!("incomplete escape {e}"), e.chars().count()));
            }
            let v = u32::from_str_radix(&h, 16).unwrap_or(0);
            Ok(Node::Lit(char::from_u32(v).unwrap_or('\0'), f))
        }
        'u' | 'U' => {
            let n = if esc == 'u' { 4 } else { 8 };
            let h = src.getwhile(n, "0123456789abcdefABCDEF")?;
            let e = format!("{escape}{h}");
            if h.len() != n {
                return Err(src.error(format!("incomplete escape {e}"), e.chars().count()));
            }
            let v = u32::from_str_radix(&h, 16).unwrap_or(u32::MAX);
            match char::from_u32(v) {
                Some(c) => Ok(Node::Lit(c, f)),
                None => Err(bad(src, &e)),
            }
        }
        'N' => Err(RawErr {
            kind: PyRegexErrorKind::Unsupported,
            msg: "named Unicode escape \\N{...} is not supported by this translator".into(),
            pos: Some(src.tell().saturating_sub(2)),
            construct: Some("\\N{...}"),
        }),
        '0'..='7' if in_class => {
            let more = src.getwhile(2, "01234567")?;
            let e = format!("{escape}{more}");
            let v = u32::from_str_radix(&e[1..], 8).unwrap_or(0);
            if v > 0o377 {
                return Err(src.error(
                    format!("octal escape value {e} outside of range 0-0o377"),
                    e.chars().count(),
                ));
            }
            Ok(Node::Lit(char::from_u32(v).unwrap_or('\0'), f))
        }
        '0' => {
            let more = src.getwhile(2, "01234567")?;
            let v = u32::from_str_radix(&format!("0{more}"), 8).unwrap_or(0);
            Ok(Node::Lit(char::from_u32(v).unwrap_or('\0'), f))
        }
        '1'..='9' if !in_class => {
            let mut e = escape.clone();
            if let Some(Tok::Ch(d)) = src.next
                && is_digit(d)
            {
                src.get()?;
                e.push(d);
                let b: Vec<char> = e.chars().collect();
                if let Some(Tok::Ch(d3)) = src.next
                    && ('0'..='7').contains(&b[1])
                    && ('0'..='7').contains(&b[2])
                    && ('0'..='7').contains(&d3)
                {
                    src.get()?;
                    e.push(d3);
                    let v = u32::from_str_radix(&e[1..], 8).unwrap_or(0);
                    if v > 0o377 {
                        return Err(src.error(
                            format!("octal escape value {e} outside of range 0-0o377"),
                            e.chars().count(),
                        ));
                    }
                    return Ok(Node::Lit(char::from_u32(v).unwrap_or('\0'), f));
                }
            }
            let group: usize = e[1..].parse().unwrap_or(usize::MAX);
            if group < st.groups() {
                if !st.checkgroup(group) {
                    return Err(
                        src.error("cannot refer to an open group".into(), e.chars().count())
                    );
                }
                st.checklookbehindgroup(group, src)?;
                st.constructs
                    .push((Construct::Backreference, src.tell() - e.chars().count()));
                return Ok(Node::GroupRef(group, f));
            }
            Err(src.error(
                format!("invalid group reference {group}"),
                e.chars().count() - 1,
            ))
        }
        c if is_digit(c) => Err(bad(src, &escape)),
        c if c.is_ascii_alphabetic() => Err(bad(src, &escape)),
        c => Ok(Node::Lit(c, f)),
    }
}

fn parse_sub(
    src: &mut Tokenizer,
    st: &mut State,
    verbose: bool,
    nested: usize,
) -> PResult<Vec<Node>> {
    let mut items: Vec<Vec<Node>> = Vec::new();
    let mut verbose = verbose;
    loop {
        let first = nested == 0 && items.is_empty();
        let (item, v2) = parse(src, st, verbose, nested + 1, first)?;
        verbose = v2;
        items.push(item);
        if !src.matches('|')? {
            break;
        }
        if nested == 0 {
            verbose = st.flags & F_VERBOSE != 0;
        }
    }
    if items.len() == 1 {
        return Ok(items.pop().unwrap_or_default());
    }
    Ok(vec![Node::Branch(items)])
}

fn parse(
    src: &mut Tokenizer,
    st: &mut State,
    verbose: bool,
    nested: usize,
    first: bool,
) -> PResult<(Vec<Node>, bool)> {
    let mut sp: Vec<Node> = Vec::new();
    let mut verbose = verbose;
    loop {
        let Some(this) = src.next else { break };
        if this == Tok::Ch('|') || this == Tok::Ch(')') {
            break;
        }
        let this_start = src.tell();
        src.get()?;
        if verbose && let Tok::Ch(c) = this {
            if " \t\n\r\x0b\x0c".contains(c) {
                continue;
            }
            if c == '#' {
                loop {
                    match src.get()? {
                        None | Some(Tok::Ch('\n')) => break,
                        _ => {}
                    }
                }
                continue;
            }
        }
        let f = st.eff();
        match this {
            Tok::Esc(e) => {
                let mut node = escape_code(src, st, e, false)?;
                if let Node::At(a, fl, _) = node {
                    node = Node::At(a, fl, this_start);
                    match a {
                        At::Boundary => st.constructs.push((Construct::WordBoundary, this_start)),
                        At::NonBoundary => {
                            st.constructs.push((Construct::NotWordBoundary, this_start))
                        }
                        _ => {}
                    }
                }
                sp.push(node);
            }
            Tok::Ch(c) if !".\\[{()*+?^$|".contains(c) => sp.push(Node::Lit(c, f)),
            Tok::Ch('[') => {
                let here = src.tell() - 1;
                let mut set: Vec<SetItem> = Vec::new();
                let negate = src.matches('^')?;
                loop {
                    let Some(this) = src.get()? else {
                        return Err(
                            src.error("unterminated character set".into(), src.tell() - here)
                        );
                    };
                    if this == Tok::Ch(']') && !set.is_empty() {
                        break;
                    }
                    let code1 = match this {
                        Tok::Esc(e) => class_item(escape_code(src, st, e, true)?),
                        Tok::Ch(c) => SetItem::Lit(c),
                    };
                    if src.matches('-')? {
                        let Some(that) = src.get()? else {
                            return Err(
                                src.error("unterminated character set".into(), src.tell() - here)
                            );
                        };
                        if that == Tok::Ch(']') {
                            set.push(code1);
                            set.push(SetItem::Lit('-'));
                            break;
                        }
                        let code2 = match that {
                            Tok::Esc(e) => class_item(escape_code(src, st, e, true)?),
                            Tok::Ch(c) => SetItem::Lit(c),
                        };
                        let (SetItem::Lit(lo), SetItem::Lit(hi)) = (&code1, &code2) else {
                            let m = format!("bad character range {}-{}", this.text(), that.text());
                            return Err(src.error(m, this.len() + 1 + that.len()));
                        };
                        if hi < lo {
                            let m = format!("bad character range {}-{}", this.text(), that.text());
                            return Err(src.error(m, this.len() + 1 + that.len()));
                        }
                        set.push(SetItem::Range(*lo, *hi));
                    } else {
                        set.push(code1);
                    }
                }
                if set.len() == 1
                    && let SetItem::Lit(c) = set[0]
                {
                    sp.push(if negate {
                        Node::NotLit(c, f)
                    } else {
                        Node::Lit(c, f)
                    });
                    continue;
                }
                sp.push(Node::In(negate, set, f));
            }
            Tok::Ch(c @ ('*' | '+' | '?' | '{')) => {
                let here = src.tell();
                let (min, max);
                if c == '?' {
                    (min, max) = (0, 1);
                } else if c == '*' {
                    (min, max) = (0, MAXREPEAT);
                } else if c == '+' {
                    (min, max) = (1, MAXREPEAT);
                } else {
                    if src.next_is('}') {
                        sp.push(Node::Lit('{', f));
                        continue;
                    }
                    let mut lo = String::new();
                    let mut hi = String::new();
                    while let Some(d) = src.next_char_in("0123456789") {
                        lo.push(d);
                        src.get()?;
                    }
                    if src.matches(',')? {
                        while let Some(d) = src.next_char_in("0123456789") {
                            hi.push(d);
                            src.get()?;
                        }
                    } else {
                        hi = lo.clone();
                    }
                    if !src.matches('}')? {
                        sp.push(Node::Lit('{', f));
                        src.seek(here)?;
                        continue;
                    }
                    let overflow = || RawErr {
                        kind: PyRegexErrorKind::OverflowError,
                        msg: "the repetition number is too large".into(),
                        pos: None,
                        construct: None,
                    };
                    let mut mn = 0u64;
                    let mut mx = MAXREPEAT;
                    if !lo.is_empty() {
                        mn = lo.parse::<u64>().unwrap_or(u64::MAX);
                        if mn >= MAXREPEAT {
                            return Err(overflow());
                        }
                    }
                    if !hi.is_empty() {
                        mx = hi.parse::<u64>().unwrap_or(u64::MAX);
                        if mx >= MAXREPEAT {
                            return Err(overflow());
                        }
                        if mx < mn {
                            return Err(src.error(
                                "min repeat greater than max repeat".into(),
                                src.tell() - here,
                            ));
                        }
                    }
                    (min, max) = (mn, mx);
                }
                let thislen = 1;
                let item = match sp.last() {
                    None | Some(Node::At(..)) => {
                        return Err(
                            src.error("nothing to repeat".into(), src.tell() - here + thislen)
                        );
                    }
                    Some(Node::Repeat { .. }) => {
                        return Err(
                            src.error("multiple repeat".into(), src.tell() - here + thislen)
                        );
                    }
                    Some(_) => sp.pop().unwrap_or(Node::Any(f)),
                };
                let body = match item {
                    Node::Group { cap: None, body } => body,
                    other => vec![other],
                };
                let kind = if src.matches('?')? {
                    RepKind::Lazy
                } else if src.matches('+')? {
                    st.constructs
                        .push((Construct::PossessiveQuantifier, here - 1));
                    RepKind::Possessive
                } else {
                    RepKind::Greedy
                };
                sp.push(Node::Repeat {
                    min,
                    max,
                    kind,
                    body,
                });
            }
            Tok::Ch('.') => sp.push(Node::Any(f)),
            Tok::Ch('(') => {
                let start = src.tell() - 1;
                let mut capture = true;
                let mut atomic = false;
                let mut name: Option<String> = None;
                let mut scoped: Option<(u32, u32)> = None;
                if src.matches('?')? {
                    let Some(ch) = src.get()? else {
                        return Err(src.error("unexpected end of pattern".into(), 0));
                    };
                    match ch {
                        Tok::Ch('P') => {
                            if src.matches('<')? {
                                let n = src.getuntil('>', "group name")?;
                                src.checkgroupname(&n, 1)?;
                                name = Some(n);
                            } else if src.matches('=')? {
                                let n = src.getuntil(')', "group name")?;
                                src.checkgroupname(&n, 1)?;
                                let Some(gid) = st.group_lookup(&n) else {
                                    return Err(src.error(
                                        format!("unknown group name {}", py_repr(&n)),
                                        n.chars().count() + 1,
                                    ));
                                };
                                if !st.checkgroup(gid) {
                                    return Err(src.error(
                                        "cannot refer to an open group".into(),
                                        n.chars().count() + 1,
                                    ));
                                }
                                st.checklookbehindgroup(gid, src)?;
                                st.constructs.push((Construct::Backreference, start));
                                sp.push(Node::GroupRef(gid, f));
                                continue;
                            } else {
                                let Some(c2) = src.get()? else {
                                    return Err(src.error("unexpected end of pattern".into(), 0));
                                };
                                return Err(src.error(
                                    format!("unknown extension ?P{}", c2.text()),
                                    c2.len() + 2,
                                ));
                            }
                        }
                        Tok::Ch(':') => capture = false,
                        Tok::Ch('#') => {
                            loop {
                                if src.next.is_none() {
                                    return Err(src.error(
                                        "missing ), unterminated comment".into(),
                                        src.tell() - start,
                                    ));
                                }
                                if src.get()? == Some(Tok::Ch(')')) {
                                    break;
                                }
                            }
                            continue;
                        }
                        Tok::Ch(c0 @ ('=' | '!' | '<')) => {
                            let mut dir_behind = false;
                            let mut kindc = c0;
                            let mut saved_lb = st.lookbehindgroups;
                            if c0 == '<' {
                                let Some(c2) = src.get()? else {
                                    return Err(src.error("unexpected end of pattern".into(), 0));
                                };
                                match c2 {
                                    Tok::Ch(k @ ('=' | '!')) => kindc = k,
                                    other => {
                                        return Err(src.error(
                                            format!("unknown extension ?<{}", other.text()),
                                            other.len() + 2,
                                        ));
                                    }
                                }
                                dir_behind = true;
                                saved_lb = st.lookbehindgroups;
                                if saved_lb.is_none() {
                                    st.lookbehindgroups = Some(st.groups());
                                }
                            }
                            let p = parse_sub(src, st, verbose, nested + 1)?;
                            if dir_behind && saved_lb.is_none() {
                                st.lookbehindgroups = None;
                            }
                            if !src.matches(')')? {
                                return Err(src.error(
                                    "missing ), unterminated subpattern".into(),
                                    src.tell() - start,
                                ));
                            }
                            let neg = kindc == '!';
                            let c = match (dir_behind, neg) {
                                (false, false) => Construct::LookAhead,
                                (false, true) => Construct::NegativeLookAhead,
                                (true, false) => Construct::LookBehind,
                                (true, true) => Construct::NegativeLookBehind,
                            };
                            st.constructs.push((c, start));
                            if dir_behind {
                                let (lo, hi) = width(&p, st);
                                if lo != hi && st.deferred.is_none() {
                                    st.deferred = Some(RawErr {
                                        kind: PyRegexErrorKind::ReError,
                                        msg: "look-behind requires fixed-width pattern".into(),
                                        pos: None,
                                        construct: Some("look-behind"),
                                    });
                                }
                                if contains_groupref(&p) && st.deferred.is_none() {
                                    st.deferred = Some(RawErr {
                                        kind: PyRegexErrorKind::Unsupported,
                                        msg: "back-reference inside a look-behind cannot be reproduced exactly".into(),
                                        pos: Some(start),
                                        construct: Some("look-behind"),
                                    });
                                }
                            }
                            sp.push(Node::Assert {
                                behind: dir_behind,
                                neg,
                                body: p,
                            });
                            continue;
                        }
                        Tok::Ch('(') => {
                            let condname = src.getuntil(')', "group name")?;
                            let n = condname.chars().count();
                            let condgroup;
                            if is_identifier(&condname) {
                                src.checkgroupname(&condname, 1)?;
                                match st.group_lookup(&condname) {
                                    Some(g) => condgroup = g,
                                    None => {
                                        return Err(src.error(
                                            format!("unknown group name {}", py_repr(&condname)),
                                            n + 1,
                                        ));
                                    }
                                }
                            } else {
                                let parsed = if !condname.is_empty()
                                    && condname.chars().all(|c| c.is_ascii_digit())
                                {
                                    condname.parse::<usize>().ok()
                                } else {
                                    None
                                };
                                let Some(g) = parsed else {
                                    return Err(src.error(
                                        format!(
                                            "bad character in group name {}",
                                            py_repr(&condname)
                                        ),
                                        n + 1,
                                    ));
                                };
                                if g == 0 {
                                    return Err(src.error("bad group number".into(), n + 1));
                                }
                                if g >= MAXGROUPS {
                                    return Err(
                                        src.error(format!("invalid group reference {g}"), n + 1)
                                    );
                                }
                                if !st.grouprefpos.iter().any(|(gg, _)| *gg == g) {
                                    st.grouprefpos.push((g, src.tell() - n - 1));
                                }
                                condgroup = g;
                            }
                            st.checklookbehindgroup(condgroup, src)?;
                            st.constructs.push((Construct::ConditionalGroup, start));
                            let (yes, v) = parse(src, st, verbose, nested + 1, false)?;
                            verbose = v;
                            let no = if src.matches('|')? {
                                let (no, v) = parse(src, st, verbose, nested + 1, false)?;
                                verbose = v;
                                if src.next_is('|') {
                                    return Err(src.error(
                                        "conditional backref with more than two branches".into(),
                                        0,
                                    ));
                                }
                                Some(no)
                            } else {
                                None
                            };
                            if !src.matches(')')? {
                                return Err(src.error(
                                    "missing ), unterminated subpattern".into(),
                                    src.tell() - start,
                                ));
                            }
                            sp.push(Node::CondRef {
                                group: condgroup,
                                yes,
                                no,
                            });
                            continue;
                        }
                        Tok::Ch('>') => {
                            capture = false;
                            atomic = true;
                            st.constructs.push((Construct::AtomicGroup, start));
                        }
                        Tok::Ch(c) if flag_of(c).is_some() || c == '-' => {
                            match parse_flags(src, st, c)? {
                                None => {
                                    if !first || !sp.is_empty() {
                                        let mut e = src.error(
                                            "global flags not at the start of the expression"
                                                .into(),
                                            src.tell() - start,
                                        );
                                        e.construct = Some("global inline flags");
                                        return Err(e);
                                    }
                                    if st.flags & F_TEMPLATE != 0 {
                                        return Err(RawErr {
                                            kind: PyRegexErrorKind::Unsupported,
                                            msg: "the TEMPLATE flag (?t) is not supported".into(),
                                            pos: Some(start),
                                            construct: Some("(?t)"),
                                        });
                                    }
                                    verbose = st.flags & F_VERBOSE != 0;
                                    continue;
                                }
                                Some(fl) => {
                                    scoped = Some(fl);
                                    capture = false;
                                }
                            }
                        }
                        other => {
                            return Err(src.error(
                                format!("unknown extension ?{}", other.text()),
                                other.len() + 1,
                            ));
                        }
                    }
                }
                let group = if capture {
                    let gid = st.groups();
                    st.groupwidths.push(None);
                    if st.groups() > MAXGROUPS {
                        return Err(src.error(
                            "too many groups".into(),
                            name.as_ref().map(|n| n.chars().count() + 1).unwrap_or(0),
                        ));
                    }
                    if let Some(n) = &name {
                        if let Some(og) = st.group_lookup(n) {
                            return Err(src.error(
                                format!(
                                    "redefinition of group name {} as group {gid}; was group {og}",
                                    py_repr(n)
                                ),
                                n.chars().count() + 1,
                            ));
                        }
                        st.groupdict.push((n.clone(), gid));
                    }
                    Some(gid)
                } else {
                    None
                };
                let (add, del) = scoped.unwrap_or((0, 0));
                let sub_verbose = (verbose || add & F_VERBOSE != 0) && del & F_VERBOSE == 0;
                if scoped.is_some() {
                    st.scopes.push((add, del));
                }
                let p = parse_sub(src, st, sub_verbose, nested + 1);
                if scoped.is_some() {
                    st.scopes.pop();
                }
                let p = p?;
                if !src.matches(')')? {
                    return Err(src.error(
                        "missing ), unterminated subpattern".into(),
                        src.tell() - start,
                    ));
                }
                if let Some(g) = group {
                    let w = width(&p, st);
                    st.groupwidths[g] = Some(w);
                }
                if atomic {
                    sp.push(Node::Atomic(p));
                } else {
                    sp.push(Node::Group {
                        cap: group,
                        body: p,
                    });
                }
            }
            Tok::Ch('^') => sp.push(Node::At(At::Beginning, f, this_start)),
            Tok::Ch('$') => {
                if f & F_MULTILINE == 0 {
                    st.has_dollar = true;
                }
                sp.push(Node::At(At::End, f, this_start))
            }
            Tok::Ch(_) => {
                return Err(src.error("internal: unexpected special character".into(), 1));
            }
        }
    }
    // unpack non-capturing groups without flags
    let mut out = Vec::with_capacity(sp.len());
    for n in sp {
        match n {
            Node::Group { cap: None, body } => out.extend(body),
            other => out.push(other),
        }
    }
    Ok((out, verbose))
}

fn contains_groupref(nodes: &[Node]) -> bool {
    nodes.iter().any(|n| match n {
        Node::GroupRef(..) | Node::CondRef { .. } => true,
        Node::Repeat { body, .. }
        | Node::Group { body, .. }
        | Node::Atomic(body)
        | Node::Assert { body, .. } => contains_groupref(body),
        Node::Branch(a) => a.iter().any(|b| contains_groupref(b)),
        _ => false,
    })
}

fn class_item(n: Node) -> SetItem {
    match n {
        Node::Lit(c, _) => SetItem::Lit(c),
        Node::In(_, mut items, _) if items.len() == 1 => items.pop().unwrap_or(SetItem::Lit('\0')),
        _ => SetItem::Lit('\0'),
    }
}

fn parse_flags(src: &mut Tokenizer, st: &mut State, first: char) -> PResult<Option<(u32, u32)>> {
    let mut add = 0u32;
    let mut del = 0u32;
    let mut ch = Some(Tok::Ch(first));
    if first != '-' {
        loop {
            let c = match ch {
                Some(Tok::Ch(c)) => c,
                _ => break,
            };
            let Some(flag) = flag_of(c) else { break };
            if c == 'L' {
                return Err(src.error(
                    "bad inline flags: cannot use 'L' flag with a str pattern".into(),
                    0,
                ));
            }
            add |= flag;
            if flag & TYPE_FLAGS != 0 && (add & TYPE_FLAGS) != flag {
                return Err(src.error(
                    "bad inline flags: flags 'a', 'u' and 'L' are incompatible".into(),
                    0,
                ));
            }
            ch = src.get()?;
            match ch {
                None => return Err(src.error("missing -, : or )".into(), 0)),
                Some(Tok::Ch(')' | '-' | ':')) => break,
                Some(Tok::Ch(c)) if flag_of(c).is_some() => {}
                Some(t) => {
                    let msg = match t {
                        Tok::Ch(c) if c.is_alphabetic() => "unknown flag",
                        _ => "missing -, : or )",
                    };
                    return Err(src.error(msg.into(), t.len()));
                }
            }
        }
    }
    if ch == Some(Tok::Ch(')')) {
        st.flags |= add;
        if st.flags & F_ASCII != 0 && st.flags & F_UNICODE != 0 {
            return Err(RawErr {
                kind: PyRegexErrorKind::ValueError,
                msg: "ASCII and UNICODE flags are incompatible".into(),
                pos: None,
                construct: Some("inline flags"),
            });
        }
        return Ok(None);
    }
    if add & F_TEMPLATE != 0 {
        return Err(src.error("bad inline flags: cannot turn on global flag".into(), 1));
    }
    if ch == Some(Tok::Ch('-')) {
        ch = src.get()?;
        match ch {
            None => return Err(src.error("missing flag".into(), 0)),
            Some(Tok::Ch(c)) if flag_of(c).is_some() => {}
            Some(t) => {
                let msg = match t {
                    Tok::Ch(c) if c.is_alphabetic() => "unknown flag",
                    _ => "missing flag",
                };
                return Err(src.error(msg.into(), t.len()));
            }
        }
        loop {
            let c = match ch {
                Some(Tok::Ch(c)) => c,
                _ => break,
            };
            let Some(flag) = flag_of(c) else { break };
            if flag & TYPE_FLAGS != 0 {
                return Err(src.error(
                    "bad inline flags: cannot turn off flags 'a', 'u' and 'L'".into(),
                    0,
                ));
            }
            del |= flag;
            ch = src.get()?;
            match ch {
                None => return Err(src.error("missing :".into(), 0)),
                Some(Tok::Ch(':')) => break,
                Some(Tok::Ch(c)) if flag_of(c).is_some() => {}
                Some(t) => {
                    let msg = match t {
                        Tok::Ch(c) if c.is_alphabetic() => "unknown flag",
                        _ => "missing :",
                    };
                    return Err(src.error(msg.into(), t.len()));
                }
            }
        }
    }
    if del & F_TEMPLATE != 0 {
        return Err(src.error("bad inline flags: cannot turn off global flag".into(), 1));
    }
    if add & del != 0 {
        return Err(src.error("bad inline flags: flag turned on and off".into(), 1));
    }
    Ok(Some((add, del)))
}

struct Parsed {
    nodes: Vec<Node>,
    groups: usize,
    names: Vec<(String, usize)>,
    constructs: Vec<(Construct, usize)>,
    has_dollar: bool,
}

fn parse_pattern(pattern: &str) -> Result<Parsed, PyRegexError> {
    let mk = |e: RawErr| to_error(pattern, e);
    let mut src = Tokenizer::new(pattern).map_err(mk)?;
    let mut st = State {
        flags: 0,
        groupdict: Vec::new(),
        groupwidths: vec![None],
        lookbehindgroups: None,
        grouprefpos: Vec::new(),
        constructs: Vec::new(),
        scopes: Vec::new(),
        has_dollar: false,
        deferred: None,
    };
    let nodes = parse_sub(&mut src, &mut st, false, 0).map_err(mk)?;
    if src.next.is_some() {
        return Err(mk(src.error("unbalanced parenthesis".into(), 0)));
    }
    for &(g, pos) in &st.grouprefpos {
        if g >= st.groups() {
            return Err(mk(RawErr {
                kind: PyRegexErrorKind::ReError,
                msg: format!("invalid group reference {g}"),
                pos: Some(pos),
                construct: Some("conditional group"),
            }));
        }
    }
    if let Some(e) = st.deferred.take() {
        return Err(mk(e));
    }
    if contains_casei_groupref(&nodes) {
        return Err(PyRegexError {
            kind: PyRegexErrorKind::Unsupported,
            message: "case-insensitive back-reference cannot be reproduced exactly".into(),
            pattern: pattern.to_string(),
            position: None,
            byte_offset: None,
            construct: Some("back-reference"),
        });
    }
    Ok(Parsed {
        nodes,
        groups: st.groups() - 1,
        names: st.groupdict.clone(),
        constructs: st.constructs,
        has_dollar: st.has_dollar,
    })
}

fn contains_casei_groupref(nodes: &[Node]) -> bool {
    nodes.iter().any(|n| match n {
        Node::GroupRef(_, f) => f & F_IGNORECASE != 0,
        Node::Repeat { body, .. }
        | Node::Group { body, .. }
        | Node::Atomic(body)
        | Node::Assert { body, .. } => contains_casei_groupref(body),
        Node::Branch(a) => a.iter().any(|b| contains_casei_groupref(b)),
        Node::CondRef { yes, no, .. } => {
            contains_casei_groupref(yes)
                || no
                    .as_ref()
                    .map(|n| contains_casei_groupref(n))
                    .unwrap_or(false)
        }
        _ => false,
    })
}

fn char_to_byte(pattern: &str, pos: usize) -> usize {
    pattern
        .char_indices()
        .nth(pos)
        .map(|(b, _)| b)
        .unwrap_or(pattern.len())
}

fn to_error(pattern: &str, e: RawErr) -> PyRegexError {
    PyRegexError {
        kind: e.kind,
        byte_offset: e.pos.map(|p| char_to_byte(pattern, p)),
        position: e.pos,
        message: e.msg,
        pattern: pattern.to_string(),
        construct: e.construct,
    }
}

// ------------------------------------------------------------------------------------------
// Emission
// ------------------------------------------------------------------------------------------

fn push_char(out: &mut String, c: char) {
    if c.is_ascii_alphanumeric() || c == '_' {
        out.push(c);
    } else {
        out.push_str(&format!("\\x{{{:X}}}", c as u32));
    }
}

fn push_table(out: &mut String, table: &[(u32, u32)], negate: bool) {
    out.push('[');
    if negate {
        out.push('^');
    }
    for &(a, b) in table {
        let (Some(a), Some(b)) = (char::from_u32(a), char::from_u32(b)) else {
            continue;
        };
        push_char(out, a);
        if b != a {
            out.push('-');
            push_char(out, b);
        }
    }
    out.push(']');
}

const ASCII_WORD: &[(u32, u32)] = &[(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)];
const ASCII_DIGIT: &[(u32, u32)] = &[(0x30, 0x39)];
const ASCII_SPACE: &[(u32, u32)] = &[(0x09, 0x0D), (0x20, 0x20)];

fn cat_table(c: Cat, ascii: bool) -> (&'static [(u32, u32)], bool) {
    let (t, neg) = match c {
        Cat::Digit => (if ascii { ASCII_DIGIT } else { PY_DIGIT }, false),
        Cat::NotDigit => (if ascii { ASCII_DIGIT } else { PY_DIGIT }, true),
        Cat::Space => (if ascii { ASCII_SPACE } else { PY_SPACE }, false),
        Cat::NotSpace => (if ascii { ASCII_SPACE } else { PY_SPACE }, true),
        Cat::Word => (if ascii { ASCII_WORD } else { PY_WORD }, false),
        Cat::NotWord => (if ascii { ASCII_WORD } else { PY_WORD }, true),
    };
    (t, neg)
}

struct Emitter {
    /// Emit `$` as `(?=\n?\z)` (exact, needs fancy) instead of `\z`.
    exact_dollar: bool,
}

fn is_ascii_mode(f: Flags) -> bool {
    f & F_ASCII != 0
}

impl Emitter {
    fn lit(&self, out: &mut String, c: char, f: Flags) {
        if f & F_IGNORECASE != 0 && c.is_alphabetic() {
            if is_ascii_mode(f) {
                if c.is_ascii_alphabetic() {
                    out.push('[');
                    out.push(c.to_ascii_lowercase());
                    out.push(c.to_ascii_uppercase());
                    out.push(']');
                } else {
                    push_char(out, c);
                }
            } else {
                out.push_str("(?i:");
                push_char(out, c);
                out.push(')');
            }
        } else {
            push_char(out, c);
        }
    }

    fn class(&self, out: &mut String, negate: bool, items: &[SetItem], f: Flags) {
        let ci = f & F_IGNORECASE != 0;
        let ascii = is_ascii_mode(f);
        if ci && !ascii {
            out.push_str("(?i:");
        }
        out.push('[');
        if negate {
            out.push('^');
        }
        for it in items {
            match it {
                SetItem::Lit(c) => {
                    push_char(out, *c);
                    if ci && ascii && c.is_ascii_alphabetic() {
                        out.push(c.to_ascii_lowercase());
                        out.push(c.to_ascii_uppercase());
                    }
                }
                SetItem::Range(a, b) => {
                    push_char(out, *a);
                    out.push('-');
                    push_char(out, *b);
                    if ci && ascii {
                        // add the other-case image of the ASCII letters in the range
                        for c in (*a as u32).max(0x41)..=(*b as u32).min(0x7A) {
                            if let Some(ch) = char::from_u32(c)
                                && ch.is_ascii_alphabetic()
                            {
                                out.push(ch.to_ascii_lowercase());
                                out.push(ch.to_ascii_uppercase());
                            }
                        }
                    }
                }
                SetItem::Cat(c) => {
                    let (t, neg) = cat_table(*c, ascii);
                    push_table(out, t, neg);
                }
            }
        }
        out.push(']');
        if ci && !ascii {
            out.push(')');
        }
    }

    fn word_class(&self, f: Flags) -> String {
        let mut s = String::new();
        push_table(
            &mut s,
            if is_ascii_mode(f) {
                ASCII_WORD
            } else {
                PY_WORD
            },
            false,
        );
        s
    }

    fn seq(&self, out: &mut String, nodes: &[Node]) {
        for n in nodes {
            self.node(out, n);
        }
    }

    fn node(&self, out: &mut String, n: &Node) {
        match n {
            Node::Lit(c, f) => self.lit(out, *c, *f),
            Node::NotLit(c, f) => self.class(out, true, &[SetItem::Lit(*c)], *f),
            Node::Any(f) => out.push_str(if f & F_DOTALL != 0 {
                "(?s:.)"
            } else {
                "(?-s:.)"
            }),
            Node::In(neg, items, f) => self.class(out, *neg, items, *f),
            Node::At(a, f, _pos) => match a {
                At::Beginning => out.push_str(if f & F_MULTILINE != 0 {
                    "(?m:^)"
                } else {
                    "\\A"
                }),
                At::BeginningString => out.push_str("\\A"),
                At::EndString => out.push_str("\\z"),
                At::End => {
                    if f & F_MULTILINE != 0 {
                        out.push_str("(?m:$)");
                    } else if self.exact_dollar {
                        out.push_str("(?=\\x{A}?\\z)");
                    } else {
                        out.push_str("\\z");
                    }
                }
                At::Boundary => {
                    let w = self.word_class(*f);
                    out.push_str(&format!("(?:(?<={w})(?!{w})|(?<!{w})(?={w}))"));
                }
                At::NonBoundary => {
                    let w = self.word_class(*f);
                    out.push_str(&format!("(?:(?<={w})(?={w})|(?<!{w})(?!{w}))"));
                }
            },
            Node::Repeat {
                min,
                max,
                kind,
                body,
            } => {
                if *kind == RepKind::Possessive {
                    out.push_str("(?>");
                }
                out.push_str("(?:");
                self.seq(out, body);
                out.push(')');
                if *max >= MAXREPEAT {
                    out.push_str(&format!("{{{min},}}"));
                } else {
                    out.push_str(&format!("{{{min},{max}}}"));
                }
                if *kind == RepKind::Lazy {
                    out.push('?');
                }
                if *kind == RepKind::Possessive {
                    out.push(')');
                }
            }
            Node::Group { cap, body } => {
                out.push_str(if cap.is_some() { "(" } else { "(?:" });
                self.seq(out, body);
                out.push(')');
            }
            Node::Branch(alts) => {
                out.push_str("(?:");
                for (i, a) in alts.iter().enumerate() {
                    if i > 0 {
                        out.push('|');
                    }
                    self.seq(out, a);
                }
                out.push(')');
            }
            Node::Assert { behind, neg, body } => {
                out.push_str(match (behind, neg) {
                    (false, false) => "(?=",
                    (false, true) => "(?!",
                    (true, false) => "(?<=",
                    (true, true) => "(?<!",
                });
                self.seq(out, body);
                out.push(')');
            }
            Node::Atomic(body) => {
                out.push_str("(?>");
                self.seq(out, body);
                out.push(')');
            }
            Node::GroupRef(g, _) => out.push_str(&format!("\\{g}")),
            Node::CondRef { group, yes, no } => {
                out.push_str(&format!("(?({group})"));
                out.push_str("(?:");
                self.seq(out, yes);
                out.push(')');
                out.push('|');
                out.push_str("(?:");
                if let Some(no) = no {
                    self.seq(out, no);
                }
                out.push(')');
                out.push(')');
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// Public API
// ------------------------------------------------------------------------------------------

/// A Python pattern translated for Rust.
#[derive(Debug, Clone)]
pub struct Translated {
    /// The Python pattern as given.
    pub python: String,
    /// Equivalent pattern for [`Translated::engine`] (unanchored: the same meaning as the
    /// Python pattern at a given position; wrap it for `match` / `fullmatch`).
    pub rust: String,
    /// Which crate must run [`Translated::rust`].
    pub engine: Engine,
    /// Backtracking constructs used, with their byte offsets in `python`.
    pub constructs: Vec<(Construct, usize)>,
    /// Number of capturing groups (same numbering as Python).
    pub groups: usize,
    /// Named groups (name, group number).
    pub group_names: Vec<(String, usize)>,
    /// With `engine == Regex`: the pattern uses a non-multiline `$`, which Python also
    /// matches before a final `"\n"`; [`Translated::rust`] assumes the haystack has no
    /// `"\n"`, and [`Translated::rust_newline_exact`] is the exact (fancy) form.
    pub dollar_before_final_newline: bool,
    /// Exact fancy-regex form of the pattern (always valid for `fancy-regex`).
    pub rust_newline_exact: String,
}

/// Parse a Python 3.11 `re` pattern and translate it for Rust.
///
/// Reproduces `re.compile(pattern)` of Python 3.11.7 (`re._parser.parse` +
/// `re._compiler.compile`): errors carry Python's message, position and exception type.
/// On success, says which engine (`regex` or `fancy-regex`) runs the translation.
pub fn translate_python_regex(pattern: &str) -> Result<Translated, PyRegexError> {
    let p = parse_pattern(pattern)?;
    let engine = if p.constructs.is_empty() {
        Engine::Regex
    } else {
        Engine::Fancy
    };
    let mut rust = String::new();
    Emitter {
        exact_dollar: engine == Engine::Fancy,
    }
    .seq(&mut rust, &p.nodes);
    let mut exact = String::new();
    Emitter { exact_dollar: true }.seq(&mut exact, &p.nodes);
    let constructs = p
        .constructs
        .iter()
        .map(|&(c, pos)| (c, char_to_byte(pattern, pos)))
        .collect();
    Ok(Translated {
        python: pattern.to_string(),
        rust,
        engine,
        constructs,
        groups: p.groups,
        group_names: p.names,
        dollar_before_final_newline: engine == Engine::Regex && p.has_dollar,
        rust_newline_exact: exact,
    })
}

/// Tell whether a Python pattern needs a construct no DFA can represent exactly
/// (look-around, back-reference, atomic group, possessive quantifier, conditional group,
/// Python-Unicode word boundary). Returns the first such construct and its byte offset,
/// `None` when an exact DFA translation exists, or Python's error for an invalid pattern.
pub fn non_dfa_construct(pattern: &str) -> Result<Option<(Construct, usize)>, PyRegexError> {
    let t = translate_python_regex(pattern)?;
    Ok(t.constructs.iter().min_by_key(|(_, pos)| *pos).copied())
}

enum Compiled {
    Plain(regex::Regex),
    Fancy(Box<fancy_regex::Regex>),
}

/// A compiled Python pattern in one matching mode (`re.match` or `re.fullmatch`).
#[derive(Clone)]
pub struct PyRegex {
    translated: Translated,
    main: std::sync::Arc<Compiled>,
    /// Exact form for haystacks containing `"\n"` (only when `$` needs it).
    newline: Option<std::sync::Arc<Compiled>>,
}

impl fmt::Debug for PyRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PyRegex")
            .field("python", &self.translated.python)
            .field("rust", &self.translated.rust)
            .finish()
    }
}

/// Matching mode of a [`PyRegex`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `re.match`: anchored at the start, may end anywhere.
    Match,
    /// `re.fullmatch`: anchored at both ends.
    FullMatch,
}

fn compile_one(
    body: &str,
    mode: Mode,
    fancy: bool,
    t: &Translated,
) -> Result<Compiled, PyRegexError> {
    let wrapped = match mode {
        Mode::Match => format!("\\A(?:{body})"),
        Mode::FullMatch => format!("\\A(?:{body})\\z"),
    };
    let unsupported = |msg: String| PyRegexError {
        kind: PyRegexErrorKind::Unsupported,
        message: msg,
        pattern: t.python.clone(),
        position: None,
        byte_offset: None,
        construct: None,
    };
    if fancy {
        fancy_regex::RegexBuilder::new(&wrapped)
            .backtrack_limit(10_000_000)
            .build()
            .map(|r| Compiled::Fancy(Box::new(r)))
            .map_err(|e| unsupported(format!("fancy-regex cannot compile the translation: {e}")))
    } else {
        regex::RegexBuilder::new(&wrapped)
            .size_limit(256 << 20)
            .build()
            .map(Compiled::Plain)
            .map_err(|e| unsupported(format!("regex cannot compile the translation: {e}")))
    }
}

/// Outcome of a match: group texts by number (index 0 = whole match).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyMatch {
    /// `groups[i]` is `m.group(i)` (None when the group did not participate).
    pub groups: Vec<Option<String>>,
}

impl PyRegex {
    /// Compile a Python pattern for `re.match` or `re.fullmatch` (Python 3.11.7 semantics).
    pub fn new(pattern: &str, mode: Mode) -> Result<Self, PyRegexError> {
        let t = translate_python_regex(pattern)?;
        let main = compile_one(&t.rust, mode, t.engine == Engine::Fancy, &t)?;
        let newline = if t.dollar_before_final_newline {
            Some(std::sync::Arc::new(compile_one(
                &t.rust_newline_exact,
                mode,
                true,
                &t,
            )?))
        } else {
            None
        };
        Ok(PyRegex {
            translated: t,
            main: std::sync::Arc::new(main),
            newline,
        })
    }

    /// The translation used.
    pub fn translated(&self) -> &Translated {
        &self.translated
    }

    fn pick(&self, hay: &str) -> &Compiled {
        match &self.newline {
            Some(n) if hay.contains('\n') => n,
            _ => &self.main,
        }
    }

    /// Whether the pattern matches (`bool(re.match(...))` / `bool(re.fullmatch(...))`).
    pub fn is_match(&self, hay: &str) -> Result<bool, PyRegexError> {
        match self.pick(hay) {
            Compiled::Plain(r) => Ok(r.is_match(hay)),
            Compiled::Fancy(r) => r.is_match(hay).map_err(|e| self.runtime(e)),
        }
    }

    /// The match with its groups, or None.
    pub fn captures(&self, hay: &str) -> Result<Option<PyMatch>, PyRegexError> {
        match self.pick(hay) {
            Compiled::Plain(r) => Ok(r.captures(hay).map(|c| PyMatch {
                groups: (0..=self.translated.groups)
                    .map(|i| c.get(i).map(|m| m.as_str().to_string()))
                    .collect(),
            })),
            Compiled::Fancy(r) => {
                let c = r.captures(hay).map_err(|e| self.runtime(e))?;
                Ok(c.map(|c| PyMatch {
                    groups: (0..=self.translated.groups)
                        .map(|i| c.get(i).map(|m| m.as_str().to_string()))
                        .collect(),
                }))
            }
        }
    }

    /// Group number of a named group.
    pub fn group_index(&self, name: &str) -> Option<usize> {
        self.translated
            .group_names
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, g)| *g)
    }

    fn runtime(&self, e: fancy_regex::Error) -> PyRegexError {
        PyRegexError {
            kind: PyRegexErrorKind::Unsupported,
            message: format!("backtracking engine gave up: {e}"),
            pattern: self.translated.python.clone(),
            position: None,
            byte_offset: None,
            construct: None,
        }
    }
}

/// Value of a Unicode decimal digit as Python's `int()` reads it (`Nd` digits come in
/// contiguous runs of ten starting at zero; `PY_DIGIT` holds those runs merged).
pub fn decimal_value(c: char) -> Option<u32> {
    let cp = c as u32;
    PY_DIGIT
        .iter()
        .find(|(a, b)| *a <= cp && cp <= *b)
        .map(|(a, _)| (cp - a) % 10)
}
