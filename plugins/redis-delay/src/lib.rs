//! `redis-delay`: delay only the Redis commands that write (or any list of commands).
//!
//! Add it on the **upstream** stream (client to server). It follows the RESP protocol (arrays of
//! bulk strings, what clients send) and inline commands (`SET k v\r\n`, what `redis-cli` and
//! telnet send), across chunk boundaries, and holds the rest of the stream for `delay_ms` as soon
//! as it has read the name of a matching command: reads (`GET`, `MGET`, ...) go through at once,
//! writes wait. Pipelined writes are each delayed.
//!
//! | attribute  | meaning                                                   | default                 |
//! |------------|-----------------------------------------------------------|-------------------------|
//! | `delay_ms` | how long to hold a matching command                       | required                |
//! | `commands` | command names to delay (case-insensitive)                 | the write commands below |
//! | `rate`     | share of matching commands delayed (0..=1), seeded        | `1.0`                   |
//!
//! Default commands: SET, SETEX, PSETEX, SETNX, SETRANGE, MSET, MSETNX, APPEND, DEL, UNLINK,
//! INCR, INCRBY, INCRBYFLOAT, DECR, DECRBY, GETSET, GETDEL, EXPIRE, PEXPIRE, EXPIREAT, PERSIST,
//! RENAME, HSET, HSETNX, HMSET, HDEL, HINCRBY, LPUSH, RPUSH, LPOP, RPOP, LSET, LREM, LTRIM, SADD,
//! SREM, SPOP, ZADD, ZREM, ZINCRBY, XADD, XDEL, FLUSHDB, FLUSHALL.

use chaoskit_plugin_sdk::{ConnectionInfo, Direction, Step, Toxic, export_toxic, random};
use serde::Deserialize;
use std::time::Duration;

const WRITES: &[&str] = &[
    "SET", "SETEX", "PSETEX", "SETNX", "SETRANGE", "MSET", "MSETNX", "APPEND", "DEL", "UNLINK", "INCR", "INCRBY",
    "INCRBYFLOAT", "DECR", "DECRBY", "GETSET", "GETDEL", "EXPIRE", "PEXPIRE", "EXPIREAT", "PERSIST", "RENAME", "HSET",
    "HSETNX", "HMSET", "HDEL", "HINCRBY", "LPUSH", "RPUSH", "LPOP", "RPOP", "LSET", "LREM", "LTRIM", "SADD", "SREM",
    "SPOP", "ZADD", "ZREM", "ZINCRBY", "XADD", "XDEL", "FLUSHDB", "FLUSHALL",
];

/// Longest command name looked at; longer names never match.
const MAX_NAME: usize = 32;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    delay_ms: u64,
    #[serde(default)]
    commands: Option<Vec<String>>,
    #[serde(default = "one")]
    rate: f64,
}

fn one() -> f64 {
    1.0
}

struct RedisDelay {
    delay: Duration,
    commands: Vec<Vec<u8>>,
    rate: f64,
}

/// Where the parser is in the client's command stream.
enum Parse {
    /// Between commands.
    Start,
    /// Reading an array header `*<n>\r\n`.
    Count { n: u64 },
    /// Reading a bulk header `$<len>\r\n`; `elements` left in the array including this one.
    BulkLen { len: u64, elements: u64, first: bool },
    /// Inside bulk data: `left` bytes then CRLF; the first element's bytes are the name.
    BulkData { left: u64, elements: u64, first: bool, name: Vec<u8> },
    /// Reading an inline command line; the name is its first word.
    Inline { name: Vec<u8>, in_name: bool },
    /// Lost track (malformed input): pass everything.
    Off,
}

impl RedisDelay {
    fn matches(&self, name: &[u8]) -> bool {
        self.commands.iter().any(|c| c.eq_ignore_ascii_case(name))
    }
}

impl Toxic for RedisDelay {
    type Config = Config;
    type Connection = Parse;

