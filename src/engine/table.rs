//! The transition table walked at resolution time: the dense DFA reduced to
//! what resolution observes.
//!
//! A [`MatchKind::All`](regex_automata::MatchKind::All) DFA keeps two states
//! apart whenever the *sets* of patterns they can still match differ, but a
//! name's winner depends only on the lowest rule among them. Measured on
//! `benches/data/r100.lora`: 23,832 dense states (6.6 MB), which a walk over
//! 561 names visits all over, so most transitions miss the CPU caches.
//! regex-automata's own minimization keeps the pattern sets and removes
//! nothing there.
//!
//! This table keeps only the two outputs a walk reads — `pre[s]`, the best
//! prefix rule held by state `s`, and `on_eoi[s]`, the winner when the name
//! ends in `s` — and merges states that give the same outputs on every
//! continuation (Moore's partition refinement over the byte classes). The
//! merged states are renumbered so that the dead state and the states with a
//! prefix rule come first: the walk tests one comparison per byte, like
//! regex-automata's special-state range. For each state it also keeps
//! `floor[s]`, the lowest winner reachable from `s`: once the best prefix rule
//! seen is no higher, no continuation can change the answer and the walk
//! stops.

use hashbrown::HashMap;

use regex_automata::dfa::{Automaton, dense};
use regex_automata::util::primitives::StateID;

use super::NONE;

/// A reduced DFA. Each state is one row of `nc + 3` `u32`s: the next state
/// for each of the `nc` byte classes, then `pre` (best prefix rule held),
/// `floor` (lowest winner reachable) and `eoi` (winner if the name ends
/// here). State IDs are row offsets, so a step is one load, and rows are
/// not padded to a power of two (`r100.lora`'s forward table: 44 classes,
/// 188-byte rows instead of 256 plus 12 in separate tables; 129 -> 94
/// ns/name on Llama-70B in one run of the compare bench).
#[derive(Debug, Clone)]
pub(crate) struct Table {
    classes: [u8; 256],
    /// Classes per row.
    nc: usize,
    /// The rows, one after the other.
    rows: Vec<u32>,
    start: u32,
    /// IDs up to this one are special: 0 is the dead state, the others hold
    /// a prefix rule.
    max_special: u32,
}

