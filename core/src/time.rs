//! Simulated and injected time.
//!
//! The core never reads a clock. Drivers pass `now` into every entry point as
//! an [`Instant`], a count of microseconds since an origin the driver chooses
//! (the simulator's start, or the live node's start). Microseconds are exact
//! in integer arithmetic, so simulated runs never drift through float rounding.

use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A point in time, in microseconds since the driver's origin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

/// A span of time in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(u64);

impl Instant {
    /// The driver's origin.
    pub const ZERO: Instant = Instant(0);
    /// A time later than any the simulator reaches; used as "never".
    pub const NEVER: Instant = Instant(u64::MAX);

    /// An instant `micros` microseconds after the origin.
    pub const fn from_micros(micros: u64) -> Self {
        Instant(micros)
    }
    /// An instant `ms` milliseconds after the origin.
    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms * 1_000)
    }
    /// An instant `s` seconds after the origin.
    pub const fn from_secs(s: u64) -> Self {
        Instant(s * 1_000_000)
    }
    /// Microseconds since the origin.
    pub const fn as_micros(self) -> u64 {
        self.0
    }
    /// Seconds since the origin, as a float (for reporting only).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }
    /// The time elapsed since `earlier`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
}

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration(0);

    /// A span of `micros` microseconds.
    pub const fn from_micros(micros: u64) -> Self {
        Duration(micros)
    }
    /// A span of `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Duration(ms * 1_000)
    }
    /// A span of `s` seconds.
    pub const fn from_secs(s: u64) -> Self {
        Duration(s * 1_000_000)
    }
    /// A span of `f` seconds, rounded to the microsecond; negative values clamp to zero.
    pub fn from_secs_f64(f: f64) -> Self {
        Duration((f.max(0.0) * 1e6).round() as u64)
    }
    /// Length in microseconds.
    pub const fn as_micros(self) -> u64 {
        self.0
    }
    /// Length in milliseconds, as a float.
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1e3
    }
    /// Length in seconds, as a float.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }
    /// Scales the span by a non-negative factor (used for timer jitter).
    pub fn mul_f64(self, factor: f64) -> Self {
        Duration((self.0 as f64 * factor.max(0.0)).round() as u64)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        self.0 = self.0.saturating_add(rhs.0);
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_since(rhs)
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, rhs: Duration) -> Duration {
        Duration(self.0.saturating_add(rhs.0))
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.6}s", self.as_secs_f64())
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3}ms", self.as_millis_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_wrapping() {
        assert_eq!(Instant::NEVER + Duration::from_secs(1), Instant::NEVER);
        assert_eq!(
            Instant::from_secs(1) - Instant::from_secs(2),
            Duration::ZERO
        );
        assert_eq!(
            Instant::from_millis(1500) - Instant::from_secs(1),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn float_conversions_round_to_the_microsecond() {
        assert_eq!(Duration::from_secs_f64(0.0000015).as_micros(), 2);
        assert_eq!(Duration::from_secs_f64(-3.0), Duration::ZERO);
        assert_eq!(
            Duration::from_secs(10).mul_f64(0.25),
            Duration::from_millis(2500)
        );
    }
}
