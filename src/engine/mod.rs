//! The resolver: every pattern of a rule set compiled into one multi-pattern
//! automaton, so that resolving a module name is one scan of its bytes plus
//! one table lookup, whatever the number of rules.
//!
//! # How
//!
//! All atoms (the patterns inside rules) are compiled by regex-automata into
//! one anchored DFA with [`MatchKind::All`], so that the match state reached
//! at the end of a name holds *every* atom that matches the whole name.
//! Pattern IDs in a match state are not sorted; the winner is the lowest rule
//! index among them, and rules with `!`/`&`/`|` are evaluated over that set.
//! Both are precomputed **per DFA state** at build time (one traversal of the
//! automaton), so resolution never loops over rules.
//!
//! Two tricks keep the DFA small (measured in `shared/ENGINE-NOTES.md`):
//!
//! * **prefix atoms** — a single-atom rule whose regex ends in `.*` is
//!   compiled without it; the rule matches iff a match state for it is seen
//!   anywhere during the walk. Without this, every such rule adds one
//!   "already matched" bit to the DFA state and the DFA grows exponentially.
//! * **suffix-type atoms in reverse** — a key rule (`(?:.*\.)?(?:K)`,
//!   PEFT's `rank_pattern` rule) or a regex with a leading `.*` keeps a `.*`
//!   loop alive in every forward DFA state, which makes determinization slow
//!   (43 s → 3.5 s on `benches/data/r100.lora`). With more than
//!   [`Config::inline_key_limit`] such single-atom rules, they go into a
//!   second, *reverse* automaton (`(?:^|\.)(?:K)`, or the regex without its
//!   `.*`): walking the name backwards they are prefix-type matches that
//!   need no loop. The answer is the minimum of the two automata.
//! * **ASCII twins** — with [`Config::ascii`], the main automata are built
//!   over bytes (`.` and classes in ASCII mode), several times smaller, and
//!   serve ASCII names; exact Unicode lazy twins serve the others.
//!
//! * **literal keys** — from [`Config::literal_keys_min`] keys made only of
//!   literal characters and `.` wildcards (EVA writes one raw module name
//!   per module), those go to a hash table probed with each dot-suffix of
//!   the name instead of an automaton.
//!
//! The dense DFA is not walked as such: it is reduced to the outputs a walk
//! reads (best prefix rule, winner at the end) by merging states with the
//! same outputs on every continuation, packed into one row per state, and
//! the walk stops as soon as no lower rule is reachable (`table.rs`).
//!
//! A dense DFA is built when it fits in [`Config::dfa_size_limit`]; otherwise
//! a lazy DFA (regex-automata's hybrid) with a [`Config::lazy_cache_capacity`]
//! cache is used; nothing is built without a limit.
//!
//! Names containing `\n` (never produced by PyTorch) take the reference path,
//! since `.` does not match `\n`.

pub mod analysis;
mod literal;
mod reference;
pub(crate) mod table;

use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::OnceLock;

use regex_automata::dfa::{Automaton, dense};
use regex_automata::hybrid;
use regex_automata::nfa::thompson::{self, NFA, WhichCaptures};
use regex_automata::util::pool::Pool;
use regex_automata::util::primitives::StateID;
use regex_automata::util::start;
use regex_automata::{Anchored, MatchKind};
use regex_syntax::hir::{Class, Dot, Hir, HirKind, Look};

use crate::ir::{Attrs, Expr, Rule, RuleSet};
use crate::syntax::ast::PatternKind;

pub use reference::Reference;

#[cfg(test)]
pub(crate) use literal::dot_literal as dot_literal_of;

const NONE: u32 = u32::MAX;

/// Build limits. Defaults in brackets.
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest dense DFA, in bytes (16 MiB). Past it, the lazy DFA is used.
    ///
    /// Building a dense DFA costs about 0.3 s per MiB on rule sets that blow
    /// up (`benches/data/r100.json`'s 64 regex keys: 4.5 s to give up at
    /// 16 MiB, 42 s at 128 MiB), and a walk over a table much larger than
    /// the CPU caches is no faster than the lazy DFA's. The largest dense
    /// DFA among the benchmark rule sets is 6.6 MiB (`r100.lora`).
    pub dfa_size_limit: usize,
    /// Largest working memory while determinizing, in bytes (16 MiB).
    pub determinize_size_limit: usize,
    /// Largest NFA, in bytes (512 MiB). Past it, compilation fails with an error.
    pub nfa_size_limit: usize,
    /// Cache of the lazy DFA fallback, in bytes (64 MiB; the notes measured 2 MiB thrashing on 45k names).
    pub lazy_cache_capacity: usize,
    /// Suffix-type single-atom rules (keys, and regexes with a leading `.*`
    /// but no trailing one) up to this count stay in the forward automaton
    /// (keys as `(?:.*\.)?(?:K)`); past it they all go to the reverse
    /// automaton, where they need no `.*` loop (8). Each `.*` loop stays alive
    /// in every forward DFA state, which makes determinization slow.
    pub inline_key_limit: usize,
    /// Never build a dense DFA (for tests and benchmarks of the fallback).
    pub force_lazy: bool,
    /// Past [`Config::inline_key_limit`], keys made only of literal
    /// characters and `.` wildcards (EVA's raw module names) go to a hash
    /// table instead of an automaton (true; needs [`Config::ascii`]).
    pub literal_keys: bool,
    /// With [`Config::literal_keys`]: the table is used from this many
    /// dot-literal keys on (64); fewer go to the reverse automaton, where
    /// they cost no hash probe (the walk happens anyway). Measured: the 30
    /// keys of `r100.lora` resolve 30% faster in the automaton (100 against
    /// 142 ns/name on Llama-70B), the 560 of `eva-560.json` 3× faster in the
    /// table (72-108 against 248-323 ns/name).
    pub literal_keys_min: usize,
    /// Build the main automata in ASCII mode (`.` and classes over bytes),
    /// used for ASCII names, with exact Unicode twins (lazy DFAs) for the
    /// others (true). ASCII-mode DFAs of Unicode-heavy patterns (`\d`, `\w`,
    /// `.`) are several times smaller and faster to build; on ASCII input
    /// they match exactly what the Unicode ones match.
    pub ascii: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dfa_size_limit: 16 << 20,
            determinize_size_limit: 16 << 20,
            nfa_size_limit: 512 << 20,
            lazy_cache_capacity: 64 << 20,
            inline_key_limit: 8,
            force_lazy: false,
            literal_keys: true,
            literal_keys_min: 64,
            ascii: true,
        }
    }
}

