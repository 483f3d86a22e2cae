//! The linearization search: Wing & Gong's backtracking with Lowe's memoization, the
//! algorithm porcupine uses, plus rules that tame indeterminate writes.
//!
//! Every operation contributes a call entry and a return entry to a doubly linked
//! list sorted by time (calls before returns at equal times, so touching intervals
//! count as concurrent). An operation may be linearized next iff its call entry
//! comes before the first return entry still in the list: no pending operation
//! returned before it was called. Linearizing ("lifting") an operation unlinks both
//! its entries; backtracking links them back in reverse order (dancing links).
//!
//! ```text
//!   head → call a → call b → ret a → call c → ret b → ret c → … → ret x (flexible: +∞)
//!          └── candidates ──┘ (first return entry stops the scan)
//! ```
//!
//! Candidates are tried in order of `CompiledOp::priority` (by default the
//! earliest return first, flexible operations last). A candidate whose output fits
//! the state is applied, and the resulting configuration is explored unless the
//! cache says a configuration that dominates it was explored already. The search
//! succeeds once every determinate operation is linearized (the flexible ones left
//! can be appended at the end) and fails when it must backtrack past the first
//! level.
//!
//! Indeterminate writes (see `CompiledOp::flexible` and `CompiledOp::indeterminate`)
//! could go almost anywhere, which is what makes histories full of timeouts
//! expensive. The search only explores *canonical* placements of them:
//!
//! 1. an indeterminate write changes its key's value ([`Step::apply`]);
//! 2. nothing overwrites it before something depends on it (same place);
//! 3. it sits in a block of indeterminate writes right before one operation with a
//!    known outcome that observes every key the block wrote and accepts the values
//!    ([`Searcher::block_is_usable`]), so no key is left unobserved after it;
//! 4. of interchangeable flexible operations (same `CompiledOp::class`), only the
//!    first is tried.
//!
//! Every linearization can be made canonical: drop flexible operations that change
//! nothing, or whose write is overwritten or never observed (the states seen by
//! everything else stay the same), then move each remaining indeterminate write
//! later, to just before the operation that depends on it (it commutes with
//! operations on other keys, and with no known return it may go later as long as it
//! stays before that operation). Swapping interchangeable operations changes
//! nothing.
//!
//! One more rule holds for every write: a value with pinned readers
//! (`compiled::Pins`) may not be replaced while some of them are still to come.
//! It only cuts off configurations that cannot be completed, but it cuts them off
//! at the wrong write instead of many operations later, which is what keeps
//! histories with slow readers cheap. When the search fails at such a write, it
//! blames the stale reader instead ([`Searcher::blame`]).
//!
//! Why pruning by dominance keeps the search complete: suppose the search ends
//! without success although a visited configuration can still be completed. Take one,
//! C, with fewest determinate operations left and, among those, the shortest
//! completion s. Its child C+s₀ was either visited or pruned by a visited Y that
//! dominates it; either way a visited, completable configuration exists with fewer
//! determinate operations left (s₀ determinate) or the same and a shorter completion
//! (s₀ flexible: s₁… completes Y as well). Contradiction. (The canonical rules
//! depend only on the state and on what comes next, so dominance respects them.)
//!
//! `tests/checker_brute_force.rs` checks all of this against exhaustive enumeration.

use super::cache::{Cache, Configuration};
use super::compiled::Compiled;
use super::step::{value_of, KeyId, Step, Undo, ValueId, ABSENT, UNOBSERVED_WRITE};
use cairn_core::rng::mix;

/// How a partition's search ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `order`: the operations linearized, in order (every determinate operation and
    /// the flexible ones that were needed); indices into `Compiled::ops`.
    Linearizable { order: Vec<usize> },
    /// No linearization exists. `prefix` is the longest linearizable prefix found (in
    /// linearization order) and `blocked` the operation whose return the search could
    /// not get past after it, or the stale reader it blames for that
    /// ([`Searcher::blame`]); both index `Compiled::ops`.
    Violation { prefix: Vec<usize>, blocked: usize },
    /// The step budget ran out first.
    BudgetExceeded,
}

/// The outcome and the number of steps (attempts to apply an operation) it took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Search {
    pub outcome: Outcome,
    pub steps: u64,
}

