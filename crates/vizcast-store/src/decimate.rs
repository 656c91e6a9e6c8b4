//! Decimation of a series for a plot, so that a frame's cost depends on pixels, not on samples.
//!
//! A plot `width` pixels wide showing `[t0, t1]` needs, per pixel column, only the lowest and
//! highest sample, in time order: the line through them covers the column's whole vertical extent,
//! so every spike shows (first and last samples too would only change the sub-pixel joins between
//! columns, at twice the points to draw). Columns sit on a fixed time grid whose width is a power of
//! two seconds (the zoom level), so when the view follows live data only the newest columns change:
//! [`Decimator`] keeps the columns of its level and folds in just the samples that arrived since
//! the last frame. Zooming to another level starts a new cache; views with few samples are drawn
//! from the raw samples. The cache is bounded (it starts over past `8 × width` columns).

use std::collections::VecDeque;

use crate::series::Series;

/// One pixel column's summary: (t, v) of its lowest and highest sample.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Column {
    min: (f64, f64),
    max: (f64, f64),
}

impl Column {
    fn new(t: f64, v: f64) -> Self {
        Self {
            min: (t, v),
            max: (t, v),
        }
    }

    fn fold(&mut self, t: f64, v: f64) {
        if v < self.min.1 {
            self.min = (t, v);
        }
        if v > self.max.1 {
            self.max = (t, v);
        }
    }
}

/// A series' decimated view, kept from frame to frame. One per plotted series.
#[derive(Debug, Default)]
pub struct Decimator {
    /// Column width is `2^level` seconds.
    level: i32,
    /// Column index of `columns[0]`.
    first_column: i64,
    columns: VecDeque<Option<Column>>,
    /// Samples with global index below this are folded in.
    processed: u64,
    /// The series' rewrite count the columns were built for.
    rewrites: u64,
    built: bool,
    out: Vec<[f64; 2]>,
    /// What `out` was computed for: the view and the series' state. A frame asking the same of an
    /// unchanged series (a paused view, a slow stream) gets it without any work.
    answered: Option<Question>,
    /// `out` holds the points of columns `[out_from, out_to)`, `out_counts[i]` of them for each.
    out_from: i64,
    out_to: i64,
    out_counts: VecDeque<u8>,
    /// The first column that got new samples since `out` was made.
    dirty_from: i64,
}

/// A call's inputs, as far as they decide its answer.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Question {
    t0: f64,
    t1: f64,
    width: usize,
    first_index: u64,
    end_index: u64,
    rewrites: u64,
}

impl Decimator {
    /// The points to draw for `series` in `[t0, t1]` on a plot `width` pixels wide: raw samples
    /// when there are few, otherwise the lowest and highest per pixel column, in time order. One
    /// sample beyond each edge is included so the line reaches the edges.
    pub fn points(&mut self, series: &Series, t0: f64, t1: f64, width: usize) -> &[[f64; 2]] {
        let question = Question {
            t0,
            t1,
            width,
            first_index: series.first_index(),
            end_index: series.end_index(),
            rewrites: series.rewrites(),
        };
        if self.answered == Some(question) {
            return &self.out;
        }
        self.answered = Some(question);
        let width = width.max(1);
        if series.is_empty() || t0.is_nan() || t1.is_nan() || t1 <= t0 {
            self.forget_output();
            return &self.out;
        }
        let i0 = series
            .lower_bound(t0)
            .saturating_sub(1)
            .max(series.first_index());
        let i1 = (series.lower_bound(t1) + 1).min(series.end_index());
        if i1.saturating_sub(i0) <= 2 * width as u64 {
            self.forget_output();
            let out = &mut self.out;
            series.for_each_in(i0, i1, |t, v| {
                if !v.is_nan() {
                    out.push([t, v]);
                }
            });
            return &self.out;
        }
        let level = ((t1 - t0) / width as f64).log2().ceil() as i32;
        let column_width = 2f64.powi(level);
        let c0 = (t0 / column_width).floor() as i64;
        let c1 = (t1 / column_width).floor() as i64;
        if !self.built
            || level != self.level
            || series.rewrites() != self.rewrites
            || self.columns.len() > 8 * width
        {
            self.reset(series, level, c0, column_width);
            self.forget_output();
        }
        if c0 < self.first_column {
            self.prepend(series, c0, column_width);
            self.forget_output();
        }
        self.fold_new(series, column_width);
        // The columns in view, and one on each side for continuity (absolute column numbers).
        let from = (c0 - 1).max(self.first_column);
        let to = (c1 + 2).min(self.first_column + self.columns.len() as i64);
        self.update_output(from, to.max(from));
        &self.out
    }