/// Why a rule set could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The NFA of all patterns exceeds [`Config::nfa_size_limit`] or
    /// regex-automata refused it.
    #[error("the automaton for {patterns} patterns could not be built: {message}")]
    Nfa {
        /// Number of patterns in that automaton.
        patterns: usize,
        /// regex-automata's message.
        message: String,
    },
    /// A saved table (see [`crate::compiled`]) does not fit the rule set
    /// it was saved with.
    #[error("the compiled file does not fit its rules: {0}")]
    Saved(String),
}

/// The role of one pattern ID of an automaton.
#[derive(Debug, Clone, Copy)]
enum Role {
    /// A single-atom rule that matches when the walk ends in a state holding it.
    Full(u32),
    /// A single-atom rule that matches when any state of the walk holds it.
    Prefix(u32),
    /// An atom of a boolean rule (index into the rule set's atoms).
    Bool(u32),
}

type CachePoolFn = Box<dyn Fn() -> hybrid::dfa::Cache + Send + Sync + UnwindSafe + RefUnwindSafe>;

/// The lazy DFA fallback and its per-thread caches.
struct Lazy {
    dfa: hybrid::dfa::DFA,
    pool: Pool<hybrid::dfa::Cache, CachePoolFn>,
}

/// The dense DFA with its per-state winners, as regex-automata built it
/// (kept only for the dead-rule analysis, which needs the pattern IDs).
struct Full {
    dfa: dense::DFA<Vec<u32>>,
    start: StateID,
    stride2: usize,
    /// Winner when the name ends in this state (EOI transition included).
    on_eoi: Vec<u32>,
    /// Best prefix rule held by this (match) state.
    pre: Vec<u32>,
}

// At most four `Kind`s live per matcher: their size does not matter, and
// the reduced table's byte-class map stays inline for the hot walk.
#[allow(clippy::large_enum_variant)]
enum Kind {
    Dense {
        /// The reduced table walked at resolution time.
        table: table::Table,
        /// With `keep_dfa`: the DFA it was reduced from.
        full: Option<Box<Full>>,
    },
    Lazy(Box<Lazy>),
}

/// One compiled form of the rule set: forward and reverse automata and
/// the literal key table; the answer is the minimum of the three.
struct Automata {
    fwd: Option<Walker>,
    rev: Option<Walker>,
    literal: literal::LiteralKeys,
}

impl Automata {
    fn resolve(&self, name: &[u8], rules: &RuleSet, empty_winner: u32) -> u32 {
        let tables = (
            self.fwd.as_ref().and_then(Walker::table),
            self.rev.as_ref().and_then(Walker::table),
        );
        let mut best = if let (Some(f), Some(r)) = tables {
            // Both dense: the two walks side by side (`table::walk_both`).
            table::walk_both(f, r, name, NONE)
        } else {
            let mut best = match &self.fwd {
                Some(w) => w.walk(name, rules, NONE),
                None => empty_winner,
            };
            if let Some(w) = &self.rev {
                best = w.walk(name, rules, best);
            }
            best
        };
        if best > self.literal.min_rule() {
            best = best.min(self.literal.lookup(name));
        }
        best
    }

    fn memory_usage(&self) -> usize {
        self.fwd.as_ref().map_or(0, Walker::memory_usage)
            + self.rev.as_ref().map_or(0, Walker::memory_usage)
            + self.literal.memory_usage()
    }
}

/// What a compiled file holds for one automaton (see [`crate::compiled`]).
#[derive(Debug)]
pub(crate) enum Saved {
    /// Nothing: build it (no compiled file).
    Build,
    /// A lazy DFA: build it as one, without trying the dense DFA first
    /// (which was over its size limit when the file was written).
    Lazy,
    /// No automaton: the rule set has no pattern for it.
    Absent,
    /// Its reduced table, checked for consistency on reading.
    Table(Box<table::Table>),
}

/// [`Saved`] borrowed from a matcher, for writing a compiled file.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SavedRef<'a> {
    /// A lazy DFA: rebuilt when the file is loaded.
    Lazy,
    /// No automaton.
    Absent,
    /// The reduced table.
    Table(&'a table::Table),
}

struct Walker {
    kind: Kind,
    reverse: bool,
    roles: Vec<Role>,
    has_prefix: bool,
}

/// Which automaton kinds were built, and their sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// `"dense"`, `"lazy"` or `"none"` for the forward automaton.
    pub forward: &'static str,
    /// Same for the reverse (key) automaton.
    pub reverse: &'static str,
    /// Patterns in the forward automaton.
    pub forward_patterns: usize,
    /// Patterns in the reverse automaton.
    pub reverse_patterns: usize,
    /// Keys in the literal table (dot-literal keys, looked up by hashing).
    pub literal_keys: usize,
    /// States of the reduced tables walked at resolution time (both
    /// automata; see `table.rs`), 0 for lazy ones.
    pub dense_states: usize,
    /// Bytes used by automata and tables ([`Matcher::memory_usage`]).
    pub memory: usize,
}

/// A compiled rule set: resolve module names against it.
///
/// `Send + Sync`; resolution takes `&self`, allocates nothing for names
/// without `\n`, never panics, and costs at most one pass over the name's
/// bytes per automaton (one or two), plus, with literal keys, one hash probe
/// per dot-suffix of the name and key shape of that length — independent of
/// the number of rules.
pub struct Matcher {
    rules: RuleSet,
    /// The main automata (ASCII-mode with [`Config::ascii`]).
    main: Automata,
    /// With [`Config::ascii`]: the Unicode automata for other names.
    unicode: OnceLock<Option<Automata>>,
    bool_rules: Vec<u32>,
    config: Config,
    /// The first boolean rule true on the empty atom set (e.g. `!x`), used
    /// when there is no forward automaton.
    empty_winner: u32,
    reference: OnceLock<Reference>,
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matcher")
            .field("rules", &self.rules.rules().len())
            .field("stats", &self.stats())
            .finish()
    }
}

/// The outcome for one module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A rule with attributes won: the module gets an adapter.
    Adapt,
    /// An `exclude` rule won.
    Exclude,
    /// No rule matched: not adapted.
    None,
}

impl Outcome {
    /// `"adapt"`, `"exclude"` or `"none"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Adapt => "adapt",
            Outcome::Exclude => "exclude",
            Outcome::None => "none",
        }
    }
}

/// The decision for one module name: the winning rule, if any.
#[derive(Debug, Clone, Copy)]
pub struct Decision<'a> {
    rule: Option<&'a Rule>,
}

