//! Exact dead-rule analysis over the automaton.
//!
//! A rule is **live** iff it decides at least one valid module name (non-empty
//! UTF-8, no empty segment, no `\n`). The resolver's walk over a name is a
//! path in the DFA; its winner is `min(best prefix rule seen, winner
//! of the final state)`. A breadth-first traversal of the product of the DFA,
//! the running best prefix rule, a UTF-8 validator and a segment validator
//! visits every (state, best) pair a valid name can reach, so the set of
//! winners it finds is exactly the set of live rules. One traversal serves
//! every rule.
//!
//! For a dead rule, a second search finds a shortest valid name the rule
//! matches (if any): resolving it names the rule that shadows it.
//!
//! The analysis needs a single dense DFA holding every atom. Forward, key
//! rules are inlined as `(?:.*\.)?(?:K)`, a `.*` loop alive in every state
//! (ENGINE-NOTES §1.3: EVA-560's 560 keys ran 12 s into determinization
//! before the 16 MiB limit stopped it); reversed, keys are loop-free
//! prefixes of the reversed name while rules ending in `.*` carry the loop.
//! The analysis reads names backwards when keys (or a leading `.*`) far
//! outnumber patterns ending in `.*` ([`Reading::Auto`]). The product is the
//! same either way, with a UTF-8 validator for bytes read
//! backwards. When the automaton exceeds the limits the analysis is skipped
//! and says so.

use std::collections::VecDeque;

use hashbrown::{HashMap, HashSet};

use regex_automata::dfa::Automaton;
use regex_automata::util::primitives::StateID;

use super::{Kind, Matcher, NONE, Role, Walker};
use crate::ir::{Expr, RuleSet};
use crate::syntax::ast::PatternKind;

/// The result of [`dead_rules`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Analysis {
    /// The analysis ran: these rules can never decide a module.
    Done(Vec<DeadRule>),
    /// The analysis could not run (why, in words).
    Skipped(String),
}

/// One rule that never decides a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadRule {
    /// Its index.
    pub rule: usize,
    /// A shortest valid module name the rule matches, with the rule that
    /// decides that name instead; `None` when the rule matches no valid
    /// module name at all.
    pub witness: Option<(String, usize)>,
}

/// Bound on the product states visited, so a huge automaton cannot make a
/// lint run unbounded. A visit costs about 40 bytes (visited set and
/// queue): 20,000,000 visits took 800 MB in an attack session, so the bound
/// is 5,000,000 (about 200 MB); `r100.json`'s analysis needs far fewer.
const MAX_VISITS: usize = 5_000_000;
/// Key rules beyond this count are not inlined for the analysis (their
/// `(?:.*\.)?` prefixes make the DFA build slow; ENGINE-NOTES §1.3).
const MAX_INLINE_KEYS: usize = 2_000;

/// UTF-8 validator states: 0 = between characters; others expect more bytes.
fn utf8_next(state: u8, b: u8) -> Option<u8> {
    // 1: one continuation 80-BF left; 2: two; 3: three;
    // 4: E0 (A0-BF then 1); 5: ED (80-9F then 1); 6: F0 (90-BF then 2); 7: F4 (80-8F then 2).
    match state {
        0 => match b {
            0x00..=0x7F => Some(0),
            0xC2..=0xDF => Some(1),
            0xE0 => Some(4),
            0xE1..=0xEC | 0xEE..=0xEF => Some(2),
            0xED => Some(5),
            0xF0 => Some(6),
            0xF1..=0xF3 => Some(3),
            0xF4 => Some(7),
            _ => None,
        },
        1 => (0x80..=0xBF).contains(&b).then_some(0),
        2 => (0x80..=0xBF).contains(&b).then_some(1),
        3 => (0x80..=0xBF).contains(&b).then_some(2),
        4 => (0xA0..=0xBF).contains(&b).then_some(1),
        5 => (0x80..=0x9F).contains(&b).then_some(1),
        6 => (0x90..=0xBF).contains(&b).then_some(2),
        7 => (0x80..=0x8F).contains(&b).then_some(2),
        _ => None,
    }
}

