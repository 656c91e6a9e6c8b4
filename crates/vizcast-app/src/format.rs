//! Numbers, sizes and times as people read them.

/// `1234567` → `1.23 M`; below a thousand as is (integers without decimals).
pub fn si(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() {
        return "–".to_owned();
    }
    let (v, unit) = if a >= 1e9 {
        (x / 1e9, " G")
    } else if a >= 1e6 {
        (x / 1e6, " M")
    } else if a >= 1e3 {
        (x / 1e3, " k")
    } else {
        return if x.fract() == 0.0 {
            format!("{x:.0}")
        } else {
            format!("{x:.1}")
        };
    };
    let digits = if v.abs() >= 100.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.digits$}{unit}")
}

/// Bytes in binary units: `1536` → `1.5 KiB`.
pub fn bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n.max(0.0);
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} B")
    } else if v >= 100.0 {
        format!("{v:.0} {}", UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A value for a label: few significant digits, scientific when very large or small.
pub fn value(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() {
        format!("{v}")
    } else if a != 0.0 && !(1e-3..1e6).contains(&a) {
        format!("{v:.3e}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.4}")
    }
}

/// Seconds as `m:ss` or `h:mm:ss`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).floor() as u64;
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// Times before this are taken as a producer's own clock (seconds since its start), not Unix
/// time (2001-09-09).
const UNIX_FROM: f64 = 1e9;

/// A time axis label. Unix times show as UTC time of day with as many decimals as the `step`
/// between labels needs; other times as seconds.
pub fn time(t: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        ((-step.log10()).ceil() as usize).min(6)
    };
    if t < UNIX_FROM {
        return format!("{t:.decimals$} s");
    }
    let day = t.rem_euclid(86_400.0);
    let h = (day / 3600.0).floor();
    let m = ((day - h * 3600.0) / 60.0).floor();
    let s = day - h * 3600.0 - m * 60.0;
    let width = if decimals > 0 { decimals + 3 } else { 2 };
    format!("{h:02.0}:{m:02.0}:{s:0width$.decimals$}")
}

/// Grid steps for a time axis, finest first: seconds, minutes and hours in the steps clocks use
/// (1, 2, 5, 10, 15, 30 s, 1, 2, 5, 10, 15, 30 min, …), each at least `base` and at least 4× the
/// previous one, so that the coarser lines carry readable labels.
pub fn time_steps(base: f64) -> [f64; 3] {
    const CLOCK: [f64; 19] = [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
        10_800.0, 21_600.0, 43_200.0, 86_400.0, 172_800.0,
    ];
    let nice = |at_least: f64| -> f64 {
        let at_least = at_least.max(1e-9);
        if at_least < 1.0 {
            // Decimal 1-2-5 steps below a second.
            let p = 10f64.powf(at_least.log10().floor());
            return [1.0, 2.0, 5.0, 10.0]
                .iter()
                .map(|m| m * p)
                .find(|s| *s >= at_least)
                .unwrap_or(1.0);
        }
        CLOCK
            .iter()
            .copied()
            .find(|s| *s >= at_least)
            .unwrap_or_else(|| {
                let days = (at_least / 86_400.0).ceil();
                days * 86_400.0
            })
    };
    let a = nice(base);
    let b = nice(a * 4.0);
    let c = nice(b * 4.0);
    [a, b, c]
}

/// A full timestamp for hover labels and the event log: `12:34:56.789` (UTC for Unix times).
pub fn timestamp(t: f64) -> String {
    if t < UNIX_FROM {
        format!("{t:.3} s")
    } else {
        format!("{} UTC", time(t, 0.001))
    }
}

/// `YYYYMMDD-HHMMSS` (UTC) for file names.
pub fn file_stamp(unix: f64) -> String {
    let secs = unix.max(0.0).floor() as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, mo, d) = civil_from_days(days);
    format!(
        "{y:04}{mo:02}{d:02}-{:02}{:02}{:02}",
        rest / 3600,
        (rest / 60) % 60,
        rest % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_sizes_and_times_read_well() {
        assert_eq!(si(999.0), "999");
        assert_eq!(si(12_345.0), "12.3 k");
        assert_eq!(si(2_500_000.0), "2.50 M");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(3.0 * 1024.0 * 1024.0 * 1024.0), "3.0 GiB");
        assert_eq!(duration(3725.0), "1:02:05");
        assert_eq!(duration(65.0), "1:05");
        assert_eq!(time(1_732_406_400.0 + 3723.3, 0.1), "01:02:03.3");
        assert_eq!(time(12.5, 1.0), "12 s");
        assert_eq!(file_stamp(1_732_406_400.0), "20241124-000000");
        assert_eq!(file_stamp(951_782_400.0), "20000229-000000");
        assert_eq!(value(0.5), "0.5000");
        assert_eq!(time_steps(0.7), [1.0, 5.0, 30.0]);
        assert_eq!(time_steps(0.013), [0.02, 0.1, 0.5]);
        assert_eq!(time_steps(100.0), [120.0, 600.0, 3600.0]);
        assert_eq!(value(1.5e7), "1.500e7");
    }
}
