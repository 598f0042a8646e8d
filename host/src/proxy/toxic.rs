//! Toxic descriptions: [`Toxic`], its [`ToxicKind`] with Toxiproxy's attributes and units, and [`Stream`].

use std::fmt;

use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::ProxyError;
use super::json;

/// The direction a toxic acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Client to upstream server.
    Upstream,
    /// Upstream server to client; Toxiproxy's default.
    Downstream,
}

impl Stream {
    /// The lowercase wire name, `upstream` or `downstream`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Upstream => "upstream",
            Stream::Downstream => "downstream",
        }
    }

    /// Parses a stream name case-insensitively, as Toxiproxy does.
    pub fn parse(s: &str) -> Option<Stream> {
        if s.eq_ignore_ascii_case("upstream") {
            Some(Stream::Upstream)
        } else if s.eq_ignore_ascii_case("downstream") {
            Some(Stream::Downstream)
        } else {
            None
        }
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A toxic type with its attributes, in Toxiproxy's units.
///
/// The server refuses values that would stall or crash a connection (see [`ToxicKind::validate`]);
/// Toxiproxy accepts them.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ToxicKind {
    /// Delays each chunk by `latency` ± `jitter` milliseconds, keeping order.
    Latency {
        /// Added delay in milliseconds.
        latency: i64,
        /// Uniform jitter in milliseconds: the delay is drawn from `[latency - jitter, latency + jitter)`.
        jitter: i64,
    },
    /// Limits the rate to `rate` KB/s (1 KB = 1000 bytes).
    Bandwidth {
        /// Rate in KB/s; must be greater than 0.
        rate: i64,
    },
    /// Delays the close (EOF) by `delay` milliseconds; data passes unchanged.
    SlowClose {
        /// Delay in milliseconds.
        delay: i64,
    },
    /// Drops all data; closes the connection after `timeout` ms without incoming data (0: never).
    Timeout {
        /// Idle time in milliseconds before the close; 0 holds the connection open and silent.
        timeout: i64,
    },
    /// Swallows the first chunk, waits `timeout` ms, then resets both sockets (TCP RST).
    ResetPeer {
        /// Wait in milliseconds before the reset.
        timeout: i64,
    },
    /// Cuts each chunk into slices of about `average_size` bytes, pausing `delay` µs after each.
    Slicer {
        /// Average slice size in bytes; must be greater than 0.
        average_size: i64,
        /// Maximum deviation of a cut from the middle, in bytes.
        size_variation: i64,
        /// Pause after each slice, in **microseconds**.
        delay: i64,
    },
    /// Forwards at most `bytes` bytes in this direction, then closes the connection.
    LimitData {
        /// Byte budget of the connection in this direction.
        bytes: i64,
    },
    /// Passes everything through; Toxiproxy's hidden `noop` type.
    Noop,
    /// Any other type: a plugin toxic's (a registered
    /// [`ToxicPlugin`](super::ToxicPlugin), whose attributes may be any JSON), or a type read
    /// from another server (e.g. a newer Toxiproxy). A registry refuses types it has no plugin for.
    Other {
        /// The `type` string.
        type_name: String,
        /// The attributes as sent.
        attributes: Map<String, Value>,
    },
}

impl ToxicKind {
    /// The fault as the journal records it: the added latency of a latency toxic, a drop for
    /// toxics that break connections, a 1 ns marker for toxics that only shape the bytes (so
    /// the decision still shows as fired).
    pub(crate) fn as_fault(&self) -> crate::chaos::NetworkFault {
        use crate::chaos::NetworkFault;
        use std::time::Duration;
        match self {
            ToxicKind::Latency { latency, .. } if *latency > 0 => {
                NetworkFault { latency: Duration::from_millis(*latency as u64), drop: false }
            }
            ToxicKind::Timeout { .. } | ToxicKind::ResetPeer { .. } | ToxicKind::LimitData { .. } => {
                NetworkFault { latency: Duration::ZERO, drop: true }
            }
            _ => NetworkFault { latency: Duration::from_nanos(1), drop: false },
        }
    }

    /// The Toxiproxy type name, e.g. `latency` or `limit_data`.
    pub fn type_name(&self) -> &str {
        match self {
            ToxicKind::Latency { .. } => "latency",
            ToxicKind::Bandwidth { .. } => "bandwidth",
            ToxicKind::SlowClose { .. } => "slow_close",
            ToxicKind::Timeout { .. } => "timeout",
            ToxicKind::ResetPeer { .. } => "reset_peer",
            ToxicKind::Slicer { .. } => "slicer",
            ToxicKind::LimitData { .. } => "limit_data",
            ToxicKind::Noop => "noop",
            ToxicKind::Other { type_name, .. } => type_name,
        }
    }