/// Searches for a linearization of `compiled`, giving up after `max_steps` attempts.
pub fn search(compiled: &Compiled, max_steps: u64) -> Search {
    Searcher::new(compiled).run(max_steps)
}

const HEAD: u32 = 0;
const NIL: u32 = u32::MAX;

/// An operation on the search stack and how to undo it.
#[derive(Clone, Copy, Debug)]
struct Frame {
    op: u32,
    /// Length of the undo log before the operation was applied.
    undo_len: usize,
}

/// One level of the depth-first search: the candidates at that point, in the order
/// they are tried, live in `Searcher::candidates[start..]`.
#[derive(Clone, Copy, Debug)]
struct Level {
    start: usize,
    /// Next candidate to try.
    next: usize,
    /// The pending operation with the earliest return: the one that stops the
    /// candidate scan, and the one to blame if no candidate works.
    blocked: u32,
}

struct Searcher<'a> {
    compiled: &'a Compiled,
    /// Linked list over entries `1..=2n`; entry 0 is the head sentinel.
    next: Vec<u32>,
    prev: Vec<u32>,
    /// Operation of each entry, with the top bit set for return entries.
    entry_op: Vec<u32>,
    call_entry: Vec<u32>,
    return_entry: Vec<u32>,

    state: Vec<ValueId>,
    state_hash: u64,
    /// Cells carrying `UNOBSERVED_WRITE`.
    unobserved: usize,
    /// By pin: readers not linearized yet.
    readers_left: Vec<u32>,
    /// Cells changed by the operations on the stack, oldest first.
    undo: Vec<Undo>,
    /// Linearized determinate operations, as bits by operation index.
    determinate_bits: Vec<u64>,
    determinate_hash: u64,
    determinate_done: usize,
    determinate_total: usize,
    /// `determinate_before[i]`: determinate operations among `0..i`.
    determinate_before: Vec<usize>,
    /// First determinate operation not linearized (`n` if none).
    first_open: usize,
    /// Linearized flexible operations, sorted.
    flexible_done: Vec<u32>,

    cache: Cache,
    /// Scratch space for the compressed determinate set handed to the cache.
    words: Vec<u64>,
    /// Candidates of every level on the stack, level after level.
    candidates: Vec<u32>,
    /// For each flexible class, the last `gathering` that took one of its members.
    class_gathered: Vec<u64>,
    gathering: u64,
}

const RETURN_BIT: u32 = 1 << 31;

impl<'a> Searcher<'a> {
    fn new(compiled: &'a Compiled) -> Self {
        let count = compiled.ops.len();
        assert!(count < (RETURN_BIT as usize) / 2, "partition too large");
        // (time, is return, operation): calls sort before returns at equal times.
        let mut entries: Vec<(u64, bool, u32)> = Vec::with_capacity(2 * count);
        for (index, op) in compiled.ops.iter().enumerate() {
            entries.push((op.call_ms, false, index as u32));
            entries.push((op.return_ms, true, index as u32));
        }
        entries.sort_unstable();

        let mut entry_op = vec![0; 2 * count + 1];
        let mut call_entry = vec![0; count];
        let mut return_entry = vec![0; count];
        for (position, &(_, is_return, op)) in entries.iter().enumerate() {
            let entry = position as u32 + 1;
            if is_return {
                entry_op[entry as usize] = op | RETURN_BIT;
                return_entry[op as usize] = entry;
            } else {
                entry_op[entry as usize] = op;
                call_entry[op as usize] = entry;
            }
        }
        let last = 2 * count as u32;
        let next = (0..=last).map(|e| if e == last { NIL } else { e + 1 });
        let prev = (0..=last).map(|e| if e == 0 { NIL } else { e - 1 });

        let mut determinate_before = Vec::with_capacity(count + 1);
        determinate_before.push(0);
        for op in &compiled.ops {
            let before = *determinate_before.last().expect("not empty");
            determinate_before.push(before + usize::from(!op.flexible));
        }
        let mut searcher = Searcher {
            compiled,
            next: next.collect(),
            prev: prev.collect(),
            entry_op,
            call_entry,
            return_entry,
            state: vec![ABSENT; compiled.key_count],
            state_hash: 0,
            unobserved: 0,
            readers_left: compiled.pins.readers.clone(),
            undo: Vec::new(),
            determinate_bits: vec![0; count.div_ceil(64)],
            determinate_hash: 0,
            determinate_done: 0,
            determinate_total: determinate_before[count],
            determinate_before,
            first_open: 0,
            flexible_done: Vec::new(),
            cache: Cache::default(),
            words: Vec::new(),
            candidates: Vec::new(),
            class_gathered: Vec::new(),
            gathering: 0,
        };
        searcher.advance_first_open();
        searcher
    }