/// UTF-8 validator for bytes read from the end of the name: 0 = between
/// characters; otherwise `1 + 3 × (continuation bytes read − 1) + range of
/// the last one read` (ranges 80-8F, 90-9F, A0-BF: the lead byte's
/// constraint is on the continuation byte next to it).
fn utf8_prev(state: u8, b: u8) -> Option<u8> {
    let (count, last) = match state {
        0 => (0, 0),
        1..=9 => ((state - 1) / 3 + 1, (state - 1) % 3),
        _ => return None,
    };
    let ok = match b {
        0x00..=0x7F => count == 0,
        0x80..=0xBF => {
            let range = match b {
                0x80..=0x8F => 0,
                0x90..=0x9F => 1,
                _ => 2,
            };
            return (count < 3).then_some(1 + 3 * count + range);
        }
        0xC2..=0xDF => count == 1,
        0xE0 => count == 2 && last == 2,
        0xED => count == 2 && last < 2,
        0xE1..=0xEC | 0xEE..=0xEF => count == 2,
        0xF0 => count == 3 && last > 0,
        0xF4 => count == 3 && last == 0,
        0xF1..=0xF3 => count == 3,
        _ => false,
    };
    ok.then_some(0)
}

/// Segment validator: `false` at the start of a segment, `true` inside one.
fn seg_next(inside: bool, b: u8) -> Option<bool> {
    if b == b'.' {
        inside.then_some(false)
    } else {
        Some(true)
    }
}

/// The validators' class of a byte: bytes of one class move both UTF-8
/// validators and the segment validator alike.
fn validator_class(b: u8) -> u8 {
    match b {
        b'.' => 0,
        b'\n' => 1,
        0x00..=0x7F => 2,
        0x80..=0x8F => 3,
        0x90..=0x9F => 4,
        0xA0..=0xBF => 5,
        0xC2..=0xDF => 6,
        0xE0 => 7,
        0xE1..=0xEC | 0xEE..=0xEF => 8,
        0xED => 9,
        0xF0 => 10,
        0xF1..=0xF3 => 11,
        0xF4 => 12,
        _ => 13,
    }
}

struct Product<'a> {
    dfa: &'a regex_automata::dfa::dense::DFA<Vec<u32>>,
    start: StateID,
    stride2: usize,
    on_eoi: &'a [u32],
    pre: &'a [u32],
    /// Whether the DFA reads names from their end.
    reverse: bool,
    /// One byte per (DFA byte class, validator class) that a valid name can
    /// hold, letters and digits first (they become the witnesses' bytes).
    reps: Vec<u8>,
}

impl<'a> Product<'a> {
    fn new(full: &'a super::Full, reverse: bool) -> Self {
        let classes = full.dfa.byte_classes();
        // Printable first: punctuation, then letters beyond ASCII (lead
        // C3 and continuation A0-BF give `é`-like characters, not the C1
        // controls of C2 80-9F), space, and control bytes last.
        let preferred = (b'a'..=b'z')
            .chain(b'0'..=b'9')
            .chain(b'A'..=b'Z')
            .chain([b'_', b'-'])
            .chain(0x21..=0x7E)
            .chain(0xC3..=0xDF)
            .chain(0xA0..=0xBF)
            .chain(0x80..=0x9F)
            .chain(0xE1..=0xEC)
            .chain(0xC2..=0xFF)
            .chain([b' '])
            .chain(0..=255u8);
        let mut taken = HashSet::new();
        let reps = preferred
            .filter(|&b| b != b'\n' && validator_class(b) != 13)
            .filter(|&b| taken.insert((classes.get(b), validator_class(b))))
            .collect();
        Product {
            dfa: &full.dfa,
            start: full.start,
            stride2: full.stride2,
            on_eoi: &full.on_eoi,
            pre: &full.pre,
            reverse,
            reps,
        }
    }

    fn idx(&self, s: StateID) -> usize {
        s.as_usize() >> self.stride2
    }

    fn table(t: &[u32], i: usize) -> u32 {
        t.get(i).copied().unwrap_or(NONE)
    }