impl<'a> Decision<'a> {
    /// The winning rule.
    pub fn rule(&self) -> Option<&'a Rule> {
        self.rule
    }
    /// Its 0-based index in file order.
    pub fn rule_index(&self) -> Option<usize> {
        self.rule.map(|r| r.index)
    }
    /// Adapt, exclude, or none.
    pub fn outcome(&self) -> Outcome {
        match self.rule {
            None => Outcome::None,
            Some(r) if r.attrs.is_some() => Outcome::Adapt,
            Some(_) => Outcome::Exclude,
        }
    }
    /// Effective attributes (defaults overlaid by the rule's overrides) when adapted.
    pub fn attrs(&self) -> Option<&'a Attrs> {
        self.rule.and_then(|r| r.attrs.as_ref())
    }
    /// `alpha / rank` (or `/ sqrt(rank)` with `use_rslora`) when adapted and both are known.
    pub fn scaling(&self) -> Option<f64> {
        self.rule.and_then(|r| r.scaling)
    }
}

fn is_dot_star(h: &Hir) -> Option<bool> {
    // Some(true): `(?s:.)*` (any char); Some(false): `.*` (any but \n).
    if let HirKind::Repetition(rep) = h.kind()
        && rep.min == 0
        && rep.max.is_none()
    {
        if *rep.sub == Hir::dot(Dot::AnyChar) {
            return Some(true);
        }
        if *rep.sub == Hir::dot(Dot::AnyCharExceptLF) {
            return Some(false);
        }
        if let HirKind::Class(Class::Bytes(_)) = rep.sub.kind()
            && *rep.sub == Hir::dot(Dot::AnyByteExceptLF)
        {
            return Some(false);
        }
    }
    None
}

/// `hir` without a trailing `.*`, if it has one.
fn strip_trailing_dot_star(hir: &Hir) -> Option<Hir> {
    if is_dot_star(hir).is_some() {
        return Some(Hir::empty());
    }
    if let HirKind::Concat(subs) = hir.kind()
        && let Some((last, init)) = subs.split_last()
        && is_dot_star(last).is_some()
    {
        return Some(Hir::concat(init.to_vec()));
    }
    None
}

/// `hir` without a leading `.*`, if it has one and no trailing `.*` (those
/// stay forward prefix atoms).
fn strip_leading_dot_star(hir: &Hir) -> Option<Hir> {
    if let HirKind::Concat(subs) = hir.kind()
        && let Some((first, rest)) = subs.split_first()
        && is_dot_star(first).is_some()
        && rest.last().is_some_and(|l| is_dot_star(l).is_none())
    {
        return Some(Hir::concat(rest.to_vec()));
    }
    None
}

/// `(?:.*\.)?(?:K)`: the key rule as a forward full-match regex (`.` over
/// bytes in the ASCII twin).
fn key_forward(k: &Hir, ascii: bool) -> Hir {
    let dot = if ascii {
        Dot::AnyByteExceptLF
    } else {
        Dot::AnyCharExceptLF
    };
    let prefix = Hir::concat(vec![
        Hir::repetition(regex_syntax::hir::Repetition {
            min: 0,
            max: None,
            greedy: true,
            sub: Box::new(Hir::dot(dot)),
        }),
        Hir::literal(*b"."),
    ]);
    Hir::concat(vec![
        Hir::repetition(regex_syntax::hir::Repetition {
            min: 0,
            max: Some(1),
            greedy: true,
            sub: Box::new(prefix),
        }),
        k.clone(),
    ])
}

/// `(?:^|\.)(?:K)`: the key rule for the reverse automaton.
fn key_reverse(k: &Hir) -> Hir {
    Hir::concat(vec![
        Hir::alternation(vec![Hir::look(Look::Start), Hir::literal(*b".")]),
        k.clone(),
    ])
}

/// Which HIR goes into which automaton with which role.
struct Plan {
    fwd: (Vec<Hir>, Vec<Role>),
    rev: (Vec<Hir>, Vec<Role>),
    literal: literal::LiteralKeys,
}

impl Plan {
    /// `ascii`: use the ASCII-mode HIR of each atom where it exists (exact on
    /// ASCII names, a much smaller DFA: ENGINE-NOTES §6), parsed only for the
    /// atoms that go into an automaton (not for the literal key table).
    fn new(rules: &RuleSet, config: &Config, ascii: bool) -> Plan {
        let ascii_hirs: Vec<std::cell::OnceCell<Option<Hir>>> =
            vec![std::cell::OnceCell::new(); if ascii { rules.atoms().len() } else { 0 }];
        let hir = |a: usize| -> &Hir {
            let parsed = ascii_hirs.get(a).and_then(|c| {
                c.get_or_init(|| crate::pattern::parse_ascii(&rules.atoms()[a].regex))
                    .as_ref()
            });
            match parsed {
                Some(h) => h,
                None => rules.atoms()[a].hir(),
            }
        };
        // Single-atom rules that are suffix-type (a key, or a regex with a
        // leading `.*`) are prefix-type when the name is read backwards.
        let suffix_type = |a: usize| {
            rules.atoms()[a].kind == PatternKind::Key || strip_leading_dot_star(hir(a)).is_some()
        };
        let simple_suffix = rules
            .rules()
            .iter()
            .filter(|r| matches!(r.expr, Expr::Atom(a) if suffix_type(a)))
            .count();
        let keys_reverse = simple_suffix > config.inline_key_limit;
        // Dot-literal keys, per rule; the hash table is used from
        // `literal_keys_min` of them on.
        let mut dot_literals: Vec<Option<Vec<Option<u8>>>> = Vec::new();
        if keys_reverse && ascii && config.literal_keys {
            dot_literals = rules
                .rules()
                .iter()
                .map(|r| match r.expr {
                    Expr::Atom(a) if rules.atoms()[a].kind == PatternKind::Key => {
                        crate::pattern::plain_bytes(&rules.atoms()[a].regex)
                            .or_else(|| literal::dot_literal(hir(a)))
                    }
                    _ => None,
                })
                .collect();
            if dot_literals.iter().flatten().count() < config.literal_keys_min {
                dot_literals.clear();
            }
        }
        let mut plan = Plan {
            fwd: (Vec::new(), Vec::new()),
            rev: (Vec::new(), Vec::new()),
            literal: literal::LiteralKeys::default(),
        };
        for r in rules.rules() {
            let idx = r.index as u32;
            match &r.expr {
                Expr::Atom(a) => {
                    let is_key = rules.atoms()[*a].kind == PatternKind::Key;
                    if let Some(Some(k)) = dot_literals.get(r.index) {
                        plan.literal.insert(k, idx);
                        continue;
                    }
                    // A trailing `.*` is a loop at the start of the reverse
                    // automaton, alive in all its states (r100.json: 14 such
                    // keys among 64 blew the reverse DFA past its limit); in
                    // the forward one it is a prefix atom, loop-free.
                    let trailing = strip_trailing_dot_star(hir(*a)).is_some();
                    if is_key && keys_reverse && !trailing {
                        plan.rev.0.push(key_reverse(hir(*a)));
                        plan.rev.1.push(Role::Prefix(idx));
                        continue;
                    }
                    if keys_reverse
                        && !trailing
                        && let Some(rest) = strip_leading_dot_star(hir(*a))
                    {
                        plan.rev.0.push(rest);
                        plan.rev.1.push(Role::Prefix(idx));
                        continue;
                    }
                    let h = if is_key {
                        key_forward(hir(*a), ascii)
                    } else {
                        hir(*a).clone()
                    };
                    match strip_trailing_dot_star(&h) {
                        Some(h) => {
                            plan.fwd.0.push(h);
                            plan.fwd.1.push(Role::Prefix(idx));
                        }
                        None => {
                            plan.fwd.0.push(h);
                            plan.fwd.1.push(Role::Full(idx));
                        }
                    }
                }
                e => {
                    let mut ids = Vec::new();
                    e.atoms(&mut ids);
                    for a in ids {
                        let is_key = rules.atoms()[a].kind == PatternKind::Key;
                        plan.fwd.0.push(if is_key {
                            key_forward(hir(a), ascii)
                        } else {
                            hir(a).clone()
                        });
                        plan.fwd.1.push(Role::Bool(a as u32));
                    }
                }
            }
        }
        plan
    }