    /// The attributes as a JSON object, with Toxiproxy's attribute names.
    pub fn attributes(&self) -> Map<String, Value> {
        match self.ordered_attributes() {
            Ok(pairs) => pairs.into_iter().map(|(k, v)| (k.to_owned(), Value::from(v))).collect(),
            Err(attributes) => attributes.clone(),
        }
    }

    /// A built-in type's attributes in the order of Toxiproxy's Go struct fields (which is how
    /// it prints them), or the map of any other type.
    fn ordered_attributes(&self) -> Result<Vec<(&'static str, i64)>, &Map<String, Value>> {
        Ok(match *self {
            ToxicKind::Latency { latency, jitter } => {
                vec![("latency", latency), ("jitter", jitter)]
            }
            ToxicKind::Bandwidth { rate } => vec![("rate", rate)],
            ToxicKind::SlowClose { delay } => vec![("delay", delay)],
            ToxicKind::Timeout { timeout } | ToxicKind::ResetPeer { timeout } => {
                vec![("timeout", timeout)]
            }
            ToxicKind::Slicer { average_size, size_variation, delay } => {
                vec![("average_size", average_size), ("size_variation", size_variation), ("delay", delay)]
            }
            ToxicKind::LimitData { bytes } => vec![("bytes", bytes)],
            ToxicKind::Noop => vec![],
            ToxicKind::Other { ref attributes, .. } => return Err(attributes),
        })
    }

    /// Builds a kind from a type name and attributes the way Toxiproxy decodes them: keys are
    /// case-insensitive, unknown keys are ignored, missing ones are 0, non-integers are refused.
    /// Unknown types become [`ToxicKind::Other`]; values are not range-checked here.
    pub fn from_attributes(type_name: &str, attrs: &Map<String, Value>) -> Result<Self, ProxyError> {
        let int = |key: &str| json::opt_i64(attrs, key).map(|v| v.unwrap_or(0));
        Ok(match type_name {
            "latency" => ToxicKind::Latency { latency: int("latency")?, jitter: int("jitter")? },
            "bandwidth" => ToxicKind::Bandwidth { rate: int("rate")? },
            "slow_close" => ToxicKind::SlowClose { delay: int("delay")? },
            "timeout" => ToxicKind::Timeout { timeout: int("timeout")? },
            "reset_peer" => ToxicKind::ResetPeer { timeout: int("timeout")? },
            "slicer" => ToxicKind::Slicer {
                average_size: int("average_size")?,
                size_variation: int("size_variation")?,
                delay: int("delay")?,
            },
            "limit_data" => ToxicKind::LimitData { bytes: int("bytes")? },
            "noop" => ToxicKind::Noop,
            other => ToxicKind::Other { type_name: other.to_owned(), attributes: attrs.clone() },
        })
    }

    /// Checks that the attributes can run: each within its range of [`ATTRIBUTE_RANGES`] (no
    /// negative durations or sizes, a bandwidth `rate` and a slicer `average_size` greater than 0,
    /// on which Toxiproxy stalls or crashes, and nothing so large that the proxy's arithmetic on
    /// instants and sizes could overflow), and a known type.
    pub fn validate(&self) -> Result<(), ProxyError> {
        let t = self.type_name();
        let check = |attribute: &'static str, v: i64| {
            let Some(range) = range_of(t, attribute) else { return Ok(()) };
            if (range.min..=range.max).contains(&v) {
                Ok(())
            } else {
                Err(ProxyError::InvalidAttribute {
                    toxic_type: t.to_owned(),
                    attribute,
                    reason: format!("must be between {} and {} {}, got {v}", range.min, range.max, range.unit),
                })
            }
        };
        match self.ordered_attributes() {
            Ok(pairs) => pairs.into_iter().try_for_each(|(attribute, v)| check(attribute, v)),
            Err(_) => Err(ProxyError::InvalidToxicType(self.type_name().to_owned())),
        }
    }
}