impl Table {
    /// Builds the reduced table of the states of `dfa` reachable from
    /// `start`; `on_eoi` and `pre` are indexed by dense state index
    /// (`id >> stride2`), as computed by the caller's traversal; `dead_eoi`
    /// is the winner once the DFA is dead (no atom held: a rule such as
    /// `!x` can still win).
    ///
    /// Complexity: O(R × C) per refinement round for R reachable states and
    /// C byte classes; rounds are bounded by the distinguishing depth.
    pub(crate) fn build(
        dfa: &dense::DFA<Vec<u32>>,
        start: StateID,
        on_eoi: &[u32],
        pre: &[u32],
        dead_eoi: u32,
    ) -> Table {
        let stride2 = dfa.stride2();
        let didx = |s: StateID| s.as_usize() >> stride2;
        let get = |t: &[u32], i: usize| t.get(i).copied().unwrap_or(NONE);
        let bc = dfa.byte_classes();
        let reps: Vec<u8> = bc.representatives(..).filter_map(|u| u.as_u8()).collect();
        let nc = reps.len().max(1);
        let mut classes = [0u8; 256];
        for b in 0..=255u8 {
            classes[b as usize] = bc.get(b);
        }
        // Local numbering of the reachable states; 0 is the dead state.
        let mut local: HashMap<StateID, u32> = HashMap::new();
        let mut order: Vec<StateID> = vec![StateID::ZERO];
        let mut trans: Vec<u32> = vec![0; nc];
        let mut out: Vec<(u32, u32)> = vec![(NONE, dead_eoi)];
        let mut visit = |s: StateID, order: &mut Vec<StateID>, out: &mut Vec<(u32, u32)>| {
            if dfa.is_dead_state(s) {
                return 0;
            }
            *local.entry(s).or_insert_with(|| {
                order.push(s);
                out.push((get(pre, didx(s)), get(on_eoi, didx(s))));
                (order.len() - 1) as u32
            })
        };
        let start_local = visit(start, &mut order, &mut out);
        let mut next = 1;
        while next < order.len() {
            let s = order[next];
            for &b in &reps {
                let t = visit(dfa.next_state(s, b), &mut order, &mut out);
                trans.push(t);
            }
            next += 1;
        }
        let n = order.len();
        // Moore refinement from the output partition.
        let mut block: Vec<u32> = {
            let mut ids: HashMap<(u32, u32), u32> = HashMap::new();
            out.iter()
                .map(|o| {
                    let k = ids.len() as u32;
                    *ids.entry(*o).or_insert(k)
                })
                .collect()
        };
        let mut count = block.iter().max().map_or(0, |m| m + 1);
        loop {
            let mut ids: HashMap<Vec<u32>, u32> = HashMap::with_capacity(count as usize * 2);
            let mut sig = Vec::with_capacity(nc + 1);
            let next_block: Vec<u32> = (0..n)
                .map(|s| {
                    sig.clear();
                    sig.push(block[s]);
                    sig.extend(
                        trans[s * nc..(s + 1) * nc]
                            .iter()
                            .map(|&t| block[t as usize]),
                    );
                    let k = ids.len() as u32;
                    *ids.entry(sig.clone()).or_insert(k)
                })
                .collect();
            let new_count = ids.len() as u32;
            block = next_block;
            if new_count == count {
                break;
            }
            count = new_count;
        }
        // Renumber: the dead block first, then blocks with a prefix rule.
        let dead_block = block[0];
        let mut rep_of: Vec<usize> = vec![usize::MAX; count as usize];
        for (s, &b) in block.iter().enumerate() {
            if rep_of[b as usize] == usize::MAX {
                rep_of[b as usize] = s;
            }
        }
        let mut new_index: Vec<u32> = vec![u32::MAX; count as usize];
        let mut reps_in_order: Vec<usize> = vec![rep_of[dead_block as usize]];
        new_index[dead_block as usize] = 0;
        for pass in [true, false] {
            for (b, &r) in rep_of.iter().enumerate() {
                if new_index[b] == u32::MAX && (out[r].0 != NONE) == pass {
                    new_index[b] = reps_in_order.len() as u32;
                    reps_in_order.push(r);
                }
            }
        }
        let specials = reps_in_order
            .iter()
            .skip(1)
            .take_while(|&&r| out[r].0 != NONE)
            .count() as u32;
        let stride = nc + 3;
        let m = reps_in_order.len();
        let mut rows = vec![0u32; m * stride];
        for (i, &r) in reps_in_order.iter().enumerate() {
            let row = &mut rows[i * stride..(i + 1) * stride];
            for c in 0..nc {
                let t = trans[r * nc + c] as usize;
                row[c] = new_index[block[t] as usize] * stride as u32;
            }
            row[nc] = out[r].0;
            row[nc + 2] = out[r].1;
        }
        floors(&mut rows, stride, nc);
        Table {
            classes,
            nc,
            rows,
            start: new_index[block[start_local as usize] as usize] * stride as u32,
            max_special: specials * stride as u32,
        }
    }

