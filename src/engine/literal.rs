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

use std::hash::BuildHasher;

use hashbrown::HashTable;

use regex_syntax::hir::{Dot, Hir, HirKind};

const MAX_KEY: usize = 1024;
const NONE: u32 = u32::MAX;

#[derive(Debug, Default)]
struct Group {
    wildcards: Box<[u16]>,
    /// (offset of the key in the arena, lowest rule): 8-byte slots, so the
    /// slots of 45k keys take 512 KiB, and the key bytes lie in insertion
    /// (tree) order in the arena. All keys of a group have the group's length.
    keys: HashTable<(u32, u32)>,
    /// Bigram filter: bit `bigram(k)` is set for the first two bytes of
    /// every key; `None` when a wildcard is among them (or keys are shorter).
    /// Most suffixes of a name (`layers.…`, `mlp.…`) start differently from
    /// every key of their length, and are rejected without hashing.
    starts: Option<Box<[u64; 64]>>,
    /// Whether some key has a literal (escaped) `.`. When none has, a
    /// suffix can only match if each of its dots falls on a wildcard: the
    /// groups of other shapes are skipped without hashing (EVA-48k: 26
    /// groups over 16 lengths, about one probe per name left).
    literal_dots: bool,
}

/// Whether the sorted positions `dots` are all in the sorted `wildcards`.
fn subset(dots: impl Iterator<Item = u16>, wildcards: &[u16]) -> bool {
    let mut w = wildcards.iter().peekable();
    for d in dots {
        while w.next_if(|&&x| x < d).is_some() {}
        if w.next_if(|&&x| x == d).is_none() {
            return false;
        }
    }
    true
}

/// The filter bit of a suffix starting with bytes `a`, `b` (of 4096).
#[inline]
fn bigram(a: u8, b: u8) -> usize {
    ((a as usize) << 5 ^ b as usize) & 4095
}

