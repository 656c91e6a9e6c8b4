//! A scalar time series in large blocks, in time order.

use std::collections::VecDeque;

/// Samples per block: the unit the memory budget drops (oldest first).
pub const BLOCK: usize = 1 << 16;

/// Bytes one sample takes (time and value, both `f64`).
pub const SAMPLE_BYTES: usize = 16;

/// One block of samples.
#[derive(Debug, Default)]
struct Block {
    t: Vec<f64>,
    v: Vec<f64>,
}

/// A scalar series: samples in time order, in blocks of [`BLOCK`].
#[derive(Debug)]
pub struct Series {
    blocks: VecDeque<Block>,
    len: usize,
    /// Global index of the first sample kept (grows as old blocks are dropped).
    first_index: u64,
    /// Bumped when samples are inserted out of order (caches over the series must start over).
    rewrites: u64,
    /// Samples received in the current rate window, and the rate over the last one.
    window_count: u64,
    rate: f64,
    /// Creation order: a stable colour.
    pub index: usize,
}

impl Series {
    /// An empty series; `index` is its creation order.
    pub fn new(index: usize) -> Self {
        Self {
            blocks: VecDeque::new(),
            len: 0,
            first_index: 0,
            rewrites: 0,
            window_count: 0,
            rate: 0.0,
            index,
        }
    }

    /// Number of samples kept.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no sample is kept.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Global index of the first sample kept.
    pub fn first_index(&self) -> u64 {
        self.first_index
    }

    /// Global index one past the last sample.
    pub fn end_index(&self) -> u64 {
        self.first_index + self.len as u64
    }

    /// Bumped whenever samples were inserted out of order.
    pub fn rewrites(&self) -> u64 {
        self.rewrites
    }

    /// Samples per second over the last second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Bytes of memory the samples take.
    pub fn bytes(&self) -> usize {
        self.blocks
            .iter()
            .map(|b| b.t.capacity() * SAMPLE_BYTES)
            .sum()
    }

    /// The first sample.
    pub fn first(&self) -> Option<(f64, f64)> {
        let b = self.blocks.front()?;
        Some((*b.t.first()?, *b.v.first()?))
    }

    /// The last sample.
    pub fn last(&self) -> Option<(f64, f64)> {
        let b = self.blocks.back()?;
        Some((*b.t.last()?, *b.v.last()?))
    }

    /// The sample at global index `i`.
    pub fn get(&self, i: u64) -> Option<(f64, f64)> {
        let local = usize::try_from(i.checked_sub(self.first_index)?).ok()?;
        let (block, offset) = self.locate(local)?;
        let b = &self.blocks[block];
        Some((b.t[offset], b.v[offset]))
    }

    /// (block, offset) of local index `i`: every block but the first and last is full.
    fn locate(&self, i: usize) -> Option<(usize, usize)> {
        if i >= self.len {
            return None;
        }
        let first = self.blocks.front()?.t.len();
        if i < first {
            return Some((0, i));
        }
        let rest = i - first;
        Some((1 + rest / BLOCK, rest % BLOCK))
    }

    /// Appends a sample (inserting in time order if it is older than the last one).
    pub fn push(&mut self, t: f64, v: f64) {
        self.window_count += 1;
        match self.last() {
            Some((last, _)) if t < last => self.insert(t, v),
            _ => self.push_tail(t, v),
        }
    }

