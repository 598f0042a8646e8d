//! Shard identity: which part of a run's iteration indices one process runs.
//!
//! A run of `repeat` iterations split into `count` shards gives shard `index` exactly the
//! indices `k` with `k % count == index`. Decisions derive from (seed, name, iteration
//! index), so a shard makes the same decisions for its indices as a single run would, and
//! the shards' journals merge into the single run's report ([`super::merge`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Most shards a run is split into: `--shard` refuses more, and `report merge` refuses a
/// journal that claims more (its list of missing shards is bounded by it).
pub const MAX_SHARDS: u32 = 10_000;

/// One shard of a run: `index` of `count` (0-based), written `I/N` on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shard {
    /// Which shard, `0..count`.
    pub index: u32,
    /// How many shards the run is split into (at least 1).
    pub count: u32,
}

impl Shard {
    /// Shard `index` of `count`; `None` unless `index < count`.
    pub fn new(index: u32, count: u32) -> Option<Shard> {
        (index < count).then_some(Shard { index, count })
    }

    /// The iteration index of this shard's `position`-th iteration (0-based).
    pub fn iteration(&self, position: u64) -> u64 {
        position.saturating_mul(u64::from(self.count)).saturating_add(u64::from(self.index))
    }

    /// Whether iteration `index` belongs to this shard.
    pub fn owns(&self, index: u64) -> bool {
        index % u64::from(self.count) == u64::from(self.index)
    }

    /// How many of the iterations `0..repeat` belong to this shard.
    pub fn iterations_of(&self, repeat: u64) -> u64 {
        let (i, n) = (u64::from(self.index), u64::from(self.count));
        if repeat <= i { 0 } else { (repeat - i - 1) / n + 1 }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Why a shard could not be read from `I/N`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid shard `{input}`: {reason} (expected `I/N` with 0 <= I < N, e.g. `0/4`)")]
pub struct ParseShardError {
    input: String,
    reason: &'static str,
}

impl FromStr for Shard {
    type Err = ParseShardError;

    fn from_str(s: &str) -> Result<Shard, ParseShardError> {
        let err = |reason| ParseShardError { input: s.to_string(), reason };
        let (i, n) = s.split_once('/').ok_or_else(|| err("no `/`"))?;
        let index: u32 = i.trim().parse().map_err(|_| err("the index is not a number"))?;
        let count: u32 = n.trim().parse().map_err(|_| err("the count is not a number"))?;
        if count == 0 {
            return Err(err("the count must be at least 1"));
        }
        if count > MAX_SHARDS {
            return Err(err("the count must be at most 10000"));
        }
        Shard::new(index, count).ok_or_else(|| err("the index must be below the count"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_indices_exactly() {
        for repeat in [0u64, 1, 3, 4, 5, 17, 100] {
            for count in 1..=5u32 {
                let mut seen = Vec::new();
                for index in 0..count {
                    let shard = Shard::new(index, count).unwrap();
                    let n = shard.iterations_of(repeat);
                    for p in 0..n {
                        let k = shard.iteration(p);
                        assert!(shard.owns(k) && k < repeat, "{shard} {p} -> {k} of {repeat}");
                        seen.push(k);
                    }
                    assert!(shard.iteration(n) >= repeat, "{shard} stops at {n} of {repeat}");
                }
                seen.sort_unstable();
                assert_eq!(seen, (0..repeat).collect::<Vec<_>>(), "repeat {repeat} count {count}");
            }
        }
    }

    #[test]
    fn shard_strings_parse_or_say_what_is_wrong() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        assert_eq!("2/4".parse::<Shard>().unwrap().to_string(), "2/4");
        assert_eq!(
            "4/4".parse::<Shard>().unwrap_err().to_string(),
            "invalid shard `4/4`: the index must be below the count (expected `I/N` with 0 <= I < N, e.g. `0/4`)"
        );
        assert!("1/0".parse::<Shard>().unwrap_err().to_string().contains("the count must be at least 1"));
        assert!("0/10001".parse::<Shard>().unwrap_err().to_string().contains("the count must be at most 10000"));
        assert!("9999/10000".parse::<Shard>().is_ok());
        assert!("x/2".parse::<Shard>().unwrap_err().to_string().contains("the index is not a number"));
        assert!("3".parse::<Shard>().unwrap_err().to_string().contains("no `/`"));
    }
}
