//! Names of chaos-point sites (failpoints, `#[chaos_fn]` functions) and the patterns that
//! target them.
//!
//! A pattern is a site name in which `*` stands for any run of characters (dots and `::`
//! included): `db.*`, `shop::checkout::*`, `*::pay`, `*`. Without `*` it names one site.

/// Whether `name` matches `pattern` (`*` matches any run of characters).
///
/// ```
/// use chaoskit::sites::matches;
/// assert!(matches("db.*", "db.write"));
/// assert!(matches("shop::*::pay", "shop::orders::pay"));
/// assert!(matches("*", "anything"));
/// assert!(!matches("db.*", "cache.write"));
/// assert!(matches("pay", "pay") && !matches("pay", "payment"));
/// ```
pub fn matches(pattern: &str, name: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == name;
    }
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    // Where to resume after the last `*`: (pattern index after it, name index it absorbed to).
    let mut resume: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == b'*' {
            resume = Some((pi + 1, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((after_star, absorbed)) = resume {
            pi = after_star;
            ni = absorbed + 1;
            resume = Some((after_star, absorbed + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

/// Whether `pattern` contains a wildcard.
pub fn is_pattern(pattern: &str) -> bool {
    pattern.contains('*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn wildcards_match_runs_of_characters() {
        assert!(matches("*", ""));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(matches("a*b*c", "abc"));
        assert!(!matches("a*b*c", "acb"));
        assert!(matches("*.write", "db.users.write"));
        assert!(!matches("*.write", "db.users.writer"));
        assert!(matches("**", "x"));
    }
}
