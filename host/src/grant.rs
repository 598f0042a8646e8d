//! Capability grants for plugins: what a plugin may reach beyond the `host` interface.
//!
//! A grant is written the same way in a scenario file (`grants = ["fs:ro:./schedules"]` in a
//! `[[plugins]]` entry) and on the command line (`--grant x.wasm=fs:ro:./schedules`); both
//! parse through [`Grant::parse`], so `validate` refuses what `run` would. Without grants a
//! plugin still loads when it imports WASI: randomness comes from its seeded stream, clocks
//! are virtual, the filesystem has no directories, sockets and HTTP are refused per call and
//! the environment is empty (see `chaoskit::plugin`).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// A capability granted to one plugin. Text forms (as [`Grant::parse`] reads them and
/// `Display` writes them):
///
/// | grant | what it allows |
/// |---|---|
/// | `stdio` | stdout/stderr lines go to the log (rate-limited, escaped) |
/// | `random:os` | `wasi:random` from the OS instead of the seeded stream (run not replayable) |
/// | `clocks:wall` | `wasi:clocks` read the host's clocks instead of the virtual ones (run not replayable) |
/// | `fs:ro:DIR[=GUEST]` | `DIR` pre-opened read-only, seen by the guest as `GUEST` (default `/` + its name) |
/// | `fs:rw:DIR[=GUEST]` | the same, writable |
/// | `http:HOST:PORT` | outgoing `wasi:http` requests to `HOST:PORT` (`*` for any host or port) |
/// | `tcp:HOST:PORT` | outgoing `wasi:sockets` TCP connections to `HOST:PORT` (an IP, `localhost` or `*`) |
/// | `env:NAME[=VALUE]` | the environment variable `NAME`: `VALUE`, or the host's value when the plugin loads |
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Grant {
    /// Send the plugin's stdout and stderr lines to the log (`tracing` target
    /// `chaoskit::plugin`, field `stream`), rate-limited by `log_rate` and escaped.
    ///
    /// Without it, what the plugin prints is dropped; the end of its stderr is still shown when
    /// it traps (that is where a Rust panic message goes).
    Stdio,
    /// `wasi:random` draws from the operating system instead of the plugin's seeded stream.
    /// The report then says the run cannot be replayed.
    OsRandom,
    /// `wasi:clocks` read the host's wall and monotonic clocks instead of the virtual clock.
    /// The report then says the run cannot be replayed.
    WallClock,
    /// A host directory pre-opened for the guest.
    Dir {
        /// The directory on the host (made absolute when the grant is resolved).
        host: PathBuf,
        /// Where the guest sees it.
        guest: String,
        /// Whether the guest may create, change and remove files in it.
        write: bool,
    },
    /// Outgoing HTTP requests (`wasi:http/outgoing-handler`) to matching hosts.
    Http(HostPattern),
    /// Outgoing TCP connections (`wasi:sockets/tcp`) to matching addresses.
    Tcp(HostPattern),
    /// One environment variable.
    Env {
        /// Its name.
        name: String,
        /// Its value; `None` takes the host's value when the plugin is loaded.
        value: Option<String>,
    },
}

/// The grant forms, for messages.
pub(crate) const GRANT_FORMS: &str = "`stdio`, `random:os`, `clocks:wall`, `fs:ro:DIR[=GUEST]`, `fs:rw:DIR[=GUEST]`, `http:HOST:PORT`, `tcp:HOST:PORT`, `env:NAME[=VALUE]`";

/// The word before the first `:` of each grant form, for "did you mean" hints.
#[cfg_attr(not(feature = "spec"), expect(dead_code, reason = "only scenario files suggest grant names"))]
pub(crate) const GRANT_KINDS: [&str; 7] = ["stdio", "random", "clocks", "fs", "http", "tcp", "env"];

/// `HOST:PORT` with `*` for any host or any port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPattern {
    /// A host name or IP literal (IPv6 in brackets), lowercase; `None` for `*`.
    pub host: Option<String>,
    /// A port; `None` for `*`.
    pub port: Option<u16>,
}

impl HostPattern {
    fn parse(s: &str) -> Result<Self, String> {
        let (host, port) =
            s.rsplit_once(':').ok_or_else(|| format!("`{s}` has no port (write `HOST:PORT`, `*` for any)"))?;
        if host.is_empty() {
            return Err(format!("`{s}` has no host (write `HOST:PORT`, `*` for any)"));
        }
        let port = match port {
            "*" => None,
            p => Some(p.parse::<u16>().map_err(|_| format!("`{p}` is not a port (0..=65535 or `*`)"))?),
        };
        let host = match host {
            "*" => None,
            h => {
                let bare = h.trim_start_matches('[').trim_end_matches(']');
                if bare.is_empty() || bare.chars().any(|c| !(c.is_ascii_alphanumeric() || "-._:".contains(c))) {
                    return Err(format!("`{h}` is not a host name or IP address"));
                }
                Some(bare.to_ascii_lowercase())
            }
        };
        Ok(HostPattern { host, port })
    }