    /// Every atom in one automaton, for the dead-rule analysis (which needs
    /// all of them in one DFA): forward, keys inlined as `(?:.*\.)?(?:K)`
    /// and a trailing `.*` made a prefix atom; or reverse, keys and regexes
    /// with a leading `.*` made prefix atoms of the reversed name, the rest
    /// reversed whole. Unicode-mode HIRs, no literal key table.
    fn single(rules: &RuleSet, reverse: bool) -> Plan {
        let mut side: (Vec<Hir>, Vec<Role>) = (Vec::new(), Vec::new());
        let full_hir = |a: usize| {
            let atom = &rules.atoms()[a];
            match atom.kind {
                PatternKind::Key => key_forward(atom.hir(), false),
                _ => atom.hir().clone(),
            }
        };
        for r in rules.rules() {
            let idx = r.index as u32;
            let Expr::Atom(a) = r.expr else {
                let mut ids = Vec::new();
                r.expr.atoms(&mut ids);
                for a in ids {
                    side.0.push(full_hir(a));
                    side.1.push(Role::Bool(a as u32));
                }
                continue;
            };
            let atom = &rules.atoms()[a];
            let h = full_hir(a);
            let (h, role) = match strip_trailing_dot_star(&h) {
                Some(stripped) if !reverse => (stripped, Role::Prefix(idx)),
                Some(_) => (h, Role::Full(idx)),
                None if reverse && atom.kind == PatternKind::Key => {
                    (key_reverse(atom.hir()), Role::Prefix(idx))
                }
                None if reverse => match strip_leading_dot_star(&h) {
                    Some(rest) => (rest, Role::Prefix(idx)),
                    None => (h, Role::Full(idx)),
                },
                None => (h, Role::Full(idx)),
            };
            side.0.push(h);
            side.1.push(role);
        }
        let empty = (Vec::new(), Vec::new());
        let (fwd, rev) = if reverse {
            (empty, side)
        } else {
            (side, empty)
        };
        Plan {
            fwd,
            rev,
            literal: literal::LiteralKeys::default(),
        }
    }

    fn build(
        self,
        rules: &RuleSet,
        bool_rules: &[u32],
        config: &Config,
        keep_dfa: bool,
        saved: [Saved; 2],
    ) -> Result<Automata, CompileError> {
        let [saved_fwd, saved_rev] = saved;
        // `!`/`&`/`|` rules are decided where their atoms are: forward,
        // except in a reverse-only plan (`Plan::single`).
        let bools_rev = self.rev.1.iter().any(|r| matches!(r, Role::Bool(_)));
        let (fwd_bools, rev_bools) = if bools_rev {
            (&[][..], bool_rules)
        } else {
            (bool_rules, &[][..])
        };
        let fwd = Walker::build_or_load(
            rules, fwd_bools, self.fwd, false, config, keep_dfa, saved_fwd,
        )?;
        let rev = Walker::build_or_load(
            rules, rev_bools, self.rev, true, config, keep_dfa, saved_rev,
        )?;
        Ok(Automata {
            fwd,
            rev,
            literal: self.literal,
        })
    }
}

impl Matcher {
    /// Compiles `rules` with the default [`Config`].
    ///
    /// # Errors
    /// See [`Matcher::with_config`].
    pub fn new(rules: RuleSet) -> Result<Matcher, CompileError> {
        Matcher::with_config(rules, &Config::default())
    }

    /// Compiles `rules` into one forward automaton (and a reverse one for many
    /// key rules), then precomputes the winning rule of every DFA state.
    ///
    /// Complexity: the DFA build (worst case exponential in the patterns,
    /// bounded by the size limits; then the lazy DFA takes over), plus one
    /// pass over the DFA states × byte classes.
    ///
    /// # Errors
    /// [`CompileError::Nfa`] when the NFA exceeds [`Config::nfa_size_limit`].
    pub fn with_config(rules: RuleSet, config: &Config) -> Result<Matcher, CompileError> {
        Matcher::assemble(rules, config, false, None, [Saved::Build, Saved::Build])
    }

    /// The matcher the dead-rule analysis walks: every atom in one
    /// automaton (forward, or `reverse`; see `Plan::single`), Unicode mode,
    /// regex-automata's dense DFA kept beside the reduced table.
    pub(crate) fn build_single(rules: RuleSet, reverse: bool) -> Result<Matcher, CompileError> {
        let config = Config {
            inline_key_limit: usize::MAX,
            literal_keys: false,
            ascii: false,
            ..Config::default()
        };
        let plan = Plan::single(&rules, reverse);
        Matcher::assemble(
            rules,
            &config,
            true,
            Some(plan),
            [Saved::Build, Saved::Build],
        )
    }