    fn new(config: Config) -> Result<Self, String> {
        if !(0.0..=1.0).contains(&config.rate) {
            return Err(format!("`rate` must be between 0 and 1, got {}", config.rate));
        }
        let commands: Vec<Vec<u8>> = match config.commands {
            Some(list) if list.is_empty() => return Err("`commands` must name at least one command".into()),
            Some(list) => list.into_iter().map(String::into_bytes).collect(),
            None => WRITES.iter().map(|c| c.as_bytes().to_vec()).collect(),
        };
        Ok(Self { delay: Duration::from_millis(config.delay_ms), commands, rate: config.rate })
    }

    fn open(&mut self, _info: &ConnectionInfo) -> Parse {
        Parse::Start
    }

    fn filter(&mut self, parse: &mut Parse, _direction: Direction, chunk: Vec<u8>) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut passed = 0usize;
        let mut i = 0usize;
        while i < chunk.len() {
            let b = chunk[i];
            i += 1;
            // A command name just completed: delay what follows if it matches.
            let mut named: Option<Vec<u8>> = None;
            match parse {
                Parse::Off => {
                    i = chunk.len();
                }
                Parse::Start => match b {
                    b'*' => *parse = Parse::Count { n: 0 },
                    b'\r' | b'\n' => {}
                    b' ' | b'\t' => *parse = Parse::Inline { name: Vec::new(), in_name: true },
                    _ => *parse = Parse::Inline { name: vec![b], in_name: true },
                },
                Parse::Count { n } => match b {
                    b'0'..=b'9' => *n = n.saturating_mul(10).saturating_add(u64::from(b - b'0')),
                    b'\r' => {}
                    b'\n' if *n == 0 => *parse = Parse::Start,
                    b'\n' => *parse = Parse::BulkLen { len: 0, elements: *n, first: true },
                    b'$' => {}
                    _ => *parse = Parse::Off,
                },
                Parse::BulkLen { len, elements, first } => match b {
                    b'$' => {}
                    b'0'..=b'9' => *len = len.saturating_mul(10).saturating_add(u64::from(b - b'0')),
                    b'\r' => {}
                    b'\n' => {
                        *parse =
                            Parse::BulkData { left: *len + 2, elements: *elements, first: *first, name: Vec::new() };
                    }
                    _ => *parse = Parse::Off,
                },
                Parse::BulkData { left, elements, first, name } => {
                    // This byte and as many more as the chunk has, at once.
                    let n = (*left).min((chunk.len() - i + 1) as u64) as usize;
                    let data = &chunk[i - 1..i - 1 + n];
                    if *first && name.len() < MAX_NAME + 2 {
                        name.extend_from_slice(&data[..data.len().min(MAX_NAME + 2 - name.len())]);
                    }
                    i += n - 1;
                    *left -= n as u64;
                    if *left == 0 {
                        if *first {
                            let mut full = std::mem::take(name);
                            full.truncate(full.len().saturating_sub(2));
                            named = Some(full);
                        }
                        *parse = if *elements <= 1 {
                            Parse::Start
                        } else {
                            Parse::BulkLen { len: 0, elements: *elements - 1, first: false }
                        };
                    }
                }
                Parse::Inline { name, in_name } => match b {
                    b'\n' => {
                        if *in_name {
                            named = Some(std::mem::take(name));
                        }
                        *parse = Parse::Start;
                    }
                    b' ' | b'\t' | b'\r' if *in_name => {
                        named = Some(std::mem::take(name));
                        *in_name = false;
                    }
                    _ if *in_name && name.len() <= MAX_NAME => name.push(b),
                    _ => {}
                },
            }
            if let Some(name) = named
                && self.matches(&name)
                && random::chance(self.rate)
            {
                steps.push(Step::Pass(u32::try_from(i - passed).unwrap_or(u32::MAX)));
                steps.push(Step::Delay(self.delay));
                passed = i;
            }
        }
        // No delay: the whole chunk passes without being copied back.
        steps
    }
}

export_toxic!(RedisDelay);