    /// Makes `out` hold the points of columns `[from, to)`, reusing what it holds: following live,
    /// only the columns that left on the left and those that changed or came on the right cost work.
    fn update_output(&mut self, from: i64, to: i64) {
        if self.out_counts.is_empty() || from < self.out_from || from > self.out_to {
            self.forget_output();
            self.out_from = from;
            self.out_to = from;
        }
        // Columns that left the view on the left.
        let mut drop = 0;
        while self.out_from < from {
            drop += usize::from(self.out_counts.pop_front().unwrap_or(0));
            self.out_from += 1;
        }
        self.out.drain(..drop.min(self.out.len()));
        // Columns that changed (new samples) or left on the right, from the right.
        let keep_to = self.dirty_from.max(from).min(to);
        while self.out_to > keep_to {
            let n = usize::from(self.out_counts.pop_back().unwrap_or(0));
            self.out.truncate(self.out.len().saturating_sub(n));
            self.out_to -= 1;
        }
        // And what is missing on the right.
        for c in self.out_to..to {
            let mut n = 0u8;
            if let Some(Some(column)) = self.columns.get((c - self.first_column) as usize) {
                let (a, b) = if column.min.0 <= column.max.0 {
                    (column.min, column.max)
                } else {
                    (column.max, column.min)
                };
                self.out.push([a.0, a.1]);
                n += 1;
                if b != a {
                    self.out.push([b.0, b.1]);
                    n += 1;
                }
            }
            self.out_counts.push_back(n);
        }
        self.out_to = to;
        self.dirty_from = i64::MAX;
    }

    /// Drops the output kept from the last call (the columns it came from changed).
    fn forget_output(&mut self) {
        self.out.clear();
        self.out_counts.clear();
        self.out_from = 0;
        self.out_to = 0;
        self.dirty_from = i64::MAX;
    }

    /// Starts over at `level`, with columns from `first_column` on.
    fn reset(&mut self, series: &Series, level: i32, first_column: i64, column_width: f64) {
        self.level = level;
        self.rewrites = series.rewrites();
        self.first_column = first_column;
        self.columns.clear();
        self.processed = series.lower_bound(first_column as f64 * column_width);
        self.built = true;
    }

    /// Adds columns before the first one (the view scrolled back).
    fn prepend(&mut self, series: &Series, c0: i64, column_width: f64) {
        let from = series.lower_bound(c0 as f64 * column_width);
        let to = series.lower_bound(self.first_column as f64 * column_width);
        let mut new: VecDeque<Option<Column>> = VecDeque::new();
        new.resize(usize::try_from(self.first_column - c0).unwrap_or(0), None);
        series.for_each_in(from, to, |t, v| {
            if v.is_nan() {
                return;
            }
            let i =
                ((t / column_width).floor() as i64 - c0).clamp(0, new.len() as i64 - 1) as usize;
            match &mut new[i] {
                Some(column) => column.fold(t, v),
                slot => *slot = Some(Column::new(t, v)),
            }
        });
        new.append(&mut self.columns);
        self.columns = new;
        self.first_column = c0;
    }

    /// Folds in the samples that arrived since the last frame.
    fn fold_new(&mut self, series: &Series, column_width: f64) {
        let end = series.end_index();
        let from = self.processed.max(series.first_index());
        let first_column = self.first_column;
        let columns = &mut self.columns;
        let dirty_from = &mut self.dirty_from;
        series.for_each_in(from, end, |t, v| {
            if v.is_nan() {
                return;
            }
            let c = (t / column_width).floor() as i64;
            if c < first_column {
                return;
            }
            *dirty_from = (*dirty_from).min(c);
            let i = (c - first_column) as usize;
            if i >= columns.len() {
                columns.resize(i + 1, None);
            }
            match &mut columns[i] {
                Some(column) => column.fold(t, v),
                slot => *slot = Some(Column::new(t, v)),
            }
        });
        self.processed = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(seed: &mut u64) -> f64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        (*seed >> 11) as f64 / (1u64 << 53) as f64
    }