    fn run(mut self, max_steps: u64) -> Search {
        let mut steps = 0;
        let mut frames: Vec<Frame> = Vec::new();
        let mut levels: Vec<Level> = Vec::new();
        let mut best: Option<(Vec<usize>, usize)> = None;
        let root_is_new = self.remember_configuration();
        debug_assert!(root_is_new);

        loop {
            if self.determinate_done == self.determinate_total {
                let order = frames.iter().map(|frame| frame.op as usize).collect();
                return Search {
                    outcome: Outcome::Linearizable { order },
                    steps,
                };
            }
            levels.push(self.gather_candidates());
            // Try this level's candidates; backtrack while a level has none left.
            loop {
                let level = levels.last_mut().expect("a level is open");
                if level.next == self.candidates.len() {
                    let blocked = level.blocked as usize;
                    self.candidates.truncate(level.start);
                    levels.pop();
                    if best
                        .as_ref()
                        .is_none_or(|(prefix, _)| frames.len() > prefix.len())
                    {
                        let prefix = frames.iter().map(|frame| frame.op as usize).collect();
                        best = Some((prefix, self.blame(blocked)));
                    }
                    let Some(frame) = frames.pop() else {
                        let (prefix, blocked) = best.expect("recorded just above");
                        return Search {
                            outcome: Outcome::Violation { prefix, blocked },
                            steps,
                        };
                    };
                    self.unlift(frame.op as usize, frame.undo_len);
                    continue;
                }
                let op = self.candidates[level.next] as usize;
                level.next += 1;
                if steps == max_steps {
                    return Search {
                        outcome: Outcome::BudgetExceeded,
                        steps,
                    };
                }
                steps += 1;
                let undo_len = self.undo.len();
                let level_candidates = level.start..self.candidates.len();
                if self.try_lift(op, level_candidates) {
                    frames.push(Frame {
                        op: op as u32,
                        undo_len,
                    });
                    break;
                }
            }
        }
    }

    /// Opens a level: the operations that may be linearized next are those called
    /// before the first return entry still in the list. They are tried in order of
    /// `CompiledOp::priority`.
    fn gather_candidates(&mut self) -> Level {
        let start = self.candidates.len();
        let mut cursor = self.next[HEAD as usize];
        while self.entry_op[cursor as usize] & RETURN_BIT == 0 {
            self.candidates.push(self.entry_op[cursor as usize]);
            cursor = self.next[cursor as usize];
            assert!(cursor != NIL, "determinate operations left, so returns too");
        }
        let ops = &self.compiled.ops;
        self.candidates[start..].sort_unstable_by_key(|&op| {
            (ops[op as usize].priority, ops[op as usize].return_ms, op)
        });
        // One flexible operation per class (see `CompiledOp::class`).
        self.gathering += 1;
        let mut kept = start;
        for index in start..self.candidates.len() {
            let op = &ops[self.candidates[index] as usize];
            if op.flexible {
                let class = op.class as usize;
                if class >= self.class_gathered.len() {
                    self.class_gathered.resize(class + 1, 0);
                }
                if self.class_gathered[class] == self.gathering {
                    continue;
                }
                self.class_gathered[class] = self.gathering;
            }
            self.candidates[kept] = self.candidates[index];
            kept += 1;
        }
        self.candidates.truncate(kept);
        Level {
            start,
            next: start,
            blocked: self.entry_op[cursor as usize] & !RETURN_BIT,
        }
    }