/// The accepted range of one built-in toxic attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttributeRange {
    /// The toxic type, e.g. `latency`.
    pub toxic_type: &'static str,
    /// The attribute, e.g. `jitter`.
    pub attribute: &'static str,
    /// Smallest accepted value.
    pub min: i64,
    /// Largest accepted value.
    pub max: i64,
    /// The unit, with the bound in words where it helps.
    pub unit: &'static str,
}

const HOUR_MS: i64 = 3_600_000;
const GIB: i64 = 1 << 30;
const MS: &str = "milliseconds (at most 1 hour)";

/// Every built-in attribute's range; the server refuses other values with 400 naming the range.
/// An hour of delay and a GiB of slice cover every test Toxiproxy's values are used for, and keep
/// each sum of instants and durations far from overflowing.
pub const ATTRIBUTE_RANGES: &[AttributeRange] = &[
    AttributeRange { toxic_type: "latency", attribute: "latency", min: 0, max: HOUR_MS, unit: MS },
    AttributeRange { toxic_type: "latency", attribute: "jitter", min: 0, max: HOUR_MS, unit: MS },
    AttributeRange {
        toxic_type: "bandwidth",
        attribute: "rate",
        min: 1,
        max: 100_000_000,
        unit: "KB/s (at most 100 GB/s)",
    },
    AttributeRange { toxic_type: "slow_close", attribute: "delay", min: 0, max: HOUR_MS, unit: MS },
    AttributeRange { toxic_type: "timeout", attribute: "timeout", min: 0, max: HOUR_MS, unit: MS },
    AttributeRange { toxic_type: "reset_peer", attribute: "timeout", min: 0, max: HOUR_MS, unit: MS },
    AttributeRange { toxic_type: "slicer", attribute: "average_size", min: 1, max: GIB, unit: "bytes (at most 1 GiB)" },
    AttributeRange {
        toxic_type: "slicer",
        attribute: "size_variation",
        min: 0,
        max: GIB,
        unit: "bytes (at most 1 GiB)",
    },
    AttributeRange {
        toxic_type: "slicer",
        attribute: "delay",
        min: 0,
        max: HOUR_MS * 1000,
        unit: "microseconds (at most 1 hour)",
    },
    AttributeRange {
        toxic_type: "limit_data",
        attribute: "bytes",
        min: 0,
        max: 1 << 50,
        unit: "bytes (at most 1 PiB)",
    },
];

fn range_of(toxic_type: &str, attribute: &str) -> Option<&'static AttributeRange> {
    ATTRIBUTE_RANGES.iter().find(|r| r.toxic_type == toxic_type && r.attribute == attribute)
}

/// A toxic: a named, typed fault on one direction of a proxy, applied to a connection with
/// probability `toxicity`.
///
/// ```
/// use chaoskit::proxy::{Stream, Toxic, ToxicKind};
/// let t = Toxic::new("slow", Stream::Downstream, ToxicKind::Latency { latency: 100, jitter: 10 })
///     .with_toxicity(0.5);
/// assert_eq!(t.kind.type_name(), "latency");
/// assert_eq!(
///     serde_json::to_string(&t).unwrap(),
///     r#"{"attributes":{"latency":100,"jitter":10},"name":"slow","type":"latency","stream":"downstream","toxicity":0.5}"#
/// );
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Toxic {
    /// Unique name within the proxy (both directions share one namespace).
    pub name: String,
    /// The direction it acts on.
    pub stream: Stream,
    /// Probability in `[0, 1]` that the toxic applies to a given connection.
    pub toxicity: f32,
    /// The type and its attributes.
    pub kind: ToxicKind,
}

impl Toxic {
    /// A toxic with toxicity 1 (always applies).
    pub fn new(name: impl Into<String>, stream: Stream, kind: ToxicKind) -> Self {
        Toxic { name: name.into(), stream, toxicity: 1.0, kind }
    }

    /// Sets the probability that the toxic applies to a connection.
    pub fn with_toxicity(mut self, toxicity: f32) -> Self {
        self.toxicity = toxicity;
        self
    }

    /// Toxiproxy's default name for a type and stream spelling: `<type>_<stream>`.
    pub(crate) fn default_name(kind: &ToxicKind, stream_label: &str) -> String {
        format!("{}_{}", kind.type_name(), stream_label)
    }