    #[test]
    fn every_pixel_columns_min_and_max_survive_decimation() {
        let mut seed = 0x1234_5678_9abc_def1;
        for round in 0..40 {
            let mut series = Series::new(0);
            let n = 2_000 + (random(&mut seed) * 50_000.0) as usize;
            let mut t = 100.0 * random(&mut seed);
            for _ in 0..n {
                t += 0.001 + 0.01 * random(&mut seed);
                series.push(t, (random(&mut seed) - 0.5) * 1e3 + (t * 0.7).sin() * 50.0);
            }
            let (first, _) = series.first().unwrap();
            let (last, _) = series.last().unwrap();
            let width = 50 + (random(&mut seed) * 500.0) as usize;
            let t0 = first + (last - first) * random(&mut seed) * 0.5;
            let t1 = t0 + (last - t0) * (0.2 + 0.8 * random(&mut seed));
            let mut decimator = Decimator::default();
            // Twice: the second call answers from the cache.
            for pass in 0..2 {
                let points = decimator.points(&series, t0, t1, width).to_vec();
                assert!(
                    points.windows(2).all(|w| w[0][0] <= w[1][0]),
                    "round {round}: in time order"
                );
                let level = ((t1 - t0) / width as f64).log2().ceil() as i32;
                let cw = 2f64.powi(level);
                // Whole pixel columns: the first and last ones reach beyond [t0, t1].
                let (c0, c1) = ((t0 / cw).floor(), (t1 / cw).floor());
                let mut columns: std::collections::BTreeMap<i64, (f64, f64)> = Default::default();
                series.for_each_in(
                    series.lower_bound(c0 * cw),
                    series.lower_bound((c1 + 1.0) * cw),
                    |t, v| {
                        let c = (t / cw).floor() as i64;
                        let e = columns.entry(c).or_insert((v, v));
                        e.0 = e.0.min(v);
                        e.1 = e.1.max(v);
                    },
                );
                for (c, (min, max)) in columns {
                    let inside = |p: &&[f64; 2]| (p[0] / cw).floor() as i64 == c;
                    assert!(
                        points.iter().filter(inside).any(|p| p[1] == min),
                        "round {round} pass {pass}: column {c} lost its min"
                    );
                    assert!(
                        points.iter().filter(inside).any(|p| p[1] == max),
                        "round {round} pass {pass}: column {c} lost its max"
                    );
                }
                assert!(
                    points.len() <= 2 * (width + 3) + 2,
                    "round {round}: {} points",
                    points.len()
                );
            }
        }
    }

    #[test]
    fn following_live_folds_only_new_samples_and_keeps_extremes() {
        let mut series = Series::new(0);
        let mut decimator = Decimator::default();
        for i in 0..200_000u64 {
            series.push(
                i as f64 * 1e-3,
                if i == 150_000 {
                    1e6
                } else {
                    (i as f64 * 0.01).sin()
                },
            );
            if i % 10_000 == 9_999 {
                let t1 = i as f64 * 1e-3;
                let points = decimator.points(&series, t1 - 100.0, t1, 800);
                assert!(!points.is_empty());
            }
        }
        let points = decimator.points(&series, 100.0, 199.999, 800);
        assert!(
            points.iter().any(|p| p[1] == 1e6),
            "a one-sample spike is kept"
        );
        assert!(points.len() <= 2 * 803);
    }

    #[test]
    fn reused_output_matches_a_fresh_computation() {
        let mut seed = 0xdead_beef_u64;
        let mut series = Series::new(0);
        let mut live = Decimator::default();
        let mut t = 0.0;
        for frame in 0..400 {
            // Irregular arrivals, sometimes none.
            let n = (random(&mut seed) * 60.0) as usize;
            for _ in 0..n {
                t += 0.001 + 0.004 * random(&mut seed);
                series.push(t, random(&mut seed) * 100.0 - 50.0);
            }
            if series.is_empty() {
                continue;
            }
            let width = 120;
            let t1 = t;
            let t0 = t1 - 2.0;
            let got = live.points(&series, t0, t1, width).to_vec();
            let want = Decimator::default().points(&series, t0, t1, width).to_vec();
            // The live one may keep one more column on the left (continuity); compare the rest.
            let level = ((t1 - t0) / width as f64).log2().ceil() as i32;
            let first = (t0 / 2f64.powi(level)).floor() * 2f64.powi(level);
            let inside = |p: &&[f64; 2]| p[0] >= first;
            assert_eq!(
                got.iter().filter(inside).collect::<Vec<_>>(),
                want.iter().filter(inside).collect::<Vec<_>>(),
                "frame {frame}"
            );
        }
    }

    #[test]
    fn scrolling_back_prepends_columns() {
        let mut series = Series::new(0);
        for i in 0..100_000 {
            series.push(i as f64, if i == 10 { -5.0 } else { 0.0 });
        }
        let mut decimator = Decimator::default();
        decimator.points(&series, 50_000.0, 90_000.0, 100);
        let back = decimator.points(&series, 0.0, 40_000.0, 100).to_vec();
        assert!(
            back.iter().any(|p| p == &[10.0, -5.0]),
            "the scrolled-back view has its minimum"
        );
    }

    #[test]
    fn few_samples_are_drawn_raw_and_nan_is_a_gap() {
        let mut series = Series::new(0);
        for i in 0..10 {
            series.push(i as f64, if i == 4 { f64::NAN } else { i as f64 });
        }
        let mut decimator = Decimator::default();
        let points = decimator.points(&series, 2.0, 6.0, 100);
        assert_eq!(
            points,
            [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [5.0, 5.0], [6.0, 6.0]]
        );
    }
}