    /// The bytes a valid module name can continue with (in the DFA's
    /// reading direction) from validator state (`utf8`, `inside`), with the
    /// validator states after each: no `\n`, valid UTF-8, no empty segment.
    /// O(byte classes), not O(256).
    fn steps(&self, utf8: u8, inside: bool) -> impl Iterator<Item = (u8, u8, bool)> + '_ {
        let next = if self.reverse { utf8_prev } else { utf8_next };
        self.reps
            .iter()
            .filter_map(move |&b| Some((b, next(utf8, b)?, seg_next(inside, b)?)))
    }
}

/// Finds the rules of `rules` that can never decide a valid module name.
///
/// The automaton reads names forward, or backwards when keys (or a leading
/// `.*`) far outnumber patterns ending in `.*` ([`Reading::Auto`]): keys
/// keep a `.*` loop alive in every forward DFA state.
///
/// Complexity: one dense-DFA build with every atom (bounded by the default
/// [`Config`](super::Config) limits), then O(states × distinct prefix winners × byte
/// classes) transitions, bounded by an internal visit limit.
pub fn dead_rules(rules: &RuleSet) -> Analysis {
    dead_rules_reading(rules, Reading::Auto)
}

/// The direction in which [`dead_rules_reading`] reads names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Backwards when keys and regexes with a leading `.*` outnumber the
    /// patterns ending in `.*` more than 16 to 1, forward otherwise (what
    /// [`dead_rules`] does).
    Auto,
    /// Forward: keys inlined as `(?:.*\.)?(?:K)`.
    Forward,
    /// Backwards: keys as prefixes of the reversed name.
    Backward,
}

/// [`dead_rules`] reading names in the given direction. Both directions
/// give the same dead rules when both automata fit (a property test checks
/// it); they differ only in what they cost, and the witnesses may differ
/// (each is a shortest name in its reading order).
pub fn dead_rules_reading(rules: &RuleSet, reading: Reading) -> Analysis {
    let keys = rules
        .atoms()
        .iter()
        .filter(|a| a.kind == PatternKind::Key)
        .count();
    if keys > MAX_INLINE_KEYS {
        return Analysis::Skipped(format!(
            "{keys} key patterns: the single automaton the analysis needs would be too large (limit {MAX_INLINE_KEYS})"
        ));
    }
    if rules.rules().is_empty() {
        return Analysis::Done(Vec::new());
    }
    let reverse = match reading {
        Reading::Auto => reads_backwards(rules),
        Reading::Forward => false,
        Reading::Backward => true,
    };
    // Unicode mode: a rule dead on ASCII names may live on others (`\w`
    // matches `é` only in Unicode mode), and "dead" must hold for every
    // name. A property test found `!re "\w+(\.\w+)*"` reported as killing
    // `key "é"` with the ASCII automaton.
    let m = match Matcher::build_single(rules.clone(), reverse) {
        Ok(m) => m,
        Err(e) => return Analysis::Skipped(e.to_string()),
    };
    let walker = if reverse { &m.main.rev } else { &m.main.fwd };
    let Some(Walker {
        kind: Kind::Dense {
            full: Some(full), ..
        },
        roles,
        ..
    }) = walker
    else {
        let which = if reverse { "reverse" } else { "forward" };
        return Analysis::Skipped(format!(
            "the {which} automaton it needs exceeds the dense-DFA limit"
        ));
    };
    let p = Product::new(full, reverse);
    let Some(found) = live_winners(&p, roles) else {
        return Analysis::Skipped(format!("more than {MAX_VISITS} automaton states to visit"));
    };
    let mut dead = Vec::new();
    for (r, rule) in rules.rules().iter().enumerate() {
        if !found.live.contains(&(r as u32)) {
            // A single-atom rule no valid name matches has no witness: the
            // search would visit the whole product to find that out again
            // (1,500 such rules took 68 s).
            let unmatchable =
                matches!(rule.expr, Expr::Atom(_)) && !found.matchable.contains(&(r as u32));
            let witness = (!unmatchable)
                .then(|| witness(&p, roles, rules, r))
                .flatten()
                .map(|name| {
                    let winner = m.resolve_index(&name).unwrap_or(usize::MAX);
                    (name, winner)
                });
            dead.push(DeadRule { rule: r, witness });
        }
    }
    Analysis::Done(dead)
}