    /// Every rule the table can answer (prefix rules and end-of-input
    /// winners, `NONE` left out), with repeats.
    pub(crate) fn rules(&self) -> impl Iterator<Item = u32> + '_ {
        let stride = self.nc + 3;
        self.rows
            .chunks_exact(stride)
            .flat_map(move |row| [row[self.nc], row[self.nc + 2]])
            .filter(|&r| r != NONE)
    }

    /// Appends the table to `out` (little-endian): classes, start,
    /// `max_special`, row count, rows. Read back by [`Table::read`].
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.classes);
        for v in [
            self.nc as u32,
            self.start,
            self.max_special,
            self.rows.len() as u32,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in &self.rows {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// Reads a table written by [`Table::write`] and checks everything a
    /// walk relies on, so that no byte sequence makes a walk index out of
    /// bounds or answer a rule that does not exist: byte classes below the
    /// class count, every state ID a row offset inside the table, the dead
    /// state first and looping on itself, only special states (up to
    /// `max_special`) holding a prefix rule, every rule below `rules` or
    /// `NONE`, and the floors equal to those recomputed from the rows.
    /// O(states × classes).
    ///
    /// # Errors
    /// What is wrong, in words, or the reader's error when the bytes end.
    pub(crate) fn read(r: &mut crate::compiled::Reader<'_>, rules: usize) -> Result<Table, String> {
        let mut classes = [0u8; 256];
        classes.copy_from_slice(r.bytes(256)?);
        let nc = r.u32()? as usize;
        let start = r.u32()?;
        let max_special = r.u32()?;
        let len = r.u32()? as usize;
        if !(1..=256).contains(&nc) {
            return Err(format!("{nc} byte classes (1 to 256 expected)"));
        }
        if let Some(b) = classes.iter().position(|&c| c as usize >= nc) {
            return Err(format!("byte {b} is in class {}, of {nc}", classes[b]));
        }
        let stride = nc + 3;
        if len == 0 || !len.is_multiple_of(stride) || len > r.remaining() / 4 {
            return Err(format!(
                "{len} row words for {stride}-word rows (or past the end of the file)"
            ));
        }
        let mut rows = Vec::with_capacity(len);
        for _ in 0..len {
            rows.push(r.u32()?);
        }
        let state_ok = |t: u32| (t as usize) < len && (t as usize).is_multiple_of(stride);
        if !state_ok(start) || !state_ok(max_special) {
            return Err(format!(
                "start state {start} or last special state {max_special} is not a row offset"
            ));
        }
        let rule_ok = |v: u32| v == NONE || (v as usize) < rules;
        for (i, row) in rows.chunks_exact(stride).enumerate() {
            let at = i * stride;
            if let Some(&t) = row[..nc].iter().find(|&&t| !state_ok(t)) {
                return Err(format!("state {at} goes to {t}, not a row offset"));
            }
            if i == 0 && row[..nc].iter().any(|&t| t != 0) {
                return Err("the dead state (row 0) leaves itself".into());
            }
            if !rule_ok(row[nc]) || !rule_ok(row[nc + 2]) {
                return Err(format!("state {at} names a rule past the {rules} rules"));
            }
            if row[nc] != NONE && at as u32 > max_special {
                return Err(format!(
                    "state {at} holds a prefix rule but is not among the special states"
                ));
            }
        }
        let saved_floors: Vec<u32> = rows.chunks_exact(stride).map(|row| row[nc + 1]).collect();
        floors(&mut rows, stride, nc);
        if rows
            .chunks_exact(stride)
            .zip(&saved_floors)
            .any(|(row, &f)| row[nc + 1] != f)
        {
            return Err("the floors do not follow from the transitions".into());
        }
        Ok(Table {
            classes,
            nc,
            rows,
            start,
            max_special,
        })
    }

    /// Number of states (the dead state included).
    pub(crate) fn states(&self) -> usize {
        self.rows.len() / (self.nc + 3)
    }

    /// Byte classes (transitions per state).
    pub(crate) fn classes(&self) -> usize {
        self.nc
    }

    /// Heap bytes.
    pub(crate) fn memory_usage(&self) -> usize {
        4 * self.rows.len() + 256
    }

    /// The start state ID.
    #[inline]
    pub(crate) fn start(&self) -> u32 {
        self.start
    }

    /// The winner when a name ends in state `s`.
    #[inline]
    pub(crate) fn eoi(&self, s: u32) -> u32 {
        self.rows[s as usize + self.nc + 2]
    }

    /// One step: the next state and the updated best prefix rule, or
    /// `Err(answer)` when the answer is settled (dead state, or no reachable
    /// winner below the best prefix rule).
    #[inline(always)]
    pub(crate) fn step(&self, s: u32, best: u32, b: u8) -> Result<(u32, u32), u32> {
        let t = self.rows[s as usize + self.classes[b as usize] as usize];
        if t > self.max_special {
            return Ok((t, best));
        }
        let i = t as usize + self.nc;
        if t == 0 {
            return Err(best.min(self.rows[i + 2]));
        }
        let best = best.min(self.rows[i]);
        if self.rows[i + 1] >= best {
            return Err(best);
        }
        Ok((t, best))
    }

    /// [`Table::step`] in place: `true` while the walk goes on, `false`
    /// once it is settled (`best` then holds the answer).
    #[inline(always)]
    fn advance(&self, s: &mut u32, best: &mut u32, b: u8) -> bool {
        match self.step(*s, *best, b) {
            Ok((t, b2)) => {
                *s = t;
                *best = b2;
                true
            }
            Err(answer) => {
                *best = answer;
                false
            }
        }
    }

    /// The winner of `bytes` walked from the start state, or `best` if
    /// lower (a rule already found elsewhere).
    #[inline(always)]
    pub(crate) fn walk(&self, bytes: impl Iterator<Item = u8>, best: u32) -> u32 {
        if self.floor(self.start) >= best {
            return best;
        }
        self.resume(self.start, best, bytes)
    }

    /// The lowest winner reachable from state `s`.
    #[inline(always)]
    fn floor(&self, s: u32) -> u32 {
        self.rows[s as usize + self.nc + 1]
    }

    /// The walk continued from state `s` with best prefix rule `best`.
    #[inline(always)]
    fn resume(&self, mut s: u32, mut best: u32, bytes: impl Iterator<Item = u8>) -> u32 {
        for b in bytes {
            match self.step(s, best, b) {
                Ok((t, b2)) => {
                    s = t;
                    best = b2;
                }
                Err(answer) => return answer,
            }
        }
        best.min(self.eoi(s))
    }
}

/// `min(fwd.walk(name, best), rev.walk(reversed name, best))` in one loop:
/// byte `i` of the forward walk and byte `len - 1 - i` of the reverse walk
/// are read in the same iteration. Each walk is a chain of dependent loads
/// (the next state's row depends on this one's), so two chains side by side
/// take about the time of one on an out-of-order core; walked one after the
/// other they take twice as long. A walk also stops as soon as the other has
/// found a rule it cannot beat. O(len(name)), no allocation.
#[inline]
pub(crate) fn walk_both(fwd: &Table, rev: &Table, name: &[u8], best: u32) -> u32 {
    let (mut fs, mut rs) = (fwd.start, rev.start);
    let mut best = best;
    let mut f_live = fwd.floor(fs) < best;
    let mut r_live = rev.floor(rs) < best;
    let n = name.len();
    let mut i = 0;
    while f_live && r_live && i < n {
        f_live = fwd.advance(&mut fs, &mut best, name[i]);
        r_live = rev.advance(&mut rs, &mut best, name[n - 1 - i]);
        i += 1;
    }
    // The reverse walk has read name[n - i..], the forward one name[..i]
    // (or the walk that stopped no longer matters).
    if f_live {
        best = fwd.resume(fs, best, name[i..].iter().copied());
    }
    if r_live {
        best = rev.resume(rs, best, name[..n - i].iter().rev().copied());
    }
    best
}

/// Writes each state's floor (column `nc + 1`): the lowest prefix rule or
/// end-of-input winner of any state reachable from it, itself included.
fn floors(rows: &mut [u32], stride: usize, nc: usize) {
    let m = rows.len() / stride;
    let own: Vec<u32> = (0..m)
        .map(|i| rows[i * stride + nc].min(rows[i * stride + nc + 2]))
        .collect();
    // Predecessor lists in one array (counting sort by target state).
    let mut first = vec![0u32; m + 1];
    for i in 0..m {
        for &t in &rows[i * stride..i * stride + nc] {
            first[t as usize / stride + 1] += 1;
        }
    }
    for i in 0..m {
        first[i + 1] += first[i];
    }
    let mut fill = first.clone();
    let mut preds = vec![0u32; first[m] as usize];
    for i in 0..m {
        for &t in &rows[i * stride..i * stride + nc] {
            let t = t as usize / stride;
            preds[fill[t] as usize] = i as u32;
            fill[t] += 1;
        }
    }
    // States by increasing own value; each value flows backwards to every
    // state not reached by a lower one. Each state is settled once and each
    // edge read once: O(states × classes + states log states), also on
    // forged tables built to make a relaxation loop quadratic.
    let mut order: Vec<u32> = (0..m as u32).collect();
    order.sort_unstable_by_key(|&i| own[i as usize]);
    let mut floor = vec![NONE; m];
    let mut settled = vec![false; m];
    let mut stack = Vec::new();
    for &s in &order {
        let s = s as usize;
        if settled[s] {
            continue;
        }
        settled[s] = true;
        floor[s] = own[s];
        stack.push(s);
        while let Some(t) = stack.pop() {
            for &p in &preds[first[t] as usize..first[t + 1] as usize] {
                let p = p as usize;
                if !settled[p] {
                    settled[p] = true;
                    floor[p] = own[s];
                    stack.push(p);
                }
            }
        }
    }
    for (i, f) in floor.into_iter().enumerate() {
        rows[i * stride + nc + 1] = f;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The floors equal the minimum over every reachable state, found by
        /// a search from each state.
        #[test]
        fn floors_are_the_minimum_over_reachable_states(
            edges in proptest::collection::vec((0usize..12, 0usize..12), 0..40),
            own in proptest::collection::vec(prop_oneof![Just(NONE), 0u32..20], 12),
        ) {
            let (m, nc) = (12, 3);
            let stride = nc + 3;
            let mut rows = vec![0u32; m * stride];
            // Every state goes to itself unless an edge says otherwise.
            for i in 0..m {
                for c in 0..nc {
                    rows[i * stride + c] = (i * stride) as u32;
                }
                rows[i * stride + nc] = own[i];
                rows[i * stride + nc + 2] = NONE;
            }
            for (k, &(a, b)) in edges.iter().enumerate() {
                rows[a * stride + k % nc] = (b * stride) as u32;
            }
            floors(&mut rows, stride, nc);
            for i in 0..m {
                let mut seen = vec![false; m];
                let mut stack = vec![i];
                let mut want = NONE;
                while let Some(s) = stack.pop() {
                    if std::mem::replace(&mut seen[s], true) {
                        continue;
                    }
                    want = want.min(own[s]);
                    for c in 0..nc {
                        stack.push(rows[s * stride + c] as usize / stride);
                    }
                }
                prop_assert_eq!(rows[i * stride + nc + 1], want, "state {}", i);
            }
        }
    }
}
