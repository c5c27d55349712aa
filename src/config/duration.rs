//! Human durations in settings: `90s`, `15m`, `24h`, `60d` (a whole number and one unit).
//!
//! Our own parser rather than `humantime`: humantime also accepts combinations (`2h 37min`),
//! other unit names (`15min`, `2days`, `1w`, `1M`, `1y`) and units below a second (`32ms`), all
//! of which the documented syntax refuses, and it prints `1h 30m` where we print `90m`.

use std::fmt;
use std::str::FromStr;

/// A non-negative span of whole seconds, parsed from `<number><unit>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(u64);

/// Longest accepted duration: 100 years, far beyond any sensible setting and far from overflow.
const MAX_SECONDS: u64 = 100 * 366 * 86_400;

impl HumanDuration {
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs)
    }
    pub fn as_secs(self) -> u64 {
        self.0
    }
    pub fn to_chrono(self) -> chrono::Duration {
        chrono::Duration::seconds(self.0 as i64)
    }
    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.0)
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a duration like 90s, 15m, 24h or 60d")]
pub struct DurationError;

impl FromStr for HumanDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).ok_or(DurationError)?;
        let (digits, unit) = s.split_at(split);
        if digits.is_empty() || digits.len() > 12 {
            return Err(DurationError);
        }
        let n: u64 = digits.parse().map_err(|_| DurationError)?;
        let factor = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            _ => return Err(DurationError),
        };
        let secs = n.checked_mul(factor).ok_or(DurationError)?;
        if secs > MAX_SECONDS {
            return Err(DurationError);
        }
        Ok(Self(secs))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        if s != 0 && s.is_multiple_of(86_400) {
            write!(f, "{}d", s / 86_400)
        } else if s != 0 && s.is_multiple_of(3_600) {
            write!(f, "{}h", s / 3_600)
        } else if s != 0 && s.is_multiple_of(60) {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_each_unit() {
        assert_eq!("90s".parse(), Ok(HumanDuration(90)));
        assert_eq!("15m".parse(), Ok(HumanDuration(900)));
        assert_eq!("24h".parse(), Ok(HumanDuration(86_400)));
        assert_eq!("60d".parse(), Ok(HumanDuration(5_184_000)));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "s",
            "15",
            "15 m",
            "-5m",
            "1.5h",
            "10w",
            "99999999999999d",
            "m15",
        ] {
            assert_eq!(bad.parse::<HumanDuration>(), Err(DurationError), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn display_round_trips(secs in 0u64..MAX_SECONDS) {
            let d = HumanDuration(secs);
            prop_assert_eq!(d.to_string().parse::<HumanDuration>(), Ok(d));
        }

        #[test]
        fn never_panics(s in "\\PC{0,20}") {
            let _ = s.parse::<HumanDuration>();
        }
    }
}