/// Whether the analysis should read names backwards. Each atom with a
/// leading `.*` loop (a key, or a regex starting with `.*`) keeps that loop
/// alive in every state of the forward DFA; each atom ending in `.*`
/// (keys included, and atoms inside `!`/`&`/`|` rules) does the same read
/// backwards, and costs far more, since reversed it restarts at every byte,
/// not only after a dot. Measured: `r100.json` (80 keys, 14 trailing `.*`)
/// fits forward in 9 s and ran 20 s into the limit reversed; `eva-560.json`
/// (560 keys) ran 12 s into the limit forward and fits reversed in 0.3 s;
/// EVA-560 plus one `"vision_tower\..*"` key likewise. Backwards when the
/// leading loops outnumber the trailing ones more than 16 to 1.
fn reads_backwards(rules: &RuleSet) -> bool {
    let (mut leading, mut trailing) = (0usize, 0usize);
    for atom in rules.atoms() {
        if super::strip_trailing_dot_star(atom.hir()).is_some() {
            trailing += 1;
        } else if atom.kind == PatternKind::Key
            || super::strip_leading_dot_star(atom.hir()).is_some()
        {
            leading += 1;
        }
    }
    leading > 16 * trailing
}

/// What one traversal finds: every winner some valid name reaches, and
/// every single-atom rule some valid name matches (`matchable`: a dead rule
/// outside it needs no witness search, it matches nothing).
struct Traversal {
    live: HashSet<u32>,
    matchable: HashSet<u32>,
}

/// The traversal of the product; `None` past the visit limit.
fn live_winners(p: &Product<'_>, roles: &[Role]) -> Option<Traversal> {
    let mut out = Traversal {
        live: HashSet::new(),
        matchable: HashSet::new(),
    };
    // Each DFA state's atoms are read once (as a match state, and at the
    // end of a valid name), whatever the product state it appears in.
    let (mut scanned, mut scanned_eoi) = (HashSet::new(), HashSet::new());
    let held = |s: StateID, out: &mut HashSet<u32>, full: bool| {
        for k in 0..p.dfa.match_len(s) {
            match roles.get(p.dfa.match_pattern(s, k).as_usize()) {
                Some(Role::Prefix(r)) => {
                    out.insert(*r);
                }
                Some(Role::Full(r)) if full => {
                    out.insert(*r);
                }
                _ => {}
            }
        }
    };
    let mut seen: HashSet<(u32, u32, u8, bool)> = HashSet::new();
    let mut queue = VecDeque::new();
    let s0 = (p.start.as_u32(), NONE, 0u8, false);
    seen.insert(s0);
    queue.push_back((p.start, NONE, 0u8, false));
    while let Some((s, best, u, inside)) = queue.pop_front() {
        let i = p.idx(s);
        if p.dfa.is_dead_state(s) {
            // Any valid completion works; the result no longer changes.
            out.live.insert(best.min(Product::table(p.on_eoi, i)));
            continue;
        }
        if u == 0 && inside {
            out.live.insert(best.min(Product::table(p.on_eoi, i)));
            if scanned_eoi.insert(s) {
                let e = p.dfa.next_eoi_state(s);
                if p.dfa.is_match_state(e) {
                    held(e, &mut out.matchable, true);
                }
            }
        }
        for (b, u2, in2) in p.steps(u, inside) {
            let t = p.dfa.next_state(s, b);
            let mut best2 = best;
            if p.dfa.is_match_state(t) {
                best2 = best2.min(Product::table(p.pre, p.idx(t)));
                if scanned.insert(t) {
                    // A prefix atom matched here matches every completion.
                    held(t, &mut out.matchable, false);
                }
            }
            if seen.insert((t.as_u32(), best2, u2, in2)) {
                if seen.len() > MAX_VISITS {
                    return None;
                }
                queue.push_back((t, best2, u2, in2));
            }
        }
    }
    Some(out)
}