    /// [`Matcher::with_config`] with the main automata's reduced tables
    /// taken from a compiled file where it holds them (`saved`: forward,
    /// reverse), built otherwise: no determinization for a saved table.
    ///
    /// # Errors
    /// [`CompileError::Saved`] when a table does not fit `rules` and `config`;
    /// [`CompileError::Nfa`] as for [`Matcher::with_config`].
    pub(crate) fn with_saved(
        rules: RuleSet,
        config: &Config,
        saved: [Saved; 2],
    ) -> Result<Matcher, CompileError> {
        Matcher::assemble(rules, config, false, None, saved)
    }

    /// What a compiled file saves of the main automata (forward, reverse).
    pub(crate) fn saved(&self) -> [SavedRef<'_>; 2] {
        fn one(w: &Option<Walker>) -> SavedRef<'_> {
            match w {
                None => SavedRef::Absent,
                Some(w) => w.table().map_or(SavedRef::Lazy, SavedRef::Table),
            }
        }
        [one(&self.main.fwd), one(&self.main.rev)]
    }

    /// Builds the matcher from `plan`, or from the main plan of `config`.
    fn assemble(
        rules: RuleSet,
        config: &Config,
        keep_dfa: bool,
        plan: Option<Plan>,
        saved: [Saved; 2],
    ) -> Result<Matcher, CompileError> {
        let bool_rules: Vec<u32> = rules
            .rules()
            .iter()
            .filter(|r| !matches!(r.expr, Expr::Atom(_)))
            .map(|r| r.index as u32)
            .collect();
        let empty_winner = bool_rules
            .iter()
            .copied()
            .find(|&i| rules.rules()[i as usize].expr.eval(&mut |_| false))
            .unwrap_or(NONE);
        let plan = plan.unwrap_or_else(|| Plan::new(&rules, config, config.ascii));
        // A reverse-only plan (`Plan::single`) decides `!`/`&`/`|` rules in
        // its reverse table: no answer stands in for a forward automaton.
        let empty_winner = if plan.rev.1.iter().any(|r| matches!(r, Role::Bool(_))) {
            NONE
        } else {
            empty_winner
        };
        let main = plan.build(&rules, &bool_rules, config, keep_dfa, saved)?;
        Ok(Matcher {
            rules,
            main,
            unicode: OnceLock::new(),
            bool_rules,
            config: config.clone(),
            empty_winner,
            reference: OnceLock::new(),
        })
    }

    /// The automata for names with non-ASCII bytes when the main ones are
    /// ASCII-mode: the exact Unicode automata, lazy DFAs, built on first use
    /// (`None` if they cannot be built: the reference resolver answers).
    fn unicode(&self) -> Option<&Automata> {
        self.unicode
            .get_or_init(|| {
                let lazy = Config {
                    force_lazy: true,
                    ascii: false,
                    ..self.config.clone()
                };
                Plan::new(&self.rules, &lazy, false)
                    .build(
                        &self.rules,
                        &self.bool_rules,
                        &lazy,
                        false,
                        [Saved::Build, Saved::Build],
                    )
                    .ok()
            })
            .as_ref()
    }

    /// The rule set this matcher was compiled from.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// The limits and options it was compiled with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Resolves one module name: the lowest-index rule whose pattern matches
    /// (first match wins), or none.
    ///
    /// O(len(name)) per automaton, no allocation, independent of the number
    /// of rules (names containing `\n` take the reference path instead).
    pub fn resolve(&self, name: &str) -> Decision<'_> {
        let idx = self.resolve_index(name);
        Decision {
            rule: idx.and_then(|i| self.rules.rules().get(i)),
        }
    }

    /// The winning rule's index, if any. Same cost as [`Matcher::resolve`].
    pub fn resolve_index(&self, name: &str) -> Option<usize> {
        if name.as_bytes().contains(&b'\n') {
            return self.reference().resolve(name);
        }
        let best = if name.is_ascii() || !self.config.ascii {
            self.main
                .resolve(name.as_bytes(), &self.rules, self.empty_winner)
        } else {
            match self.unicode() {
                Some(u) => u.resolve(name.as_bytes(), &self.rules, self.empty_winner),
                None => return self.reference().resolve(name),
            }
        };
        (best != NONE).then_some(best as usize)
    }

    /// Resolves many names; the result has one entry per name, in order.
    ///
    /// Names usually come in tree order, so consecutive names share long
    /// prefixes (`model.layers.17.mlp.experts.` before each of 768 experts).
    /// The forward automaton's state after every byte of the previous name is
    /// kept, and each name resumes from the state at the end of the shared
    /// prefix: the shared part is scanned once. When the rule set also has a
    /// dense reverse automaton, each name is walked whole instead, both ways
    /// side by side, which measured faster. Batches of 16,384 names or more
    /// are split into chunks resolved in parallel (rayon).
    ///
    /// Same answers as [`Matcher::resolve_index`] on each name; memory
    /// O(longest name) per chunk.
    pub fn resolve_batch<S: AsRef<str> + Sync>(&self, names: &[S]) -> Vec<Option<usize>> {
        use rayon::prelude::*;
        if names.len() < 16_384 {
            return self.resolve_run(names);
        }
        names
            .par_chunks(4096)
            .flat_map_iter(|c| self.resolve_run(c))
            .collect()
    }

    /// [`Matcher::resolve_batch`] on one thread, reusing shared prefixes.
    fn resolve_run<S: AsRef<str>>(&self, names: &[S]) -> Vec<Option<usize>> {
        // With a dense reverse table too, each name's two walks run side by
        // side (`table::walk_both`), and resuming the forward walk gains
        // nothing: measured in one process, per-name walks inside the batch
        // against the forward walk resumed and interleaved with the reverse
        // one, r100.json over Llama-70B 80 against 102 ns per name, over
        // DeepSeek-V3 88 against 99 (two threads).
        let rev_dense = self.main.rev.as_ref().and_then(Walker::table).is_some();
        let Some(Walker {
            kind: Kind::Dense { table, .. },
            ..
        }) = self.main.fwd.as_ref().filter(|_| !rev_dense)
        else {
            return names
                .iter()
                .map(|n| self.resolve_index(n.as_ref()))
                .collect();
        };
        let mut stack: Vec<(u32, u32)> = vec![(table.start(), NONE)];
        let mut settled = None;
        let mut prev: &[u8] = &[];
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            let name = n.as_ref().as_bytes();
            if name.contains(&b'\n') || (self.config.ascii && !name.is_ascii()) {
                // Not the primary automaton's input: the stack stays valid for `prev`.
                out.push(self.resolve_index(n.as_ref()));
                continue;
            }
            let shared = common_prefix(prev, name);
            let mut best = walk_resume(table, name, shared, &mut stack, &mut settled);
            if let Some(w) = &self.main.rev {
                best = w.walk(name, &self.rules, best);
            }
            if best > self.main.literal.min_rule() {
                best = best.min(self.main.literal.lookup(name));
            }
            out.push((best != NONE).then_some(best as usize));
            prev = name;
        }
        out
    }

    /// Every rule that matches `name`, in order (what `lora-rules explain`
    /// lists); the same answer as [`Reference::matching`] without compiling
    /// one regex per atom first: a plain key (letters, digits, `_`, `-`,
    /// `.`, `\.`, as EVA writes them) is compared with each dot-aligned
    /// suffix of an ASCII name directly, and any other atom gets a regex
    /// built for this call. O(atoms × len(name)) plus those regex builds
    /// (EVA-48k: milliseconds, against seconds to build the reference).
    pub fn matching(&self, name: &str) -> Vec<usize> {
        let plain_name = name.is_ascii() && !name.contains('\n');
        let atom_matches = |a: usize| {
            let atom = &self.rules.atoms()[a];
            if atom.kind == PatternKind::Key
                && plain_name
                && let Some(key) = crate::pattern::plain_bytes(&atom.regex)
            {
                return literal::key_matches(&key, name.as_bytes());
            }
            Reference::atom_regex(atom).is_some_and(|r| r.is_match(name))
        };
        self.rules
            .rules()
            .iter()
            .filter(|r| r.expr.eval(&mut |a| atom_matches(a)))
            .map(|r| r.index)
            .collect()
    }

    /// The naive reference resolver for this rule set (built on first use).
    pub fn reference(&self) -> &Reference {
        self.reference.get_or_init(|| Reference::new(&self.rules))
    }

    /// Bytes used by the automata, their tables and the literal key table
    /// (lazy-DFA caches excluded: each grows on demand up to
    /// [`Config::lazy_cache_capacity`]; the Unicode twins are counted once
    /// built).
    pub fn memory_usage(&self) -> usize {
        self.main.memory_usage()
            + self
                .unicode
                .get()
                .and_then(|u| u.as_ref())
                .map_or(0, Automata::memory_usage)
    }

    /// Which automata were built and how big they are.
    pub fn stats(&self) -> Stats {
        let kind = |w: &Option<Walker>| match w.as_ref().map(|w| &w.kind) {
            None => "none",
            Some(Kind::Dense { .. }) => "dense",
            Some(Kind::Lazy(_)) => "lazy",
        };
        let states = |w: &Option<Walker>| match w.as_ref().map(|w| &w.kind) {
            Some(Kind::Dense { table, .. }) => table.states(),
            _ => 0,
        };
        let m = &self.main;
        Stats {
            forward: kind(&m.fwd),
            reverse: kind(&m.rev),
            forward_patterns: m.fwd.as_ref().map_or(0, |w| w.roles.len()),
            reverse_patterns: m.rev.as_ref().map_or(0, |w| w.roles.len()),
            literal_keys: m.literal.len(),
            dense_states: states(&m.fwd) + states(&m.rev),
            memory: self.memory_usage(),
        }
    }
}

