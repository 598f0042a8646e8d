//! Where each key of a scenario file is written: a map from key paths (`injectors[2].probability`)
//! to line and column, so a finding made after parsing (a probability out of range, a
//! duplicate step, an unknown proxy) points at the exact place, as a parse error does.
//!
//! The tree is read with each format's own span-aware parser: toml's `DeTable` (byte spans),
//! serde-saphyr's `Spanned` (line and column) for YAML and for JSON (JSON is YAML 1.2 flow
//! syntax, so the same reader locates it).

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};

use super::parse::Format;

/// A 1-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
}

/// One node of the located tree: where its value starts, and its children.
#[derive(Clone, Debug, Default)]
pub struct Node {
    at: Option<Position>,
    fields: Vec<(String, Node)>,
    items: Vec<Node>,
}

/// The located tree of a whole file.
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    root: Node,
}

impl SourceMap {
    /// Reads the positions of every key of `text`; an unreadable text gives an empty map
    /// (its parse error already has a position).
    pub fn new(text: &str, format: Format) -> SourceMap {
        let root = match format {
            Format::Toml => toml_tree(text),
            Format::Yaml | Format::Json => yaml_tree(text),
        };
        SourceMap { root: root.unwrap_or_default() }
    }

    /// The position of the value at `key` (`steps[0].url`), or of its closest written
    /// ancestor when the key itself is absent (a defaulted `label` points at its entry).
    pub fn locate(&self, key: &str) -> Option<Position> {
        let mut node = &self.root;
        let mut best = node.at;
        for segment in segments(key) {
            let next = match segment {
                Segment::Field(name) => node.fields.iter().find(|(k, _)| k == name).map(|(_, n)| n),
                Segment::Index(i) => node.items.get(i),
            };
            match next {
                Some(n) => {
                    node = n;
                    best = n.at.or(best);
                }
                None => break,
            }
        }
        best
    }
}

enum Segment<'a> {
    Field(&'a str),
    Index(usize),
}

/// `steps[2].timeout` → `steps`, `2`, `timeout`.
fn segments(key: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let (name, rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
        if !name.is_empty() {
            out.push(Segment::Field(name));
        }
        for index in rest.split('[') {
            if let Ok(i) = index.trim_end_matches(']').parse() {
                out.push(Segment::Index(i));
            }
        }
    }
    out
}

fn line_col(text: &str, offset: usize) -> Position {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.chars().count(), |nl| before[nl + 1..].chars().count()) + 1;
    Position { line, column }
}

fn toml_tree(text: &str) -> Option<Node> {
    use toml::de::{DeTable, DeValue};
    fn value(text: &str, v: &toml::Spanned<DeValue<'_>>) -> Node {
        let mut node = Node { at: Some(line_col(text, v.span().start)), ..Node::default() };
        match v.get_ref() {
            DeValue::Table(t) => {
                node.fields = t.iter().map(|(k, v)| (k.get_ref().to_string(), value(text, v))).collect();
            }
            DeValue::Array(a) => node.items = a.iter().map(|v| value(text, v)).collect(),
            _ => {}
        }
        node
    }
    let table = DeTable::parse(text).ok()?;
    let mut root = Node { at: Some(Position { line: 1, column: 1 }), ..Node::default() };
    root.fields = table.get_ref().iter().map(|(k, v)| (k.get_ref().to_string(), value(text, v))).collect();
    Some(root)
}

/// A YAML (or JSON) node read through serde-saphyr with its location.
struct Located(serde_saphyr::Spanned<Shape>);

enum Shape {
    Map(Vec<(String, Located)>),
    Seq(Vec<Located>),
    Leaf,
}

impl<'de> Deserialize<'de> for Located {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde_saphyr::Spanned::<Shape>::deserialize(d).map(Located)
    }
}

/// A mapping key of any scalar type, as text.
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
                Ok(Key(String::new()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Shape;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
                let mut fields = Vec::new();
                while let Some((Key(k), v)) = map.next_entry::<Key, Located>()? {
                    fields.push((k, v));
                }
                Ok(Shape::Map(fields))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
                let mut items = Vec::new();
                while let Some(v) = seq.next_element::<Located>()? {
                    items.push(v);
                }
                Ok(Shape::Seq(items))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Shape, E> {
                Ok(Shape::Leaf)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Shape, E> {
                Ok(Shape::Leaf)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Shape, E> {
                Ok(Shape::Leaf)
            }
            fn visit_i128<E: de::Error>(self, _: i128) -> Result<Shape, E> {
                Ok(Shape::Leaf)
            }
            fn visit_u128<E: de::Error>(self, _: u128) -> Result<Shape, E> {
                Ok(Shape::Leaf)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Shape, E> {
                Ok(Shape::Leaf)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Shape, E> {
                Ok(Shape::Leaf)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Shape, E> {
                Ok(Shape::Leaf)
            }
            fn visit_none<E: de::Error>(self) -> Result<Shape, E> {
                Ok(Shape::Leaf)
            }
        }
        d.deserialize_any(V)
    }
}

fn yaml_tree(text: &str) -> Option<Node> {
    fn node(l: Located) -> Node {
        let loc = l.0.referenced;
        let at = (loc.line() > 0).then(|| Position { line: loc.line() as usize, column: loc.column() as usize });
        let mut n = Node { at, ..Node::default() };
        match l.0.value {
            Shape::Map(fields) => n.fields = fields.into_iter().map(|(k, v)| (k, node(v))).collect(),
            Shape::Seq(items) => n.items = items.into_iter().map(node).collect(),
            Shape::Leaf => {}
        }
        n
    }
    let root: Located = serde_saphyr::from_str(text).ok()?;
    let mut root = node(root);
    root.at = Some(Position { line: 1, column: 1 });
    Some(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize, column: usize) -> Option<Position> {
        Some(Position { line, column })
    }

    #[test]
    fn toml_keys_are_located_at_their_values() {
        let text = "version = 1\n[scenario]\nname = \"x\"\nrepeat = 0\n\n[[steps]]\ntype = \"http\"\nurl = \"u\"\n\n[[steps]]\ntype = \"tcp\"\naddress = \"a\"\n";
        let map = SourceMap::new(text, Format::Toml);
        assert_eq!(map.locate("scenario.repeat"), at(4, 10));
        assert_eq!(map.locate("steps[1].address"), at(12, 11));
        // An absent key points at its closest written ancestor.
        assert_eq!(map.locate("steps[1].name").map(|p| p.line), Some(10));
    }

    #[test]
    fn yaml_and_json_keys_are_located_at_their_values() {
        let yaml = "version: 1\nscenario:\n  name: x\n  repeat: 0\nsteps:\n  - type: tcp\n    address: a\n";
        let map = SourceMap::new(yaml, Format::Yaml);
        assert_eq!(map.locate("scenario.repeat"), at(4, 11));
        assert_eq!(map.locate("steps[0].address"), at(7, 14));
        let json = "{\n  \"version\": 1,\n  \"scenario\": {\"name\": \"x\", \"repeat\":0},\n  \"steps\": [\n    {\"type\": \"tcp\", \"address\": \"a\"}\n  ]\n}\n";
        let map = SourceMap::new(json, Format::Json);
        assert_eq!(map.locate("scenario.repeat"), at(3, 38));
        assert_eq!(map.locate("steps[0].address"), at(5, 32));
    }
}