    /// Whether a request to `host:port` matches (host names compare without case).
    #[cfg_attr(not(feature = "plugins"), expect(dead_code, reason = "used by the plugin host"))]
    pub fn matches_name(&self, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.port.is_none_or(|p| p == port) && self.host.as_deref().is_none_or(|h| h.eq_ignore_ascii_case(host))
    }

    /// Whether a connection to `addr` matches: the pattern's host must be `*`, `localhost`
    /// (a loopback address) or the same IP.
    #[cfg_attr(not(feature = "plugins"), expect(dead_code, reason = "used by the plugin host"))]
    pub fn matches_addr(&self, addr: SocketAddr) -> bool {
        if self.port.is_some_and(|p| p != addr.port()) {
            return false;
        }
        match self.host.as_deref() {
            None => true,
            Some("localhost") => addr.ip().is_loopback(),
            Some(h) => h.parse::<IpAddr>().is_ok_and(|ip| ip == addr.ip()),
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            None => f.write_str("*")?,
            Some(h) if h.contains(':') => write!(f, "[{h}]")?,
            Some(h) => f.write_str(h)?,
        }
        match self.port {
            None => f.write_str(":*"),
            Some(p) => write!(f, ":{p}"),
        }
    }
}

impl Grant {
    /// Read a grant from its text form (see [`Grant`]). Relative directories stay relative
    /// until [`resolve`](Self::resolve).
    ///
    /// # Errors
    ///
    /// What is wrong and the valid forms, e.g. ``unknown grant `clock`; valid grants: …``.
    ///
    /// ```
    /// use chaoskit::plugin::Grant;
    /// assert_eq!(Grant::parse("fs:ro:./schedules").unwrap().to_string(), "fs:ro:./schedules=/schedules");
    /// assert!(Grant::parse("fs:ro:/").is_ok());
    /// assert!(Grant::parse("http:127.0.0.1").unwrap_err().contains("no port"));
    /// ```
    pub fn parse(text: &str) -> Result<Grant, String> {
        let (kind, rest) = text.split_once(':').unwrap_or((text, ""));
        let need = |what: &str| format!("`{text}`: `{kind}` needs {what}");
        match (kind, rest) {
            ("stdio", "") => Ok(Grant::Stdio),
            ("random", "os") => Ok(Grant::OsRandom),
            ("clocks", "wall") => Ok(Grant::WallClock),
            ("random", _) => Err(need("`os` (`random:os`); the default is the seeded stream")),
            ("clocks", _) => Err(need("`wall` (`clocks:wall`); the default is the virtual clock")),
            ("fs", rest) => {
                let (mode, dir) =
                    rest.split_once(':').ok_or_else(|| need("a mode and a directory: `fs:ro:DIR` or `fs:rw:DIR`"))?;
                let write = match mode {
                    "ro" => false,
                    "rw" => true,
                    other => return Err(format!("`{text}`: unknown mode `{other}`; write `ro` (read-only) or `rw`")),
                };
                let (dir, guest) = match dir.split_once('=') {
                    Some((d, g)) => (d, Some(g)),
                    None => (dir, None),
                };
                if dir.is_empty() {
                    return Err(need("a directory: `fs:ro:DIR`"));
                }
                let guest = match guest {
                    Some(g) if g.starts_with('/') && !g.split('/').any(|c| c == "..") => g.to_string(),
                    Some(g) => {
                        return Err(format!("`{text}`: the guest path `{g}` must be absolute and without `..`"));
                    }
                    None => default_guest_path(Path::new(dir)),
                };
                Ok(Grant::Dir { host: PathBuf::from(dir), guest, write })
            }
            ("http", rest) => HostPattern::parse(rest).map(Grant::Http).map_err(|e| format!("`{text}`: {e}")),
            ("tcp", rest) => {
                let pattern = HostPattern::parse(rest).map_err(|e| format!("`{text}`: {e}"))?;
                match pattern.host.as_deref() {
                    None | Some("localhost") => {}
                    Some(h) if h.parse::<IpAddr>().is_ok() => {}
                    Some(h) => {
                        return Err(format!(
                            "`{text}`: `{h}` is not an IP address; TCP grants match the address connected to (an IP, `localhost` or `*`)"
                        ));
                    }
                }
                Ok(Grant::Tcp(pattern))
            }
            ("env", rest) => {
                let (name, value) = match rest.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (rest, None),
                };
                if name.is_empty() || name.chars().any(|c| !(c.is_ascii_alphanumeric() || c == '_')) {
                    return Err(format!("`{text}`: `{name}` is not a variable name (letters, digits, `_`)"));
                }
                Ok(Grant::Env { name: name.to_string(), value })
            }
            _ => Err(format!("unknown grant `{text}`; valid grants: {GRANT_FORMS}")),
        }
    }

    /// Make a directory grant's host path absolute against `base` (the scenario file's
    /// directory, or the working directory for `--grant`).
    pub fn resolve(self, base: &Path) -> Grant {
        match self {
            Grant::Dir { host, guest, write } if host.is_relative() => {
                Grant::Dir { host: base.join(host), guest, write }
            }
            other => other,
        }
    }

    /// What about this grant can only be checked on the host (the directory exists, the
    /// variable is set), as a message; `None` if it is usable.
    pub fn check_host(&self) -> Option<String> {
        match self {
            Grant::Dir { host, .. } if !host.is_dir() => {
                Some(format!("`{self}`: `{}` is not a directory", host.display()))
            }
            Grant::Env { name, value: None } if std::env::var_os(name).is_none() => Some(format!(
                "`{self}`: the host has no variable `{name}` to pass on (set it, or write `env:{name}=VALUE`)"
            )),
            _ => None,
        }
    }

    /// Whether the grant makes the plugin's answers depend on more than the seed.
    #[cfg_attr(not(feature = "plugins"), expect(dead_code, reason = "used by the plugin host"))]
    pub fn is_replay_hazard(&self) -> bool {
        matches!(self, Grant::OsRandom | Grant::WallClock)
    }
}