    /// Appends a columnar batch: copied in whole runs when it is in time order and not older than
    /// the last sample (the usual case), sample by sample otherwise.
    pub fn extend(&mut self, t: &[f64], v: &[f64]) {
        let n = t.len().min(v.len());
        let (t, v) = (&t[..n], &v[..n]);
        let in_order = t.windows(2).all(|w| w[0] <= w[1])
            && match (self.last(), t.first()) {
                (Some((last, _)), Some(first)) => *first >= last,
                _ => true,
            };
        if !in_order {
            for (t, v) in t.iter().zip(v) {
                self.push(*t, *v);
            }
            return;
        }
        self.window_count += n as u64;
        let mut i = 0;
        while i < n {
            if self.blocks.back().is_none_or(|b| b.t.len() == BLOCK) {
                self.blocks.push_back(Block {
                    t: Vec::with_capacity(BLOCK),
                    v: Vec::with_capacity(BLOCK),
                });
            }
            let Some(b) = self.blocks.back_mut() else {
                return;
            };
            let k = (BLOCK - b.t.len()).min(n - i);
            b.t.extend_from_slice(&t[i..i + k]);
            b.v.extend_from_slice(&v[i..i + k]);
            self.len += k;
            i += k;
        }
    }

    /// Inserts an out-of-order sample at its place (rare; producers send in order).
    fn insert(&mut self, t: f64, v: f64) {
        let at = self.lower_bound(t + f64::EPSILON * t.abs().max(1.0)) - self.first_index;
        let Some((block, offset)) = self.locate(usize::try_from(at).unwrap_or(usize::MAX)) else {
            // After everything: append.
            self.rewrites += 1;
            return self.push_tail(t, v);
        };
        let b = &mut self.blocks[block];
        b.t.insert(offset, t);
        b.v.insert(offset, v);
        self.len += 1;
        // Keep every block but the last one exactly full: carry the overflow to the next blocks.
        let mut k = block;
        while self.blocks[k].t.len() > BLOCK {
            let (t, v) = {
                let b = &mut self.blocks[k];
                (b.t.pop().unwrap_or(0.0), b.v.pop().unwrap_or(0.0))
            };
            if k + 1 == self.blocks.len() {
                self.blocks.push_back(Block {
                    t: Vec::with_capacity(BLOCK),
                    v: Vec::with_capacity(BLOCK),
                });
            }
            let next = &mut self.blocks[k + 1];
            next.t.insert(0, t);
            next.v.insert(0, v);
            k += 1;
        }
        self.rewrites += 1;
    }

    /// Appends after the last sample, opening a new block when the last one is full.
    fn push_tail(&mut self, t: f64, v: f64) {
        if self.blocks.back().is_none_or(|b| b.t.len() == BLOCK) {
            self.blocks.push_back(Block {
                t: Vec::with_capacity(BLOCK),
                v: Vec::with_capacity(BLOCK),
            });
        }
        if let Some(b) = self.blocks.back_mut() {
            b.t.push(t);
            b.v.push(v);
        }
        self.len += 1;
    }

    /// Global index of the first sample at or after `t`.
    pub fn lower_bound(&self, t: f64) -> u64 {
        // Find the block, then the offset.
        let block = self
            .blocks
            .partition_point(|b| b.t.last().is_some_and(|last| *last < t));
        if block == self.blocks.len() {
            return self.end_index();
        }
        let offset = self.blocks[block].t.partition_point(|x| *x < t);
        let before: usize = if block == 0 {
            0
        } else {
            self.blocks[0].t.len() + (block - 1) * BLOCK
        };
        self.first_index + (before + offset) as u64
    }

    /// Visits the samples with global indexes in `from..to`, in order.
    pub fn for_each_in(&self, from: u64, to: u64, mut f: impl FnMut(f64, f64)) {
        let from = from.max(self.first_index);
        let to = to.min(self.end_index());
        if from >= to {
            return;
        }
        let mut i = usize::try_from(from - self.first_index).unwrap_or(usize::MAX);
        let end = usize::try_from(to - self.first_index).unwrap_or(usize::MAX);
        while i < end {
            let Some((block, offset)) = self.locate(i) else {
                break;
            };
            let b = &self.blocks[block];
            let n = (b.t.len() - offset).min(end - i);
            for k in offset..offset + n {
                f(b.t[k], b.v[k]);
            }
            i += n;
        }
    }

