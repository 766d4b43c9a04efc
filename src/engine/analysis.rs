//! Exact dead-rule analysis over the automaton.
//!
//! A rule is **live** iff it decides at least one valid module name (non-empty
//! UTF-8, no empty segment, no `\n`). The resolver's walk over a name is a
//! path in the forward DFA; its winner is `min(best prefix rule seen, winner
//! of the final state)`. A breadth-first traversal of the product of the DFA,
//! the running best prefix rule, a UTF-8 validator and a segment validator
//! visits every (state, best) pair a valid name can reach, so the set of
//! winners it finds is exactly the set of live rules. One traversal serves
//! every rule.
//!
//! For a dead rule, a second search finds a shortest valid name the rule
//! matches (if any): resolving it names the rule that shadows it.
//!
//! The analysis needs a single forward dense DFA holding every atom (key
//! rules inlined as `(?:.*\.)?(?:K)`); when that automaton exceeds the limits
//! the analysis is skipped and says so.

use std::collections::{HashMap, VecDeque};

use regex_automata::dfa::Automaton;
use regex_automata::util::primitives::StateID;

use super::{Config, Kind, Matcher, NONE, Role, Walker};
use crate::ir::RuleSet;

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
/// lint run unbounded (about 400 MB of visited set at worst).
const MAX_VISITS: usize = 20_000_000;
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

/// Segment validator: `false` at the start of a segment, `true` inside one.
fn seg_next(inside: bool, b: u8) -> Option<bool> {
    if b == b'.' {
        inside.then_some(false)
    } else {
        Some(true)
    }
}

/// The bytes a valid module name can continue with from validator state
/// (`utf8`, `inside`), with the validator states after each: no `\n`, valid
/// UTF-8, no empty segment.
fn valid_steps(utf8: u8, inside: bool) -> impl Iterator<Item = (u8, u8, bool)> {
    (0..=255u8)
        .filter(|&b| b != b'\n')
        .filter_map(move |b| Some((b, utf8_next(utf8, b)?, seg_next(inside, b)?)))
}

struct Product<'a> {
    dfa: &'a regex_automata::dfa::dense::DFA<Vec<u32>>,
    start: StateID,
    stride2: usize,
    on_eoi: &'a [u32],
    pre: &'a [u32],
}

impl Product<'_> {
    fn idx(&self, s: StateID) -> usize {
        s.as_usize() >> self.stride2
    }
    fn table(t: &[u32], i: usize) -> u32 {
        t.get(i).copied().unwrap_or(NONE)
    }
}

/// Finds the rules of `rules` that can never decide a valid module name.
///
/// Complexity: one dense-DFA build with every atom inlined, then
/// O(states × distinct prefix winners × 256) transitions, bounded by an
/// internal visit limit.
pub fn dead_rules(rules: &RuleSet) -> Analysis {
    let keys = rules
        .atoms()
        .iter()
        .filter(|a| a.kind == crate::syntax::ast::PatternKind::Key)
        .count();
    if keys > MAX_INLINE_KEYS {
        return Analysis::Skipped(format!(
            "{keys} key patterns: the single automaton the analysis needs would be too large (limit {MAX_INLINE_KEYS})"
        ));
    }
    if rules.rules().is_empty() {
        return Analysis::Done(Vec::new());
    }
    // Unicode mode: a rule dead on ASCII names may live on others (`\w`
    // matches `é` only in Unicode mode), and "dead" must hold for every
    // name. A property test found `!re "\w+(\.\w+)*"` reported as killing
    // `key "é"` with the ASCII automaton.
    let config = Config {
        inline_key_limit: usize::MAX,
        ascii: false,
        ..Config::default()
    };
    let m = match Matcher::build(rules.clone(), &config, true) {
        Ok(m) => m,
        Err(e) => return Analysis::Skipped(e.to_string()),
    };
    let Some(Walker {
        kind: Kind::Dense {
            full: Some(full), ..
        },
        roles,
        ..
    }) = &m.main.fwd
    else {
        return Analysis::Skipped(
            "the automaton exceeds the dense-DFA limit (lazy DFA in use)".into(),
        );
    };
    let p = Product {
        dfa: &full.dfa,
        start: full.start,
        stride2: full.stride2,
        on_eoi: &full.on_eoi,
        pre: &full.pre,
    };
    let live = match live_winners(&p) {
        Some(l) => l,
        None => {
            return Analysis::Skipped(format!("more than {MAX_VISITS} automaton states to visit"));
        }
    };
    let mut dead = Vec::new();
    for r in 0..rules.rules().len() {
        if !live.contains(&(r as u32)) {
            let witness = witness(&p, roles, rules, r).map(|name| {
                let winner = m.resolve_index(&name).unwrap_or(usize::MAX);
                (name, winner)
            });
            dead.push(DeadRule { rule: r, witness });
        }
    }
    Analysis::Done(dead)
}

/// Every winner some valid name reaches; `None` past the visit limit.
fn live_winners(p: &Product<'_>) -> Option<std::collections::HashSet<u32>> {
    let mut live = std::collections::HashSet::new();
    let mut seen: std::collections::HashSet<(u32, u32, u8, bool)> = Default::default();
    let mut queue = VecDeque::new();
    let s0 = (p.start.as_u32(), NONE, 0u8, false);
    seen.insert(s0);
    queue.push_back((p.start, NONE, 0u8, false));
    while let Some((s, best, u, inside)) = queue.pop_front() {
        let i = p.idx(s);
        if p.dfa.is_dead_state(s) {
            // Any valid completion works; the result no longer changes.
            live.insert(best.min(Product::table(p.on_eoi, i)));
            continue;
        }
        if u == 0 && inside {
            live.insert(best.min(Product::table(p.on_eoi, i)));
        }
        for (b, u2, in2) in valid_steps(u, inside) {
            let t = p.dfa.next_state(s, b);
            let mut best2 = best;
            if p.dfa.is_match_state(t) {
                best2 = best2.min(Product::table(p.pre, p.idx(t)));
            }
            if seen.insert((t.as_u32(), best2, u2, in2)) {
                if seen.len() > MAX_VISITS {
                    return None;
                }
                queue.push_back((t, best2, u2, in2));
            }
        }
    }
    Some(live)
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
                bytes.reverse();
                return String::from_utf8(bytes).ok();
            }
        }
        if seen.len() > MAX_VISITS {
            return None;
        }
        for (b, u2, in2) in valid_steps(u, inside) {
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
