//! "Did you mean": the closest valid name to a mistyped one.

/// Optimal-string-alignment distance: like Levenshtein, plus adjacent transpositions
/// count as one edit (so `dealy` is one edit from `delay`).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The candidate closest to `input`, if it is close enough to be a likely typo: at most 2
/// edits (and fewer than the input has characters), or a candidate the input abbreviates
/// (`warn` for `warning`).
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = input.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            let candidate = c.to_ascii_lowercase();
            let d = edit_distance(&lower, &candidate);
            let abbreviates = lower.len() >= 3 && candidate.starts_with(&lower);
            (if abbreviates { d.min(2) } else { d }, c)
        })
        .filter(|(d, _)| *d <= 2 && *d < input.chars().count())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Adds "did you mean" to serde's `unknown variant`/`unknown field` messages, which have the
/// fixed shape ``unknown variant `x`, expected one of `a`, `b` `` (serde-saphyr drops the
/// backticks of the expected names; both shapes are read).
pub fn enrich(message: &str) -> String {
    let (noun, rest) = if let Some(rest) = message.strip_prefix("unknown variant `") {
        ("value", rest)
    } else if let Some(rest) = message.strip_prefix("unknown field `") {
        ("key", rest)
    } else {
        return message.to_string();
    };
    let Some((found, rest)) = rest.split_once('`') else {
        return message.to_string();
    };
    let Some(list) = rest.strip_prefix(", expected one of ").or_else(|| rest.strip_prefix(", expected ")) else {
        return message.to_string();
    };
    let expected: Vec<&str> = list
        .split(", ")
        .flat_map(|part| part.split(" or "))
        .map(|name| name.trim().trim_matches('`'))
        .filter(|name| !name.is_empty())
        .collect();
    if expected.is_empty() || list.starts_with("nothing") {
        return message.to_string();
    }
    let valid = expected.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ");
    let mut out = format!("unknown {noun} `{found}`; valid {noun}s: {valid}");
    if let Some(best) = closest(found, expected.iter().copied()) {
        out.push_str(&format!(" (did you mean `{best}`?)"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpositions_are_one_edit() {
        assert_eq!(edit_distance("dealy", "delay"), 1);
        assert_eq!(edit_distance("delay", "delay"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn closest_suggests_only_likely_typos() {
        let names = ["delay", "delay_every", "panic", "error", "cpu"];
        assert_eq!(closest("dealy", names), Some("delay"));
        assert_eq!(closest("eror", names), Some("error"));
        assert_eq!(closest("memory_pressure", names), None);
        assert_eq!(closest("x", names), None);
    }

    #[test]
    fn serde_unknown_variant_messages_gain_a_suggestion() {
        assert_eq!(
            enrich("unknown variant `dealy`, expected one of `delay`, `delay_every`, `panic`"),
            "unknown value `dealy`; valid values: `delay`, `delay_every`, `panic` (did you mean `delay`?)"
        );
        assert_eq!(
            enrich("unknown field `laency`, expected one of `host`, `latency`"),
            "unknown key `laency`; valid keys: `host`, `latency` (did you mean `latency`?)"
        );
        assert_eq!(enrich("unknown field `zzz`, expected `host`"), "unknown key `zzz`; valid keys: `host`");
        assert_eq!(
            enrich("unknown variant `warn`, expected one of critical, warning"),
            "unknown value `warn`; valid values: `critical`, `warning` (did you mean `warning`?)"
        );
        assert_eq!(enrich("unknown variant `x`, expected `a` or `b`"), "unknown value `x`; valid values: `a`, `b`");
        assert_eq!(enrich("invalid type: string"), "invalid type: string");
    }
}
