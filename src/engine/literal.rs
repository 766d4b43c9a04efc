//! The literal fast path for "dot literal" keys: a key made only of literal
//! characters and unescaped `.` (any character), as EVA and other tools
//! write one raw module name per key.
//!
//! A dot-literal key K of byte length L matches an ASCII dot-aligned suffix
//! S of a name iff `|S| = L` and S agrees with K everywhere K is not a `.`
//! wildcard. Keys are grouped by (length, wildcard positions); for each group
//! S is copied with the wildcard positions set to `.` and looked up in the
//! group's hash map. Exact for ASCII names without `\n` (one character = one
//! byte); other names use the Unicode automata. Build O(total key bytes);
//! lookup O(dots × groups of that length) hash probes, independent of the
//! number of keys (ENGINE-NOTES §1.5 measured 185 ns/name at 45k keys, 5 ms
//! build, against seconds for any DFA).

use hashbrown::HashMap;

use regex_syntax::hir::{Dot, Hir, HirKind};

const MAX_KEY: usize = 1024;
const NONE: u32 = u32::MAX;

#[derive(Debug, Default)]
struct Group {
    wildcards: Box<[u16]>,
    keys: HashMap<Box<[u8]>, u32>,
}

/// Dot-literal keys of single-atom rules, each mapped to its lowest rule.
#[derive(Debug, Default)]
pub(crate) struct LiteralKeys {
    groups: Vec<Group>,
    /// `by_len[L]`: the groups of keys of length L.
    by_len: Vec<Vec<u32>>,
}

/// The bytes of `hir` with `None` for a `.` wildcard, if it is a dot
/// literal of 1..=1024 bytes (ASCII-mode HIR).
pub(crate) fn dot_literal(hir: &Hir) -> Option<Vec<Option<u8>>> {
    let dot = Hir::dot(Dot::AnyByteExceptLF);
    let mut out = Vec::new();
    let mut push = |h: &Hir| -> bool {
        match h.kind() {
            HirKind::Literal(l) => {
                out.extend(l.0.iter().map(|&b| Some(b)));
                true
            }
            _ if *h == dot => {
                out.push(None);
                true
            }
            _ => false,
        }
    };
    let ok = match hir.kind() {
        HirKind::Concat(subs) => subs.iter().all(&mut push),
        _ => push(hir),
    };
    (ok && !out.is_empty() && out.len() <= MAX_KEY).then_some(out)
}

impl LiteralKeys {
    /// Adds key `k` of rule `rule` (the lower rule wins on duplicates).
    pub(crate) fn insert(&mut self, k: &[Option<u8>], rule: u32) {
        let wildcards: Box<[u16]> = k
            .iter()
            .enumerate()
            .filter(|(_, b)| b.is_none())
            .map(|(i, _)| i as u16)
            .collect();
        let bytes: Box<[u8]> = k.iter().map(|b| b.unwrap_or(b'.')).collect();
        if self.by_len.len() <= k.len() {
            self.by_len.resize(k.len() + 1, Vec::new());
        }
        let gid = match self.by_len[k.len()]
            .iter()
            .find(|&&g| self.groups[g as usize].wildcards == wildcards)
        {
            Some(&g) => g,
            None => {
                self.groups.push(Group {
                    wildcards,
                    keys: HashMap::new(),
                });
                let g = (self.groups.len() - 1) as u32;
                self.by_len[k.len()].push(g);
                g
            }
        };
        let e = self.groups[gid as usize].keys.entry(bytes).or_insert(rule);
        *e = (*e).min(rule);
    }

    /// Number of distinct keys.
    pub(crate) fn len(&self) -> usize {
        self.groups.iter().map(|g| g.keys.len()).sum()
    }

    /// True when no key was added.
    pub(crate) fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The lowest rule whose key matches a dot-aligned suffix of the ASCII
    /// name `name` (or the whole name). No allocation.
    pub(crate) fn lookup(&self, name: &[u8]) -> u32 {
        let mut best = NONE;
        // Masked copies of suffixes: on the stack up to 256 bytes.
        let mut small = [0u8; 256];
        let mut large = Vec::new();
        let starts = std::iter::once(0).chain(
            name.iter()
                .enumerate()
                .filter(|(_, b)| **b == b'.')
                .map(|(i, _)| i + 1),
        );
        for start in starts {
            let s = &name[start..];
            let Some(groups) = self.by_len.get(s.len()) else {
                continue;
            };
            for &g in groups {
                let g = &self.groups[g as usize];
                let hit = if g.wildcards.is_empty() {
                    g.keys.get(s)
                } else {
                    let b = if s.len() <= small.len() {
                        &mut small[..s.len()]
                    } else {
                        large.resize(s.len(), 0);
                        &mut large[..]
                    };
                    b.copy_from_slice(s);
                    for &w in g.wildcards.iter() {
                        b[w as usize] = b'.';
                    }
                    g.keys.get(&*b)
                };
                if let Some(&r) = hit {
                    best = best.min(r);
                }
            }
        }
        best
    }

    /// Approximate heap bytes.
    pub(crate) fn memory_usage(&self) -> usize {
        self.groups
            .iter()
            .map(|g| g.wildcards.len() * 2 + g.keys.keys().map(|k| k.len() + 48).sum::<usize>())
            .sum()
    }
}