    /// Applies `op` if its output fits the state and the resulting configuration is
    /// new (not dominated); otherwise leaves everything as it was.
    fn try_lift(&mut self, op: usize, level_candidates: std::ops::Range<usize>) -> bool {
        let undo_len = self.undo.len();
        let compiled_op = &self.compiled.ops[op];
        if !compiled_op
            .step
            .apply(compiled_op.indeterminate, &mut self.state, &mut self.undo)
        {
            return false;
        }
        for index in undo_len..self.undo.len() {
            let (key, old) = self.undo[index];
            self.account(key, old, self.state[key as usize]);
        }
        self.count_reads(op, false);
        // See the module documentation: indeterminate writes are placed only right
        // before the operation that observes them.
        let placeable = self.keeps_pins(undo_len)
            && if compiled_op.indeterminate {
                self.block_is_usable(level_candidates)
            } else {
                self.unobserved == 0
            };
        if !placeable {
            self.count_reads(op, true);
            self.undo_to(undo_len);
            return false;
        }
        self.mark(op, true);
        if !self.remember_configuration() {
            self.mark(op, false);
            self.count_reads(op, true);
            self.undo_to(undo_len);
            return false;
        }
        self.unlink(self.call_entry[op]);
        self.unlink(self.return_entry[op]);
        true
    }

    /// Who to report when `blocked` cannot be linearized: `blocked` itself, unless
    /// its output fits but it would replace a pinned value that an operation still
    /// has to read (a stale read, typically); then that reader, the earliest to
    /// return, is what people will recognise as the anomaly.
    fn blame(&mut self, blocked: usize) -> usize {
        let op = &self.compiled.ops[blocked];
        let undo_len = self.undo.len();
        if !op
            .step
            .apply(op.indeterminate, &mut self.state, &mut self.undo)
        {
            return blocked;
        }
        let lost_pin = self.undo[undo_len..].iter().find_map(|&(key, old)| {
            let old_value = old & !UNOBSERVED_WRITE;
            let pin = self.compiled.pins.of(key, old_value)?;
            (old_value != value_of(&self.state, key) && self.readers_left[pin] > 0).then_some(pin)
        });
        // Put the cells back as they were (the hashes never saw the change).
        while self.undo.len() > undo_len {
            let (key, old) = self.undo.pop().expect("longer than undo_len");
            self.state[key as usize] = old;
        }
        let Some(pin) = lost_pin else {
            return blocked;
        };
        self.compiled.pins.readers_of[pin]
            .iter()
            .map(|&reader| reader as usize)
            .filter(|&reader| reader != blocked && !self.is_determinate_done(reader))
            .min_by_key(|&reader| (self.compiled.ops[reader].return_ms, reader))
            .unwrap_or(blocked)
    }

    /// Counts `op`'s exact reads of pinned values as done, or (`undo`) as not done.
    fn count_reads(&mut self, op: usize, undo: bool) {
        for &pin in &self.compiled.ops[op].reads {
            let left = &mut self.readers_left[pin as usize];
            *left = if undo { *left + 1 } else { *left - 1 };
        }
    }

    /// Whether the cells changed since the undo log had `undo_len` entries gave up
    /// no pinned value that still has readers to come (see `compiled::Pins`).
    fn keeps_pins(&self, undo_len: usize) -> bool {
        self.undo[undo_len..].iter().all(|&(key, old)| {
            let old_value = old & !UNOBSERVED_WRITE;
            old_value == value_of(&self.state, key)
                || self
                    .compiled
                    .pins
                    .of(key, old_value)
                    .is_none_or(|pin| self.readers_left[pin] == 0)
        })
    }

    /// Whether the indeterminate writes placed since the last operation with a known
    /// outcome (the keys holding unobserved writes) can all be used by one candidate
    /// of this level with a known outcome, which will then have to come next: it
    /// must observe each such key and accept its value, unless a pending
    /// indeterminate cas could still turn that value into another.
    fn block_is_usable(&self, candidates: std::ops::Range<usize>) -> bool {
        let candidates = &self.candidates[candidates];
        let unobserved = || {
            (0..self.state.len() as KeyId)
                .filter(|&key| self.state[key as usize] & UNOBSERVED_WRITE != 0)
                .map(|key| (key, value_of(&self.state, key)))
        };
        let chainable = |key: KeyId, value: ValueId| {
            candidates.iter().any(|&candidate| {
                let candidate = &self.compiled.ops[candidate as usize];
                candidate.indeterminate
                    && matches!(candidate.step, Step::Cas { key: k, expected, .. } if k == key && expected == value)
            })
        };
        candidates.iter().any(|&candidate| {
            let candidate = &self.compiled.ops[candidate as usize];
            !candidate.indeterminate
                && unobserved().all(|(key, value)| {
                    candidate.step.observes(key)
                        && (candidate.step.accepts(key, value) || chainable(key, value))
                })
        })
    }