/// Whether the match state `s` holds an atom of rule `r` of the given kind.
fn holds(p: &Product<'_>, roles: &[Role], s: StateID, r: usize, prefix_only: bool) -> bool {
    p.dfa.is_match_state(s)
        && (0..p.dfa.match_len(s)).any(|k| match roles.get(p.dfa.match_pattern(s, k).as_usize()) {
            Some(Role::Prefix(x)) => *x as usize == r,
            Some(Role::Full(x)) => !prefix_only && *x as usize == r,
            _ => false,
        })
}

/// A shortest valid name matched by rule `r`.
fn witness(p: &Product<'_>, roles: &[Role], rules: &RuleSet, r: usize) -> Option<String> {
    let rule = rules.rules().get(r)?;
    let is_bool = !matches!(rule.expr, crate::ir::Expr::Atom(_));
    // Node: (state, prefix of r seen, utf8, inside); parent pointers for the name.
    let mut nodes: Vec<(StateID, bool, u8, bool, usize, u8)> =
        vec![(p.start, false, 0, false, usize::MAX, 0)];
    let mut seen: HashMap<(u32, bool, u8, bool), ()> = HashMap::new();
    seen.insert((p.start.as_u32(), false, 0, false), ());
    let mut queue = VecDeque::from([0usize]);
    while let Some(n) = queue.pop_front() {
        let (s, got, u, inside, _, _) = nodes[n];
        if u == 0 && inside {
            let e = p.dfa.next_eoi_state(s);
            let matched = got
                || holds(p, roles, e, r, false)
                || (is_bool
                    && rule.expr.eval(&mut |a| {
                        p.dfa.is_match_state(e)
                            && (0..p.dfa.match_len(e)).any(|k| {
                                matches!(roles.get(p.dfa.match_pattern(e, k).as_usize()), Some(Role::Bool(x)) if *x as usize == a)
                            })
                    }));
            if matched {
                let mut bytes = Vec::new();
                let mut k = n;
                while nodes[k].4 != usize::MAX {
                    bytes.push(nodes[k].5);
                    k = nodes[k].4;
                }
                if !p.reverse {
                    bytes.reverse();
                }
                return String::from_utf8(bytes).ok();
            }
        }
        if seen.len() > MAX_VISITS {
            return None;
        }
        for (b, u2, in2) in p.steps(u, inside) {
            let t = p.dfa.next_state(s, b);
            let got2 = got || holds(p, roles, t, r, true);
            if p.dfa.is_dead_state(t) && !got2 && !is_bool {
                continue;
            }
            if seen.insert((t.as_u32(), got2, u2, in2), ()).is_none() {
                nodes.push((t, got2, u2, in2, n, b));
                queue.push_back(nodes.len() - 1);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{utf8_next, utf8_prev};

    /// Runs a validator over `bytes`: whether it ends between characters.
    fn valid(next: fn(u8, u8) -> Option<u8>, bytes: impl Iterator<Item = u8>) -> bool {
        let mut s = 0;
        for b in bytes {
            match next(s, b) {
                Some(t) => s = t,
                None => return false,
            }
        }
        s == 0
    }

    /// Both validators agree with `std::str::from_utf8` on every sequence
    /// of one to three bytes, and on four-byte sequences around the lead
    /// bytes' boundaries (F0 90, F4 8F, ...).
    #[test]
    fn utf8_validators_agree_with_std() {
        let interesting: Vec<u8> = (0..=255u8)
            .filter(|b| b % 16 == 0 || b % 16 == 15 || *b >= 0xC0 || b.is_ascii_lowercase())
            .collect();
        let check = |seq: &[u8]| {
            let std = std::str::from_utf8(seq).is_ok();
            assert_eq!(
                valid(utf8_next, seq.iter().copied()),
                std,
                "forward {seq:02X?}"
            );
            assert_eq!(
                valid(utf8_prev, seq.iter().rev().copied()),
                std,
                "backward {seq:02X?}"
            );
        };
        for a in 0..=255u8 {
            check(&[a]);
            for b in 0..=255u8 {
                check(&[a, b]);
            }
        }
        for &a in &interesting {
            for &b in &interesting {
                for &c in &interesting {
                    check(&[a, b, c]);
                    for d in [0x80, 0x8F, 0x90, 0xBF, b'a'] {
                        check(&[a, b, c, d]);
                    }
                }
            }
        }
    }
}
