//! `bit-flip`: corrupt proxied bytes by flipping one bit in a share of them.
//!
//! Each byte after the first `after` bytes of the connection's stream is corrupted with
//! probability `rate`: one of its bits, chosen at random, is flipped. The gaps between corrupted
//! bytes are drawn from the toxic's seeded stream (one draw per corruption, not one per byte), so
//! the same proxy seed corrupts the same bytes. Chunks without a corrupted byte pass unchanged
//! without being copied back.
//!
//! | attribute | meaning                                               | default |
//! |-----------|-------------------------------------------------------|---------|
//! | `rate`    | probability that a byte is corrupted (0..=1)          | required |
//! | `after`   | bytes at the start of the stream left intact          | `0`     |

use chaoskit_plugin_sdk::{ConnectionInfo, Direction, Step, Toxic, export_toxic, random};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    rate: f64,
    #[serde(default)]
    after: u64,
}

struct BitFlip(Config);

/// Per connection: bytes to leave intact before the next corrupted one.
struct Gap(u64);

impl BitFlip {
    /// Bytes before the next corrupted one: geometric with success probability `rate`.
    fn gap(&self) -> u64 {
        let p = self.0.rate;
        if p >= 1.0 {
            return 0;
        }
        if p <= 0.0 {
            return u64::MAX;
        }
        // 1 - U is in (0, 1], so the logarithm is finite.
        let u = 1.0 - random::f64();
        let g = (u.ln() / (1.0 - p).ln()).floor();
        if g >= u64::MAX as f64 { u64::MAX } else { g as u64 }
    }
}

impl Toxic for BitFlip {
    type Config = Config;
    type Connection = Gap;

    fn new(config: Config) -> Result<Self, String> {
        if !(0.0..=1.0).contains(&config.rate) {
            return Err(format!("`rate` must be between 0 and 1, got {}", config.rate));
        }
        Ok(Self(config))
    }

    fn open(&mut self, _info: &ConnectionInfo) -> Gap {
        Gap(self.0.after.saturating_add(self.gap()))
    }

    fn filter(&mut self, gap: &mut Gap, _direction: Direction, mut chunk: Vec<u8>) -> Vec<Step> {
        let len = chunk.len() as u64;
        if gap.0 >= len {
            gap.0 -= len;
            return Vec::new();
        }
        let mut at = gap.0;
        while at < len {
            let bit = random::range(0..8) as u8;
            chunk[at as usize] ^= 1 << bit;
            at = at.saturating_add(1).saturating_add(self.gap());
        }
        gap.0 = at - len;
        Step::replace(chunk.len(), chunk)
    }
}

export_toxic!(BitFlip);