    /// Drops the oldest block; returns the bytes freed.
    pub fn drop_oldest_block(&mut self) -> usize {
        match self.blocks.pop_front() {
            Some(b) => {
                self.len -= b.t.len();
                self.first_index += b.t.len() as u64;
                b.t.capacity() * SAMPLE_BYTES
            }
            None => 0,
        }
    }

    /// Forgets every sample (a clear); returns the bytes freed.
    pub fn clear(&mut self) -> usize {
        let bytes = self.bytes();
        self.first_index = self.end_index();
        self.blocks.clear();
        self.len = 0;
        self.rewrites += 1;
        bytes
    }

    /// Closes the rate window (call once a second).
    pub fn tick(&mut self, elapsed: f64) {
        self.rate = if elapsed > 0.0 {
            self.window_count as f64 / elapsed
        } else {
            0.0
        };
        self.window_count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_fill_in_order_and_drop_oldest_first() {
        let mut s = Series::new(0);
        for i in 0..(BLOCK * 2 + 10) {
            s.push(i as f64, -(i as f64));
        }
        assert_eq!(s.len(), BLOCK * 2 + 10);
        assert_eq!(
            s.get(BLOCK as u64 + 3),
            Some((BLOCK as f64 + 3.0, -(BLOCK as f64) - 3.0))
        );
        assert_eq!(s.lower_bound(BLOCK as f64 + 0.5), BLOCK as u64 + 1);
        assert_eq!(s.drop_oldest_block(), BLOCK * SAMPLE_BYTES);
        assert_eq!((s.first_index(), s.len()), (BLOCK as u64, BLOCK + 10));
        assert_eq!(s.first(), Some((BLOCK as f64, -(BLOCK as f64))));
        assert_eq!(s.lower_bound(0.0), BLOCK as u64);
        let mut seen = Vec::new();
        s.for_each_in(s.end_index() - 3, s.end_index(), |t, _| seen.push(t));
        assert_eq!(seen.len(), 3);
    }

    #[test]
    fn out_of_order_samples_are_inserted_in_place() {
        let mut s = Series::new(0);
        for t in [1.0, 2.0, 4.0, 5.0] {
            s.push(t, t);
        }
        s.push(3.0, 3.0);
        s.push(0.5, 0.5);
        let mut ts = Vec::new();
        s.for_each_in(0, s.end_index(), |t, _| ts.push(t));
        assert_eq!(ts, [0.5, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(s.rewrites(), 2);
    }

    #[test]
    fn batches_append_in_runs_and_fall_back_when_out_of_order() {
        let mut s = Series::new(0);
        let t: Vec<f64> = (0..(BLOCK + 100)).map(|i| i as f64).collect();
        s.extend(&t, &t);
        assert_eq!(s.len(), BLOCK + 100);
        assert_eq!(
            s.get(BLOCK as u64 + 5),
            Some((BLOCK as f64 + 5.0, BLOCK as f64 + 5.0))
        );
        // Older than the last sample: inserted in place.
        s.extend(&[10.5, 11.5], &[-1.0, -2.0]);
        let mut ts = Vec::new();
        s.for_each_in(0, s.end_index(), |t, _| ts.push(t));
        assert!(ts.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(s.len(), BLOCK + 102);
        assert!(s.rewrites() > 0);
    }

    #[test]
    fn inserting_into_a_full_block_keeps_blocks_full() {
        let mut s = Series::new(0);
        for i in 0..(BLOCK + 5) {
            s.push(i as f64 * 2.0, 0.0);
        }
        s.push(1.0, 0.0);
        let mut ts = Vec::new();
        s.for_each_in(0, s.end_index(), |t, _| ts.push(t));
        assert!(ts.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(ts.len(), BLOCK + 6);
        assert_eq!(s.get(BLOCK as u64), Some(((BLOCK - 1) as f64 * 2.0, 0.0)));
    }
}