/// The first rule (in index order) that wins given the roles of the
/// patterns held by an end-of-name match state.
fn winner_of(
    rules: &RuleSet,
    bool_rules: &[u32],
    roles: &[Role],
    held: &mut dyn Iterator<Item = usize>,
) -> u32 {
    let mut best = NONE;
    let mut bools: Vec<u32> = Vec::new();
    for pid in held {
        match roles.get(pid) {
            Some(Role::Full(r)) | Some(Role::Prefix(r)) => best = best.min(*r),
            Some(Role::Bool(a)) => bools.push(*a),
            None => {}
        }
    }
    for &r in bool_rules {
        if r >= best {
            break;
        }
        if rules.rules()[r as usize]
            .expr
            .eval(&mut |a| bools.contains(&(a as u32)))
        {
            return r;
        }
    }
    best
}

impl Walker {
    fn build(
        rules: &RuleSet,
        bool_rules: &[u32],
        hirs: Vec<Hir>,
        roles: Vec<Role>,
        reverse: bool,
        config: &Config,
        keep_dfa: bool,
    ) -> Result<Walker, CompileError> {
        let nfa = NFA::compiler()
            .configure(
                thompson::Config::new()
                    .which_captures(WhichCaptures::None)
                    .nfa_size_limit(Some(config.nfa_size_limit))
                    .shrink(false)
                    .reverse(reverse),
            )
            .build_many_from_hir(&hirs)
            .map_err(|e| CompileError::Nfa {
                patterns: hirs.len(),
                message: e.to_string(),
            })?;
        let has_prefix = roles.iter().any(|r| matches!(r, Role::Prefix(_)));
        let t0 = std::time::Instant::now();
        let dense = if config.force_lazy {
            None
        } else {
            dense::Builder::new()
                .configure(
                    dense::Config::new()
                        .match_kind(MatchKind::All)
                        .start_kind(regex_automata::dfa::StartKind::Anchored)
                        .accelerate(false)
                        .specialize_start_states(false)
                        .minimize(false)
                        .dfa_size_limit(Some(config.dfa_size_limit))
                        .determinize_size_limit(Some(config.determinize_size_limit)),
                )
                .build_from_nfa(&nfa)
                .ok()
        };
        let kind = match dense {
            Some(dfa) => {
                let Ok(start) = dfa.start_state(&start::Config::new().anchored(Anchored::Yes))
                else {
                    return Err(CompileError::Nfa {
                        patterns: hirs.len(),
                        message: "no anchored start state".into(),
                    });
                };
                let t1 = std::time::Instant::now();
                let (on_eoi, pre) = tables(&dfa, start, rules, bool_rules, &roles);
                if std::env::var_os("LORA_RULES_TRACE").is_some() {
                    eprintln!(
                        "dfa {:?} tables {:?} nfa states {} dfa states {}",
                        t1 - t0,
                        t1.elapsed(),
                        nfa.states().len(),
                        on_eoi.len()
                    );
                }
                let dead_eoi = winner_of(rules, bool_rules, &roles, &mut std::iter::empty());
                let table = table::Table::build(&dfa, start, &on_eoi, &pre, dead_eoi);
                if std::env::var_os("LORA_RULES_TRACE").is_some() {
                    eprintln!(
                        "reduced table: {} states, {} classes, {:?}",
                        table.states(),
                        table.classes(),
                        t1.elapsed()
                    );
                }
                Kind::Dense {
                    table,
                    full: keep_dfa.then(|| {
                        Box::new(Full {
                            stride2: dfa.stride2(),
                            dfa,
                            start,
                            on_eoi,
                            pre,
                        })
                    }),
                }
            }
            None => {
                let base = hybrid::dfa::Config::new()
                    .match_kind(MatchKind::All)
                    .minimum_cache_clear_count(None);
                // A cache below the minimum is raised to the minimum: a lazy DFA
                // below it is not usable.
                let min = base.get_minimum_cache_capacity(&nfa).unwrap_or(0);
                let dfa = hybrid::dfa::Builder::new()
                    .configure(base.cache_capacity(config.lazy_cache_capacity.max(min)))
                    .build_from_nfa(nfa)
                    .map_err(|e| CompileError::Nfa {
                        patterns: hirs.len(),
                        message: e.to_string(),
                    })?;
                let d2 = dfa.clone();
                let create: CachePoolFn = Box::new(move || d2.create_cache());
                Kind::Lazy(Box::new(Lazy {
                    dfa,
                    pool: Pool::new(create),
                }))
            }
        };
        Ok(Walker {
            kind,
            reverse,
            roles,
            has_prefix,
        })
    }