    /// Decodes a toxic object leniently (for responses): stream defaults to downstream, toxicity to 1,
    /// name to `<type>_<stream>`. Returns the toxic and the stream spelling as given.
    pub(crate) fn from_json(v: &Value) -> Result<(Toxic, String), ProxyError> {
        let obj = json::as_object(v)?;
        let type_name = json::opt_str(obj, "type")?.unwrap_or_default();
        let attrs = json::opt_object(obj, "attributes")?.unwrap_or_default();
        let kind = ToxicKind::from_attributes(&type_name, &attrs)?;
        let label = json::opt_str(obj, "stream")?.filter(|s| !s.is_empty()).unwrap_or_else(|| "downstream".to_owned());
        let stream = Stream::parse(&label).ok_or_else(|| ProxyError::InvalidStream(label.clone()))?;
        let toxicity = json::opt_f64(obj, "toxicity")?.unwrap_or(1.0);
        let name =
            json::opt_str(obj, "name")?.filter(|s| !s.is_empty()).unwrap_or_else(|| Toxic::default_name(&kind, &label));
        Ok((Toxic { name, stream, toxicity: toxicity as f32, kind }, label))
    }

    /// Checks the toxicity and the attributes (see [`ToxicKind::validate`]).
    pub fn validate(&self) -> Result<(), ProxyError> {
        if !(0.0..=1.0).contains(&self.toxicity) {
            return Err(ProxyError::InvalidToxicity(f64::from(self.toxicity)));
        }
        self.kind.validate()
    }
}

/// Serializes a toxic with a given stream spelling, fields in Toxiproxy's order.
pub(crate) struct ToxicJson<'a> {
    pub(crate) toxic: &'a Toxic,
    pub(crate) stream_label: &'a str,
}

impl Serialize for ToxicJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Toxic", 5)?;
        st.serialize_field("attributes", &OrderedAttributes(&self.toxic.kind))?;
        st.serialize_field("name", &self.toxic.name)?;
        st.serialize_field("type", self.toxic.kind.type_name())?;
        st.serialize_field("stream", self.stream_label)?;
        // Go prints a float32 1 as `1`; serde would print `1.0`.
        let t = self.toxic.toxicity;
        if t.fract() == 0.0 && t.abs() < 1e9 {
            st.serialize_field("toxicity", &(t as i64))?;
        } else {
            st.serialize_field("toxicity", &t)?;
        }
        st.end()
    }
}

/// A kind's attributes in Toxiproxy's order (`latency` before `jitter`).
struct OrderedAttributes<'a>(&'a ToxicKind);

impl Serialize for OrderedAttributes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self.0.ordered_attributes() {
            Ok(pairs) => {
                let mut map = s.serialize_map(Some(pairs.len()))?;
                for (k, v) in pairs {
                    map.serialize_entry(k, &v)?;
                }
                map.end()
            }
            Err(attributes) => attributes.serialize(s),
        }
    }
}

impl Serialize for Toxic {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ToxicJson { toxic: self, stream_label: self.stream.as_str() }.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Toxic {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Toxic::from_json(&v).map(|(t, _)| t).map_err(serde::de::Error::custom)
    }
}

/// A partial toxic update: attributes are merged into the current ones, a `None` toxicity keeps it.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct ToxicUpdate {
    /// New toxicity, if it changes.
    pub toxicity: Option<f32>,
    /// Attributes to overwrite; the others keep their values.
    pub attributes: Map<String, Value>,
}

impl ToxicUpdate {
    /// An update that changes nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the toxicity.
    pub fn toxicity(mut self, toxicity: f32) -> Self {
        self.toxicity = Some(toxicity);
        self
    }

    /// Sets one attribute, e.g. `("latency", 250)`.
    pub fn attribute(mut self, name: impl Into<String>, value: i64) -> Self {
        self.attributes.insert(name.into(), Value::from(value));
        self
    }

    /// Takes every attribute of `kind` (its type is not changed by an update).
    pub fn attributes_of(mut self, kind: &ToxicKind) -> Self {
        self.attributes.extend(kind.attributes());
        self
    }

    /// Decodes an update body: `toxicity` and `attributes`, everything else ignored.
    pub(crate) fn from_json(v: &Value) -> Result<Self, ProxyError> {
        let obj = json::as_object(v)?;
        Ok(ToxicUpdate {
            toxicity: json::opt_f64(obj, "toxicity")?.map(|t| t as f32),
            attributes: json::opt_object(obj, "attributes")?.unwrap_or_default(),
        })
    }