/// `/` plus the directory's last name (`/` for a root or `.`).
fn default_guest_path(dir: &Path) -> String {
    match dir.components().next_back() {
        Some(std::path::Component::Normal(name)) => format!("/{}", name.to_string_lossy()),
        _ => "/".to_string(),
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Grant::Stdio => f.write_str("stdio"),
            Grant::OsRandom => f.write_str("random:os"),
            Grant::WallClock => f.write_str("clocks:wall"),
            Grant::Dir { host, guest, write } => {
                write!(f, "fs:{}:{}={guest}", if *write { "rw" } else { "ro" }, host.display())
            }
            Grant::Http(p) => write!(f, "http:{p}"),
            Grant::Tcp(p) => write!(f, "tcp:{p}"),
            Grant::Env { name, value: Some(_) } => write!(f, "env:{name}=…"),
            Grant::Env { name, value: None } => write!(f, "env:{name}"),
        }
    }
}

impl std::str::FromStr for Grant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Grant::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_grant_form_parses_and_prints_back() {
        for (text, shown) in [
            ("stdio", "stdio"),
            ("random:os", "random:os"),
            ("clocks:wall", "clocks:wall"),
            ("fs:ro:./schedules", "fs:ro:./schedules=/schedules"),
            ("fs:rw:data=/out", "fs:rw:data=/out"),
            ("http:127.0.0.1:8080", "http:127.0.0.1:8080"),
            ("http:*:*", "http:*:*"),
            ("http:[::1]:80", "http:[::1]:80"),
            ("tcp:localhost:5432", "tcp:localhost:5432"),
            ("env:TOKEN", "env:TOKEN"),
            ("env:MODE=fast", "env:MODE=…"),
        ] {
            assert_eq!(Grant::parse(text).unwrap_or_else(|e| panic!("{text}: {e}")).to_string(), shown);
        }
    }

    #[test]
    fn bad_grants_say_what_is_wrong() {
        for (text, says) in [
            ("clock", "unknown grant `clock`; valid grants: `stdio`"),
            ("random:seeded", "`random` needs `os`"),
            ("fs:rx:dir", "unknown mode `rx`"),
            ("fs:ro", "needs a mode and a directory"),
            ("fs:ro:dir=rel", "the guest path `rel` must be absolute"),
            ("fs:ro:dir=/a/../b", "must be absolute and without `..`"),
            ("http:example.com", "has no port"),
            ("http:host:http", "`http` is not a port"),
            ("tcp:db.internal:5432", "`db.internal` is not an IP address"),
            ("env:A-B", "`A-B` is not a variable name"),
        ] {
            let e = Grant::parse(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn host_patterns_match_names_and_addresses() {
        let p = HostPattern::parse("127.0.0.1:8080").unwrap();
        assert!(p.matches_name("127.0.0.1", 8080));
        assert!(!p.matches_name("127.0.0.1", 8081));
        assert!(!p.matches_name("10.0.0.1", 8080));
        assert!(p.matches_addr("127.0.0.1:8080".parse().unwrap()));
        assert!(!p.matches_addr("127.0.0.2:8080".parse().unwrap()));
        let local = HostPattern::parse("localhost:*").unwrap();
        assert!(local.matches_addr("[::1]:9".parse().unwrap()));
        assert!(local.matches_name("LOCALHOST", 1));
        assert!(!local.matches_addr("192.168.1.1:9".parse().unwrap()));
    }
}