    fn unlift(&mut self, op: usize, undo_len: usize) {
        self.relink(self.return_entry[op]);
        self.relink(self.call_entry[op]);
        self.mark(op, false);
        self.count_reads(op, true);
        self.undo_to(undo_len);
    }

    /// Restores the cells changed since the undo log had `undo_len` entries.
    fn undo_to(&mut self, undo_len: usize) {
        while self.undo.len() > undo_len {
            let (key, old) = self.undo.pop().expect("longer than undo_len");
            let new = std::mem::replace(&mut self.state[key as usize], old);
            self.account(key, new, old);
        }
    }

    /// Updates the state hash and the unobserved count for a cell of `key` that
    /// changed from `from` to `to`.
    fn account(&mut self, key: KeyId, from: ValueId, to: ValueId) {
        self.state_hash ^= state_hash(key, from) ^ state_hash(key, to);
        let flagged = |cell: ValueId| usize::from(cell & UNOBSERVED_WRITE != 0);
        self.unobserved = self.unobserved + flagged(to) - flagged(from);
    }

    /// Records `op` as linearized (`done`) or not.
    fn mark(&mut self, op: usize, done: bool) {
        if self.compiled.ops[op].flexible {
            let position = self.flexible_done.binary_search(&(op as u32));
            match (done, position) {
                (true, Err(position)) => self.flexible_done.insert(position, op as u32),
                (false, Ok(position)) => {
                    self.flexible_done.remove(position);
                }
                _ => unreachable!("flexible operation {op} marked twice"),
            }
            return;
        }
        self.determinate_bits[op / 64] ^= 1 << (op % 64);
        self.determinate_hash ^= operation_hash(op);
        if done {
            self.determinate_done += 1;
            if op == self.first_open {
                self.advance_first_open();
            }
        } else {
            self.determinate_done -= 1;
            self.first_open = self.first_open.min(op);
        }
    }

    fn advance_first_open(&mut self) {
        let ops = &self.compiled.ops;
        while self.first_open < ops.len()
            && (ops[self.first_open].flexible || self.is_determinate_done(self.first_open))
        {
            self.first_open += 1;
        }
    }

    fn is_determinate_done(&self, op: usize) -> bool {
        self.determinate_bits[op / 64] & (1 << (op % 64)) != 0
    }

    /// Offers the current configuration to the cache; false if it is dominated.
    fn remember_configuration(&mut self) -> bool {
        let first_word = self.first_open / 64;
        let mut left = self.determinate_done - self.determinate_before[first_word * 64];
        self.words.clear();
        let mut index = first_word;
        while left > 0 {
            let word = self.determinate_bits[index];
            self.words.push(word);
            left -= word.count_ones() as usize;
            index += 1;
        }
        self.cache.insert_unless_dominated(&Configuration {
            hash: self.determinate_hash ^ self.state_hash.rotate_left(29),
            first_open: self.first_open as u32,
            words: &self.words,
            state: &self.state,
            flexible: &self.flexible_done,
        })
    }

    fn unlink(&mut self, entry: u32) {
        let (prev, next) = (self.prev[entry as usize], self.next[entry as usize]);
        self.next[prev as usize] = next;
        if next != NIL {
            self.prev[next as usize] = prev;
        }
    }

    fn relink(&mut self, entry: u32) {
        let (prev, next) = (self.prev[entry as usize], self.next[entry as usize]);
        self.next[prev as usize] = entry;
        if next != NIL {
            self.prev[next as usize] = entry;
        }
    }
}

/// Zobrist hash of one key's cell; an absent key hashes to 0, so the empty state
/// hashes to 0 and a state's hash is the XOR over its keys.
fn state_hash(key: KeyId, cell: ValueId) -> u64 {
    if cell == ABSENT {
        0
    } else {
        mix((u64::from(key) << 32) | u64::from(cell))
    }
}

fn operation_hash(op: usize) -> u64 {
    mix(op as u64 ^ 0x5851_f42d_4c95_7f2d)
}