    /// The automaton of `plan` (hirs and roles): built, or taken from a
    /// saved table; `None` when the plan has no pattern.
    ///
    /// # Errors
    /// [`CompileError::Saved`] when `saved` disagrees with the plan (a table
    /// for an automaton without patterns, or none for one with patterns),
    /// or a table names a rule the plan does not route to this automaton.
    #[allow(clippy::too_many_arguments)]
    fn build_or_load(
        rules: &RuleSet,
        bool_rules: &[u32],
        plan: (Vec<Hir>, Vec<Role>),
        reverse: bool,
        config: &Config,
        keep_dfa: bool,
        saved: Saved,
    ) -> Result<Option<Walker>, CompileError> {
        let which = if reverse { "reverse" } else { "forward" };
        let (hirs, roles) = plan;
        match saved {
            _ if hirs.is_empty() => match saved {
                Saved::Table(_) => Err(CompileError::Saved(format!(
                    "it has a {which} table, but the rules have no pattern for it"
                ))),
                _ => Ok(None),
            },
            Saved::Absent => Err(CompileError::Saved(format!(
                "it has no {which} table, but the rules have {} patterns for it",
                hirs.len()
            ))),
            Saved::Build => {
                Walker::build(rules, bool_rules, hirs, roles, reverse, config, keep_dfa).map(Some)
            }
            Saved::Lazy => {
                let lazy = Config {
                    force_lazy: true,
                    ..config.clone()
                };
                Walker::build(rules, bool_rules, hirs, roles, reverse, &lazy, false).map(Some)
            }
            Saved::Table(table) => {
                // Every rule a table can answer must be routed here.
                let mut routed: Vec<bool> = vec![false; rules.rules().len()];
                for role in &roles {
                    match *role {
                        Role::Prefix(r) | Role::Full(r) => routed[r as usize] = true,
                        Role::Bool(a) => routed[rules.atoms()[a as usize].rule] = true,
                    }
                }
                if let Some(r) = table.rules().find(|&r| !routed[r as usize]) {
                    return Err(CompileError::Saved(format!(
                        "its {which} table answers rule {r}, which the rules do not put in that automaton"
                    )));
                }
                let has_prefix = roles.iter().any(|r| matches!(r, Role::Prefix(_)));
                Ok(Some(Walker {
                    kind: Kind::Dense {
                        table: *table,
                        full: None,
                    },
                    reverse,
                    roles,
                    has_prefix,
                }))
            }
        }
    }

    fn memory_usage(&self) -> usize {
        match &self.kind {
            Kind::Dense { table, full } => {
                table.memory_usage()
                    + full.as_ref().map_or(0, |f| {
                        f.dfa.memory_usage() + 4 * (f.on_eoi.len() + f.pre.len())
                    })
            }
            // The cache grows on demand up to `Config::lazy_cache_capacity`.
            Kind::Lazy(l) => l.dfa.memory_usage(),
        }
    }

    /// The reduced table, when this automaton is dense.
    #[inline]
    fn table(&self) -> Option<&table::Table> {
        match &self.kind {
            Kind::Dense { table, .. } => Some(table),
            Kind::Lazy(_) => None,
        }
    }

    #[inline]
    /// The winner of `name` in this automaton, or `best` if lower: a walk
    /// of the reduced table stops as soon as no rule below `best` is
    /// reachable (at once if none is reachable from the start).
    fn walk(&self, name: &[u8], rules: &RuleSet, best: u32) -> u32 {
        match &self.kind {
            Kind::Dense { table, .. } => {
                if self.reverse {
                    table.walk(name.iter().rev().copied(), best)
                } else {
                    table.walk(name.iter().copied(), best)
                }
            }
            Kind::Lazy(l) => {
                let (dfa, pool) = (&l.dfa, &l.pool);
                let mut cache = pool.get();
                let r = if self.reverse {
                    self.walk_lazy(dfa, &mut cache, name.iter().rev().copied(), rules)
                } else {
                    self.walk_lazy(dfa, &mut cache, name.iter().copied(), rules)
                };
                // A lazy DFA without a give-up threshold does not fail.
                best.min(r.unwrap_or(NONE))
            }
        }
    }

    fn walk_lazy(
        &self,
        dfa: &hybrid::dfa::DFA,
        cache: &mut hybrid::dfa::Cache,
        bytes: impl Iterator<Item = u8>,
        rules: &RuleSet,
    ) -> Option<u32> {
        let mut s = dfa
            .start_state(cache, &start::Config::new().anchored(Anchored::Yes))
            .ok()?;
        let mut best = NONE;
        let bool_rules: Vec<u32> = Vec::new();
        for b in bytes {
            s = dfa.next_state(cache, s, b).ok()?;
            if s.is_tagged() {
                if s.is_dead() {
                    return Some(best.min(self.lazy_eoi_winner(dfa, cache, s, rules, &bool_rules)));
                }
                if self.has_prefix && s.is_match() {
                    for i in 0..dfa.match_len(cache, s) {
                        if let Some(Role::Prefix(r)) =
                            self.roles.get(dfa.match_pattern(cache, s, i).as_usize())
                        {
                            best = best.min(*r);
                        }
                    }
                }
            }
        }
        let e = dfa.next_eoi_state(cache, s).ok()?;
        Some(best.min(self.lazy_eoi_winner(dfa, cache, e, rules, &bool_rules)))
    }

