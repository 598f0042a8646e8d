//! Proxy descriptions: [`Proxy`] as the API shows it, and [`ProxyUpdate`] for partial changes.

use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::toxic::{Toxic, ToxicJson};
use super::{ProxyError, json};

/// A proxy: a listen address forwarding to an upstream, with its toxics.
///
/// The same type is the body of a create request and the answer of every proxy endpoint, for our
/// server and for Toxiproxy's.
///
/// ```
/// use chaoskit::proxy::Proxy;
/// let p = Proxy::new("db", "127.0.0.1:0", "127.0.0.1:5432");
/// assert!(p.enabled);
/// assert_eq!(
///     serde_json::to_string(&p).unwrap(),
///     r#"{"name":"db","listen":"127.0.0.1:0","upstream":"127.0.0.1:5432","enabled":true,"Logger":{},"toxics":[]}"#
/// );
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Proxy {
    /// Unique name.
    pub name: String,
    /// Listen address `host:port`. The server reports the bound address, so `127.0.0.1:0` comes back
    /// with the real port. Empty means `127.0.0.1:0` on our server (Toxiproxy binds all interfaces).
    pub listen: String,
    /// Upstream address `host:port`, resolved and dialled for each accepted connection.
    pub upstream: String,
    /// Whether the proxy listens; a disabled proxy refuses connections.
    pub enabled: bool,
    /// Its toxics, upstream ones first, each group in chain order. Ignored on create.
    pub toxics: Vec<Toxic>,
}

impl Proxy {
    /// An enabled proxy without toxics.
    pub fn new(name: impl Into<String>, listen: impl Into<String>, upstream: impl Into<String>) -> Self {
        Proxy { name: name.into(), listen: listen.into(), upstream: upstream.into(), enabled: true, toxics: Vec::new() }
    }

    /// Sets whether the proxy starts enabled.
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Decodes a proxy object leniently: case-insensitive keys, `enabled` defaults to true.
    pub(crate) fn from_json(v: &Value) -> Result<Proxy, ProxyError> {
        let obj = json::as_object(v)?;
        let toxics = match json::get_ci(obj, "toxics") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => {
                items.iter().map(|t| Toxic::from_json(t).map(|(t, _)| t)).collect::<Result<_, _>>()?
            }
            Some(_) => {
                return Err(ProxyError::BadRequestBody(
                    "json: cannot unmarshal into field `toxics` of type array".into(),
                ));
            }
        };
        Ok(Proxy {
            name: json::opt_str(obj, "name")?.unwrap_or_default(),
            listen: json::opt_str(obj, "listen")?.unwrap_or_default(),
            upstream: json::opt_str(obj, "upstream")?.unwrap_or_default(),
            enabled: json::opt_bool(obj, "enabled")?.unwrap_or(true),
            toxics,
        })
    }

    /// Name and upstream are required, as in Toxiproxy.
    pub(crate) fn check_required(&self) -> Result<(), ProxyError> {
        if self.name.is_empty() {
            return Err(ProxyError::MissingField("name"));
        }
        if self.upstream.is_empty() {
            return Err(ProxyError::MissingField("upstream"));
        }
        Ok(())
    }
}

impl Serialize for Proxy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let toxics: Vec<ToxicJson<'_>> =
            self.toxics.iter().map(|t| ToxicJson { toxic: t, stream_label: t.stream.as_str() }).collect();
        ProxyJson { name: &self.name, listen: &self.listen, upstream: &self.upstream, enabled: self.enabled, toxics }
            .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Proxy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Proxy::from_json(&v).map_err(serde::de::Error::custom)
    }
}

/// Serializes a proxy with its toxics' stream spellings, as the server answers.
pub(crate) struct ProxyJson<'a> {
    pub(crate) name: &'a str,
    pub(crate) listen: &'a str,
    pub(crate) upstream: &'a str,
    pub(crate) enabled: bool,
    pub(crate) toxics: Vec<ToxicJson<'a>>,
}

impl Serialize for ProxyJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Proxy", 6)?;
        st.serialize_field("name", self.name)?;
        st.serialize_field("listen", self.listen)?;
        st.serialize_field("upstream", self.upstream)?;
        st.serialize_field("enabled", &self.enabled)?;
        // Toxiproxy leaks its Go struct's `Logger` field as `{}`; strict clients compare bytes.
        st.serialize_field("Logger", &EmptyObject)?;
        st.serialize_field("toxics", &self.toxics)?;
        st.end()
    }
}

/// Serializes as `{}`.
struct EmptyObject;

impl Serialize for EmptyObject {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        s.serialize_map(Some(0))?.end()
    }
}

/// A partial proxy update; `None` keeps the current value. The name cannot change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyUpdate {
    /// New listen address; a change restarts the proxy and closes its connections.
    pub listen: Option<String>,
    /// New upstream address; a change restarts the proxy and closes its connections.
    pub upstream: Option<String>,
    /// Enable (start listening) or disable (stop listening and close every connection).
    pub enabled: Option<bool>,
}

impl ProxyUpdate {
    /// An update that changes nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the listen address.
    pub fn listen(mut self, listen: impl Into<String>) -> Self {
        self.listen = Some(listen.into());
        self
    }

    /// Sets the upstream address.
    pub fn upstream(mut self, upstream: impl Into<String>) -> Self {
        self.upstream = Some(upstream.into());
        self
    }

    /// Enables or disables the proxy.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = Some(enabled);
        self
    }

    pub(crate) fn from_json(v: &Value) -> Result<Self, ProxyError> {
        let obj = json::as_object(v)?;
        Ok(ProxyUpdate {
            listen: json::opt_str(obj, "listen")?,
            upstream: json::opt_str(obj, "upstream")?,
            enabled: json::opt_bool(obj, "enabled")?,
        })
    }
}

impl Serialize for ProxyUpdate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = [self.listen.is_some(), self.upstream.is_some(), self.enabled.is_some()].iter().filter(|b| **b).count();
        let mut st = s.serialize_struct("ProxyUpdate", n)?;
        if let Some(l) = &self.listen {
            st.serialize_field("listen", l)?;
        }
        if let Some(u) = &self.upstream {
            st.serialize_field("upstream", u)?;
        }
        if let Some(e) = self.enabled {
            st.serialize_field("enabled", &e)?;
        }
        st.end()
    }
}
