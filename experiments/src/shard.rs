//! `--shard I/N`: a deterministic subset of a sweep's runs, for job arrays.
//!
//! Shards are numbered from 0: shard `I` of `N` runs every run whose index
//! (`point · replications + replication`, see [`crate::grid`]) satisfies
//! `index mod N = I`. The shards of one `N` partition the runs, whatever the
//! machine, thread count or order in which they run.
//!
//! Without `--shard`, a sweep started by a Slurm job array takes its shard
//! from the environment: `SLURM_ARRAY_TASK_COUNT` is `N` and the shard is
//! `(SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP`
//! (MIN defaults to 0 and STEP to 1 when unset), so `--array=0-3` and
//! `--array=1-4` both give shards 0 to 3. `--shard` wins over the
//! environment. A malformed or inconsistent value is an error naming the
//! variable.

use crate::error::Error;
use std::fmt;
use std::str::FromStr;

/// Shard `index` of `count` (0 ≤ index < count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which shard, from 0.
    pub index: usize,
    /// How many shards.
    pub count: usize,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    /// Parses `I/N`, shards numbered from 0.
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("`{s}` is not a shard: expected I/N with 0 ≤ I < N, e.g. 0/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// The Slurm variables a job array sets.
pub const SLURM_TASK_ID: &str = "SLURM_ARRAY_TASK_ID";
/// Number of tasks in the array.
pub const SLURM_TASK_COUNT: &str = "SLURM_ARRAY_TASK_COUNT";
/// Lowest task id of the array.
pub const SLURM_TASK_MIN: &str = "SLURM_ARRAY_TASK_MIN";
/// Step between task ids.
pub const SLURM_TASK_STEP: &str = "SLURM_ARRAY_TASK_STEP";

impl Shard {
    /// Whether the run with this index belongs to the shard.
    pub fn includes(&self, run_index: usize) -> bool {
        run_index % self.count == self.index
    }

    /// The shard a Slurm job array assigns, if `var` (a lookup of the
    /// environment) says this is one.
    pub fn from_slurm(var: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>, Error> {
        let id = var(SLURM_TASK_ID);
        let count = var(SLURM_TASK_COUNT);
        let (id, count) = match (id, count) {
            (None, None) => return Ok(None),
            (Some(_), None) => {
                return Err(Error::Other(format!(
                    "{SLURM_TASK_ID} is set but {SLURM_TASK_COUNT} is not set; \
                     set both (a Slurm job array does), or pass --shard I/N"
                )));
            }
            (None, Some(_)) => {
                return Err(Error::Other(format!(
                    "{SLURM_TASK_COUNT} is set but {SLURM_TASK_ID} is not set; \
                     set both (a Slurm job array does), or pass --shard I/N"
                )));
            }
            (Some(i), Some(c)) => (i, c),
        };
        let number = |name: &str, v: &str| -> Result<u64, Error> {
            v.trim().parse::<u64>().map_err(|_| {
                Error::Other(format!(
                    "{name}={v:?} is not a non-negative integer (from the Slurm job array)"
                ))
            })
        };
        let id_n = number(SLURM_TASK_ID, &id)?;
        let count_n = number(SLURM_TASK_COUNT, &count)?;
        let min = match var(SLURM_TASK_MIN) {
            Some(v) => number(SLURM_TASK_MIN, &v)?,
            None => 0,
        };
        let step = match var(SLURM_TASK_STEP) {
            Some(v) => number(SLURM_TASK_STEP, &v)?,
            None => 1,
        };
        if count_n == 0 {
            return Err(Error::Other(format!(
                "{SLURM_TASK_COUNT}=0: a job array has at least one task"
            )));
        }
        if step == 0 {
            return Err(Error::Other(format!(
                "{SLURM_TASK_STEP}=0 is not a step between task ids"
            )));
        }
        let offset = id_n.checked_sub(min).filter(|o| o % step == 0);
        let index = offset.map(|o| o / step).filter(|&i| i < count_n);
        match index {
            Some(i) => Ok(Some(Shard {
                index: i as usize,
                count: count_n as usize,
            })),
            None => Err(Error::Other(format!(
                "{SLURM_TASK_ID}={id_n} does not fit an array of {count_n} tasks from \
                 {SLURM_TASK_MIN}={min} in steps of {step}: shard (id − min) / step must be \
                 0 to {}",
                count_n - 1
            ))),
        }
    }

    /// The shard to run: `--shard` if given, else the Slurm job array's, else
    /// none (every run).
    pub fn select(cli: Option<Shard>) -> Result<Option<Shard>, Error> {
        match cli {
            Some(s) => Ok(Some(s)),
            None => Shard::from_slurm(|k| std::env::var(k).ok()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn parses_and_partitions() {
        let s: Shard = "1/3".parse().unwrap();
        assert_eq!(s, Shard { index: 1, count: 3 });
        assert_eq!(s.to_string(), "1/3");
        for bad in ["3/3", "1", "a/3", "1/0", "-1/3", ""] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(e.contains("I/N"), "{bad}: {e}");
        }
        // Every index in exactly one shard.
        for i in 0..100 {
            let owners = (0..3)
                .filter(|&k| Shard { index: k, count: 3 }.includes(i))
                .count();
            assert_eq!(owners, 1);
        }
    }

    #[test]
    fn slurm_arrays_from_zero_or_one_and_with_steps() {
        assert_eq!(Shard::from_slurm(env(&[])).unwrap(), None);
        let s = Shard::from_slurm(env(&[(SLURM_TASK_ID, "2"), (SLURM_TASK_COUNT, "4")])).unwrap();
        assert_eq!(s, Some(Shard { index: 2, count: 4 }));
        let s = Shard::from_slurm(env(&[
            (SLURM_TASK_ID, "4"),
            (SLURM_TASK_COUNT, "4"),
            (SLURM_TASK_MIN, "1"),
        ]))
        .unwrap();
        assert_eq!(s, Some(Shard { index: 3, count: 4 }));
        let s = Shard::from_slurm(env(&[
            (SLURM_TASK_ID, "6"),
            (SLURM_TASK_COUNT, "3"),
            (SLURM_TASK_MIN, "0"),
            (SLURM_TASK_STEP, "3"),
        ]))
        .unwrap();
        assert_eq!(s, Some(Shard { index: 2, count: 3 }));
    }

    #[test]
    fn bad_slurm_values_name_the_variable() {
        for (pairs, needle) in [
            (
                vec![(SLURM_TASK_ID, "x"), (SLURM_TASK_COUNT, "3")],
                "SLURM_ARRAY_TASK_ID=\"x\"",
            ),
            (
                vec![(SLURM_TASK_ID, "1"), (SLURM_TASK_COUNT, "-3")],
                "SLURM_ARRAY_TASK_COUNT=\"-3\"",
            ),
            (vec![(SLURM_TASK_ID, "1")], "SLURM_ARRAY_TASK_COUNT is not"),
            (vec![(SLURM_TASK_COUNT, "1")], "SLURM_ARRAY_TASK_ID is not"),
            (
                vec![(SLURM_TASK_ID, "3"), (SLURM_TASK_COUNT, "3")],
                "SLURM_ARRAY_TASK_ID=3 does not fit",
            ),
            (
                vec![(SLURM_TASK_ID, "0"), (SLURM_TASK_COUNT, "0")],
                "SLURM_ARRAY_TASK_COUNT=0",
            ),
        ] {
            let e = Shard::from_slurm(env(&pairs)).unwrap_err().to_string();
            assert!(e.contains(needle), "{pairs:?}: {e}");
        }
    }
}