    fn lazy_eoi_winner(
        &self,
        dfa: &hybrid::dfa::DFA,
        cache: &hybrid::dfa::Cache,
        e: hybrid::LazyStateID,
        rules: &RuleSet,
        _unused: &[u32],
    ) -> u32 {
        let n = if e.is_match() {
            dfa.match_len(cache, e)
        } else {
            0
        };
        let mut best = NONE;
        for i in 0..n {
            match self.roles.get(dfa.match_pattern(cache, e, i).as_usize()) {
                Some(Role::Full(r)) | Some(Role::Prefix(r)) => best = best.min(*r),
                _ => {}
            }
        }
        // Boolean rules live in the forward automaton only.
        if self.reverse {
            return best;
        }
        // Boolean rules: evaluate in order over the state's atoms.
        for r in rules
            .rules()
            .iter()
            .take(best.min(rules.rules().len() as u32) as usize)
        {
            if matches!(r.expr, Expr::Atom(_)) {
                continue;
            }
            let held = |a: usize| {
                (0..n).any(|i| matches!(self.roles.get(dfa.match_pattern(cache, e, i).as_usize()), Some(Role::Bool(x)) if *x as usize == a))
            };
            if r.expr.eval(&mut { held }) {
                return r.index as u32;
            }
        }
        best
    }
}

/// The forward walk resumed after `shared` bytes: `stack[i]` holds the
/// state and best prefix rule after `i` bytes of the previous name; the
/// stack ends early where the previous walk was settled, with `settled` its
/// answer.
fn walk_resume(
    table: &table::Table,
    name: &[u8],
    shared: usize,
    stack: &mut Vec<(u32, u32)>,
    settled: &mut Option<u32>,
) -> u32 {
    if shared >= stack.len()
        && let Some(answer) = *settled
    {
        // The previous name was settled within the shared prefix.
        return answer;
    }
    let from = shared.min(stack.len() - 1);
    stack.truncate(from + 1);
    *settled = None;
    let (mut s, mut best) = stack[from];
    for &b in &name[from..] {
        match table.step(s, best, b) {
            Ok((t, b2)) => {
                s = t;
                best = b2;
                stack.push((s, best));
            }
            Err(answer) => {
                *settled = Some(answer);
                return answer;
            }
        }
    }
    best.min(table.eoi(s))
}

/// Length of the common prefix of `a` and `b`, eight bytes at a time (the
/// shared prefix of consecutive names is 13-40 bytes in tree order).
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let (mut ca, mut cb) = (a[..n].chunks_exact(8), b[..n].chunks_exact(8));
    let mut i = 0;
    for (x, y) in (&mut ca).zip(&mut cb) {
        let (x, y) = (
            u64::from_le_bytes(x.try_into().unwrap_or_default()),
            u64::from_le_bytes(y.try_into().unwrap_or_default()),
        );
        if x != y {
            return i + ((x ^ y).trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .take_while(|(x, y)| x == y)
        .count()
}

/// One traversal of the dense DFA from its anchored start state: for every
/// reachable state, the winner if the name ends there (`on_eoi`) and the
/// best prefix rule it holds (`pre`).
fn tables(
    dfa: &dense::DFA<Vec<u32>>,
    start: StateID,
    rules: &RuleSet,
    bool_rules: &[u32],
    roles: &[Role],
) -> (Vec<u32>, Vec<u32>) {
    let stride2 = dfa.stride2();
    let idx = |s: StateID| s.as_usize() >> stride2;
    let mut on_eoi: Vec<u32> = Vec::new();
    let mut pre: Vec<u32> = Vec::new();
    let mut seen: Vec<bool> = Vec::new();
    let mut stack = vec![start];
    let reps: Vec<u8> = dfa
        .byte_classes()
        .representatives(..)
        .filter_map(|u| u.as_u8())
        .collect();
    let mark = |s: StateID, seen: &mut Vec<bool>| -> bool {
        let i = idx(s);
        if i >= seen.len() {
            seen.resize(i + 1, false);
        }
        !std::mem::replace(&mut seen[i], true)
    };
    mark(start, &mut seen);
    while let Some(s) = stack.pop() {
        let i = idx(s);
        if i >= on_eoi.len() {
            on_eoi.resize(i + 1, NONE);
            pre.resize(i + 1, NONE);
        }
        if dfa.is_match_state(s) {
            let mut best = NONE;
            for k in 0..dfa.match_len(s) {
                if let Some(Role::Prefix(r)) = roles.get(dfa.match_pattern(s, k).as_usize()) {
                    best = best.min(*r);
                }
            }
            pre[i] = best;
        }
        let e = dfa.next_eoi_state(s);
        let held: Vec<usize> = if dfa.is_match_state(e) {
            (0..dfa.match_len(e))
                .map(|k| dfa.match_pattern(e, k).as_usize())
                .collect()
        } else {
            Vec::new()
        };
        on_eoi[i] = winner_of(rules, bool_rules, roles, &mut held.into_iter());
        if dfa.is_dead_state(s) {
            continue;
        }
        for &b in &reps {
            let t = dfa.next_state(s, b);
            if mark(t, &mut seen) {
                stack.push(t);
            }
        }
    }
    (on_eoi, pre)
}

#[cfg(test)]
mod tests {
    use super::common_prefix;

    /// Against the byte-at-a-time count: every pair of prefixes of names
    /// that differ at each position from 0 to 23 (inside and across the
    /// 8-byte words).
    #[test]
    fn common_prefix_matches_bytewise_count() {
        let base = b"model.layers.17.mlp.experts.3";
        let mut names: Vec<Vec<u8>> = vec![base.to_vec()];
        for i in 0..24 {
            let mut n = base.to_vec();
            n[i] ^= 1;
            names.push(n);
        }
        for a in &names {
            for b in &names {
                for (la, lb) in [(a.len(), b.len()), (7, 29), (16, 9), (0, 5), (24, 24)] {
                    let (a, b) = (&a[..la], &b[..lb]);
                    let naive = a.iter().zip(b).take_while(|(x, y)| x == y).count();
                    assert_eq!(common_prefix(a, b), naive, "{a:?} {b:?}");
                }
            }
        }
    }
}
