//! The literal fast path for "dot literal" keys: a key made only of literal
//! characters and unescaped `.` (any character), as EVA and other tools
//! write one raw module name per key.
//!
//! A dot-literal key K of byte length L matches an ASCII dot-aligned suffix
//! S of a name iff `|S| = L` and S agrees with K everywhere K is not a `.`
//! wildcard (PEFT 0.21.2's `rank_pattern` rule, `(.*\.)?(K)` full match, on
//! such keys). Keys are grouped by (length, wildcard positions); for each
//! group S, with the wildcard positions set to `.`, is looked up in the
//! group's hash table. Exact for ASCII names without `\n` (one character =
//! one byte); other names use the Unicode automata. Build O(total key
//! bytes); lookup O(dots × groups of that length) hash probes, independent of
//! the number of keys, and about one probe per name on EVA's keys once the
//! bigram and shape filters have run.
//!
//! Measured side by side in one run (EVA-48k over DeepSeek-V3 per expert,
//! the lookup alone, one name at a time, tables not in cache): the filters
//! over bit masks and the 4-byte slots took it from 180 to 110 ns per name;
//! with the tables in cache, from 105 to 69 ns.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use regex_syntax::hir::{Dot, Hir, HirKind};

const MAX_KEY: usize = 1024;
/// Names up to this many bytes take the bit-mask lookup (`u128` masks of
/// dot and wildcard positions); longer ones the position-list one.
const SHORT: usize = 128;
const NONE: u32 = u32::MAX;

#[derive(Debug, Default)]
struct Group {
    wildcards: Box<[u16]>,
    /// Offset of each key in the arena, its lowest rule stored just before
    /// it: 4-byte slots, so the slots and control bytes of 45k keys take
    /// 320 KiB and stay in a 512 KiB L2 cache, and the key bytes lie in
    /// insertion (tree) order in the arena, read in that order when names
    /// come in tree order. All keys of a group have the group's length.
    keys: HashTable<u32>,
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
    /// `wildcards` as a bit mask (bit i for position i), for keys of at
    /// most [`SHORT`] bytes; 0 for longer ones.
    wmask: u128,
}

impl Group {
    /// Whether the bigram filter rules out every key of the group for a
    /// suffix starting with `s`'s first two bytes.
    #[inline]
    fn bigram_rejects(&self, s: &[u8]) -> bool {
        match (&self.starts, s) {
            (Some(f), [a, b, ..]) => {
                let i = bigram(*a, *b);
                f[i / 64] & (1 << (i % 64)) == 0
            }
            _ => false,
        }
    }
}