    /// Applies the update to a toxic, returning the new toxic (not yet validated).
    pub(crate) fn apply(&self, toxic: &Toxic) -> Result<Toxic, ProxyError> {
        let mut attrs = toxic.kind.attributes();
        for (k, v) in &self.attributes {
            // Go matches fields case-insensitively, so `Latency` overwrites `latency`.
            let key =
                attrs.keys().find(|existing| existing.eq_ignore_ascii_case(k)).cloned().unwrap_or_else(|| k.clone());
            attrs.insert(key, v.clone());
        }
        let kind = ToxicKind::from_attributes(toxic.kind.type_name(), &attrs)?;
        Ok(Toxic {
            name: toxic.name.clone(),
            stream: toxic.stream,
            toxicity: self.toxicity.unwrap_or(toxic.toxicity),
            kind,
        })
    }
}

impl Serialize for ToxicUpdate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("ToxicUpdate", 2)?;
        st.serialize_field("attributes", &self.attributes)?;
        if let Some(t) = self.toxicity {
            st.serialize_field("toxicity", &t)?;
        }
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_follow_toxiproxy() {
        let (t, label) = Toxic::from_json(&json!({"type": "latency", "Stream": "UpStream"})).unwrap();
        assert_eq!(t.name, "latency_UpStream");
        assert_eq!(label, "UpStream");
        assert_eq!(t.stream, Stream::Upstream);
        assert_eq!(t.toxicity, 1.0);
        assert_eq!(t.kind, ToxicKind::Latency { latency: 0, jitter: 0 });
    }

    #[test]
    fn invalid_stream_is_refused() {
        let e = Toxic::from_json(&json!({"type": "latency", "stream": "sideways"})).unwrap_err();
        assert_eq!(e.to_string(), "stream was invalid, can be either upstream or downstream");
    }

    #[test]
    fn values_that_crash_toxiproxy_are_refused() {
        let e = ToxicKind::Slicer { average_size: 0, size_variation: 0, delay: 0 }.validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid attribute `average_size` of toxic type `slicer`: must be between 1 and 1073741824 bytes (at most 1 GiB), got 0"
        );
        assert!(ToxicKind::Bandwidth { rate: -1 }.validate().is_err());
        assert!(ToxicKind::Bandwidth { rate: 0 }.validate().is_err());
        assert!(ToxicKind::Timeout { timeout: 0 }.validate().is_ok());
    }

    #[test]
    fn every_built_in_attribute_has_a_range_and_overflowing_values_are_refused() {
        let kinds = [
            ToxicKind::Latency { latency: 0, jitter: 0 },
            ToxicKind::Bandwidth { rate: 1 },
            ToxicKind::SlowClose { delay: 0 },
            ToxicKind::Timeout { timeout: 0 },
            ToxicKind::ResetPeer { timeout: 0 },
            ToxicKind::Slicer { average_size: 1, size_variation: 0, delay: 0 },
            ToxicKind::LimitData { bytes: 0 },
        ];
        for kind in kinds {
            for attribute in kind.attributes().keys() {
                let r = range_of(kind.type_name(), attribute).expect("a range");
                for (v, ok) in [(r.min, true), (r.max, true), (r.max + 1, false), (i64::MAX, false), (i64::MIN, false)]
                {
                    let mut attrs = kind.attributes();
                    attrs.insert(attribute.clone(), v.into());
                    let k = ToxicKind::from_attributes(kind.type_name(), &attrs).unwrap();
                    assert_eq!(k.validate().is_ok(), ok, "{} {attribute}={v}", kind.type_name());
                }
            }
        }
        let e = ToxicKind::Latency { latency: i64::MAX, jitter: 0 }.validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "invalid attribute `latency` of toxic type `latency`: must be between 0 and 3600000 milliseconds (at most 1 hour), got {}",
                i64::MAX
            )
        );
    }

    #[test]
    fn update_merges_attributes() {
        let t = Toxic::new("l", Stream::Downstream, ToxicKind::Latency { latency: 100, jitter: 5 });
        let u = ToxicUpdate::from_json(&json!({"attributes": {"Latency": 7}})).unwrap();
        let t2 = u.apply(&t).unwrap();
        assert_eq!(t2.kind, ToxicKind::Latency { latency: 7, jitter: 5 });
        assert_eq!(t2.toxicity, 1.0);
    }

    #[test]
    fn toxicity_one_prints_as_integer() {
        let t = Toxic::new("b", Stream::Upstream, ToxicKind::Bandwidth { rate: 1000 });
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"attributes":{"rate":1000},"name":"b","type":"bandwidth","stream":"upstream","toxicity":1}"#
        );
    }
}