/// Dot-literal keys of single-atom rules, each mapped to its lowest rule.
#[derive(Debug, Default)]
pub(crate) struct LiteralKeys {
    groups: Vec<Group>,
    /// Every key's bytes (wildcards written `.`), one after the other.
    arena: Vec<u8>,
    hasher: hashbrown::DefaultHashBuilder,
    /// The lowest rule of any key (`None` when empty).
    min_rule: Option<u32>,
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
        self.min_rule = Some(self.min_rule.map_or(rule, |m| m.min(rule)));
        let wildcards: Box<[u16]> = k
            .iter()
            .enumerate()
            .filter(|(_, b)| b.is_none())
            .map(|(i, _)| i as u16)
            .collect();
        let bytes: Vec<u8> = k.iter().map(|b| b.unwrap_or(b'.')).collect();
        if self.by_len.len() <= k.len() {
            self.by_len.resize(k.len() + 1, Vec::new());
        }
        let gid = match self.by_len[k.len()]
            .iter()
            .find(|&&g| self.groups[g as usize].wildcards == wildcards)
        {
            Some(&g) => g,
            None => {
                let filtered = k.len() >= 2 && k[0].is_some() && k[1].is_some();
                self.groups.push(Group {
                    wildcards,
                    keys: HashTable::new(),
                    starts: filtered.then(|| Box::new([0u64; 64])),
                    literal_dots: false,
                });
                let g = (self.groups.len() - 1) as u32;
                self.by_len[k.len()].push(g);
                g
            }
        };
        let group = &mut self.groups[gid as usize];
        group.literal_dots |= k.contains(&Some(b'.'));
        if let (Some(f), [Some(a), Some(b), ..]) = (&mut group.starts, k) {
            let i = bigram(*a, *b);
            f[i / 64] |= 1 << (i % 64);
        }
        let hash = self.hasher.hash_one(&bytes[..]);
        let (arena, len) = (&mut self.arena, bytes.len());
        let eq = |&(o, _): &(u32, u32)| arena[o as usize..o as usize + len] == bytes[..];
        match group.keys.find_mut(hash, eq) {
            Some(e) => e.1 = e.1.min(rule),
            None => {
                let o = arena.len() as u32;
                arena.extend_from_slice(&bytes);
                let hasher = &self.hasher;
                group.keys.insert_unique(hash, (o, rule), |&(o, _)| {
                    hasher.hash_one(&arena[o as usize..o as usize + len])
                });
            }
        }
    }

    /// Number of distinct keys.
    pub(crate) fn len(&self) -> usize {
        self.groups.iter().map(|g| g.keys.len()).sum()
    }

    /// The lowest rule of any key (`u32::MAX` when there is none): a name
    /// already won by a rule at or below it needs no lookup.
    pub(crate) fn min_rule(&self) -> u32 {
        self.min_rule.unwrap_or(NONE)
    }

    /// The lowest rule whose key matches a dot-aligned suffix of the ASCII
    /// name `name` (or the whole name). No allocation.
    pub(crate) fn lookup(&self, name: &[u8]) -> u32 {
        let mut best = NONE;
        // Masked copies of suffixes: on the stack up to 256 bytes.
        let mut small = [0u8; 256];
        let mut large = Vec::new();
        // The name's dot positions (up to 64; past that, no shape filter).
        let mut dots = [0u16; 64];
        let mut n_dots = 0;
        for (i, _) in name.iter().enumerate().filter(|(_, b)| **b == b'.') {
            if n_dots < dots.len() {
                dots[n_dots] = i as u16;
            }
            n_dots += 1;
        }
        let shapes = n_dots <= dots.len() && name.len() <= u16::MAX as usize;
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
            // The dots of `s`, relative to its start.
            let s_dots = || {
                dots[..n_dots.min(64)]
                    .iter()
                    .filter(move |&&d| d as usize >= start)
                    .map(move |&d| d - start as u16)
            };
            for &g in groups {
                let g = &self.groups[g as usize];
                if let (Some(f), [a, b, ..]) = (&g.starts, s) {
                    let i = bigram(*a, *b);
                    if f[i / 64] & (1 << (i % 64)) == 0 {
                        continue;
                    }
                }
                if shapes && !g.literal_dots && !subset(s_dots(), &g.wildcards) {
                    continue;
                }
                let probe = |key: &[u8]| {
                    let eq = |&(o, _): &(u32, u32)| {
                        self.arena[o as usize..o as usize + key.len()] == *key
                    };
                    g.keys.find(self.hasher.hash_one(key), eq).map(|e| &e.1)
                };
                let hit = if g.wildcards.is_empty() {
                    probe(s)
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
                    probe(b)
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
        self.arena.capacity()
            + self
                .groups
                .iter()
                .map(|g| {
                    g.wildcards.len() * 2
                        + g.starts.as_ref().map_or(0, |_| 512)
                        + g.keys.capacity() * 9
                })
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// PEFT's rule for each key, first match wins: the oracle.
    fn brute(keys: &[String], name: &str) -> u32 {
        keys.iter()
            .position(|k| {
                regex::Regex::new(&format!(r"^(?:.*\.)?(?:{k})$"))
                    .map(|r| r.is_match(name))
                    .unwrap_or(false)
            })
            .map_or(NONE, |i| i as u32)
    }

    proptest! {
        /// Keys of literal letters, `.` wildcards and escaped dots against
        /// names whose characters are the same letters and dots: every
        /// shape filter (bigram, dot positions) keeps the exact answer.
        #[test]
        fn lookup_equals_peft_rule(
            keys in proptest::collection::vec(
                proptest::collection::vec(prop_oneof![Just("a"), Just("b"), Just("."), Just("\\.")], 1..7),
                1..12,
            ),
            names in proptest::collection::vec("[ab.]{1,9}", 1..20),
        ) {
            let keys: Vec<String> = keys.iter().map(|k| k.concat()).collect();
            let mut table = LiteralKeys::default();
            for (i, k) in keys.iter().enumerate() {
                let bytes = crate::pattern::plain_bytes(k).expect("plain key");
                table.insert(&bytes, i as u32);
            }
            for n in &names {
                prop_assert_eq!(table.lookup(n.as_bytes()), brute(&keys, n), "name {:?} keys {:?}", n, keys);
            }
        }
    }
}