/// Whether the dot-literal key `key` (`None` for a `.` wildcard) matches
/// the ASCII name `name` under PEFT's key rule: it equals, wildcards aside,
/// the whole name or a suffix starting after a `.`. O(len(name)).
pub(crate) fn key_matches(key: &[Option<u8>], name: &[u8]) -> bool {
    let Some(start) = name.len().checked_sub(key.len()) else {
        return false;
    };
    (start == 0 || name[start - 1] == b'.')
        && key
            .iter()
            .zip(&name[start..])
            .all(|(k, b)| k.is_none_or(|k| k == *b))
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
                    wildcards: wildcards.clone(),
                    keys: HashTable::new(),
                    starts: filtered.then(|| Box::new([0u64; 64])),
                    literal_dots: false,
                    wmask: if k.len() <= SHORT {
                        wildcards.iter().fold(0u128, |m, &i| m | 1 << i)
                    } else {
                        0
                    },
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
        let eq = |&o: &u32| arena[o as usize..o as usize + len] == bytes[..];
        match group.keys.find(hash, eq) {
            Some(&o) => {
                let lower = rule_at(arena, o).min(rule);
                arena[o as usize - 4..o as usize].copy_from_slice(&lower.to_le_bytes());
            }
            None => {
                arena.extend_from_slice(&rule.to_le_bytes());
                let o = arena.len() as u32;
                arena.extend_from_slice(&bytes);
                let hasher = &self.hasher;
                group.keys.insert_unique(hash, o, |&o| {
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

    /// The rule of `key` (wildcards already written `.`) in group `g`: one
    /// hash probe and one comparison with the arena.
    #[inline]
    fn probe(&self, g: &Group, key: &[u8]) -> Option<u32> {
        let eq = |&o: &u32| self.arena.get(o as usize..o as usize + key.len()) == Some(key);
        g.keys
            .find(self.hasher.hash_one(key), eq)
            .map(|&o| rule_at(&self.arena, o))
    }

    /// The lowest rule whose key matches a dot-aligned suffix of the ASCII
    /// name `name` (or the whole name). No allocation.
    pub(crate) fn lookup(&self, name: &[u8]) -> u32 {
        if name.len() <= SHORT {
            return self.lookup_short(name);
        }
        self.lookup_long(name)
    }

    /// [`LiteralKeys::lookup`] for names of at most [`SHORT`] bytes: the
    /// dots of the name are one bit mask, so the shape filter of a group is
    /// two mask operations, and a suffix whose dots are exactly the group's
    /// wildcards is probed as it is, without a masked copy.
    #[inline]
    fn lookup_short(&self, name: &[u8]) -> u32 {
        debug_assert!(name.len() <= SHORT);
        let n = name.len();
        let dmask = dot_mask(name);
        let mut best = NONE;
        let mut buf = [0u8; 128];
        let mut rest = dmask;
        let mut start = 0usize;
        loop {
            if let Some(groups) = self.by_len.get(n - start) {
                let s = &name[start..];
                let sdots = dmask >> start;
                for &g in groups {
                    let g = &self.groups[g as usize];
                    if g.bigram_rejects(s) || (!g.literal_dots && sdots & !g.wmask != 0) {
                        continue;
                    }
                    let key: &[u8] = if g.wmask & !sdots == 0 {
                        s
                    } else {
                        let b = &mut buf[..s.len()];
                        b.copy_from_slice(s);
                        let mut w = g.wmask;
                        while w != 0 {
                            b[w.trailing_zeros() as usize] = b'.';
                            w &= w - 1;
                        }
                        b
                    };
                    if let Some(r) = self.probe(g, key) {
                        best = best.min(r);
                    }
                }
            }
            if rest == 0 {
                return best;
            }
            start = rest.trailing_zeros() as usize + 1;
            rest &= rest - 1;
        }
    }

    /// [`LiteralKeys::lookup`] for any name: dot positions in a list (up to
    /// 64 for the shape filter), masked copies on the stack up to 256 bytes.
    fn lookup_long(&self, name: &[u8]) -> u32 {
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
                if g.bigram_rejects(s)
                    || (shapes && !g.literal_dots && !subset(s_dots(), &g.wildcards))
                {
                    continue;
                }
                let hit = if g.wildcards.is_empty() {
                    self.probe(g, s)
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
                    self.probe(g, b)
                };
                if let Some(r) = hit {
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
                        + g.keys.capacity() * 5
                })
                .sum::<usize>()
    }
}

/// The lowest rule of the key at arena offset `o` (stored in the 4 bytes
/// before it, little-endian).
#[inline]
fn rule_at(arena: &[u8], o: u32) -> u32 {
    let o = o as usize;
    let mut b = [0u8; 4];
    b.copy_from_slice(&arena[o - 4..o]);
    u32::from_le_bytes(b)
}

/// Bit i set iff `name[i] == b'.'`, for names of at most [`SHORT`] bytes;
/// eight bytes at a time (SWAR: exact zero-byte test, then the eight high
/// bits gathered by one multiplication).
#[inline]
fn dot_mask(name: &[u8]) -> u128 {
    debug_assert!(name.len() <= SHORT);
    const LO: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let mut m = 0u128;
    let mut chunks = name.chunks_exact(8);
    let mut at = 0;
    for c in &mut chunks {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        let v = u64::from_le_bytes(b) ^ 0x2e2e_2e2e_2e2e_2e2e;
        // 0x80 in each byte of v that is zero, exactly.
        let z = !(((v & LO) + LO) | v | LO);
        let bits = ((z >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56;
        m |= (bits as u128) << at;
        at += 8;
    }
    for (i, &b) in chunks.remainder().iter().enumerate() {
        m |= ((b == b'.') as u128) << (at + i);
    }
    m
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
                let want = brute(&keys, n);
                prop_assert_eq!(table.lookup_short(n.as_bytes()), want, "name {:?} keys {:?}", n, keys);
                prop_assert_eq!(table.lookup_long(n.as_bytes()), want, "name {:?} keys {:?}", n, keys);
            }
        }
    }

    /// Every pattern of dots and non-dots over 8 bytes (one SWAR word), and
    /// every length up to 128 with the remainder loop, against a byte loop.
    #[test]
    fn dot_mask_marks_exactly_the_dots() {
        let naive = |n: &[u8]| {
            n.iter()
                .enumerate()
                .filter(|(_, b)| **b == b'.')
                .fold(0u128, |m, (i, _)| m | 1 << i)
        };
        for bits in 0..=255u32 {
            let n: Vec<u8> = (0..8)
                .map(|i| {
                    if bits >> i & 1 == 1 {
                        b'.'
                    } else {
                        b'-' + (i as u8 % 2) * 2
                    }
                })
                .collect();
            assert_eq!(dot_mask(&n), naive(&n), "{:?}", String::from_utf8_lossy(&n));
        }
        for len in 0..=SHORT {
            // Bytes next to '.' (0x2e) in value, where a borrow could leak.
            let n: Vec<u8> = (0..len)
                .map(|i| [b'.', b'-', b'/', 0x80 | b'.', 0, 0xff][(i * 7 + len) % 6])
                .collect();
            assert_eq!(dot_mask(&n), naive(&n), "len {len}");
        }
    }
}
