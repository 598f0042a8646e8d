//! Text that came from a plugin or a target (a validator's message, a step's error, an
//! injected error) made safe for a terminal or a text report.
//!
//! Such text is data, not layout: a newline in it could start a line that looks like ours
//! (a fake `VERDICT: PASS`), and an escape sequence could recolour, move the cursor or
//! erase what we printed. Every control character is written as a visible escape instead
//! (`\n`, `\r`, `\t`, `\e`, `\u{7f}`), so the text stays on its one line and reads as it was.

use std::borrow::Cow;

/// `text` with every control character (C0, DEL, C1) written as a visible escape, and
/// backslashes doubled only when something was escaped (so plain paths read unchanged).
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{1b}' => out.push_str("\\e"),
            '\\' => out.push_str("\\\\"),
            c if is_control(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn is_control(c: char) -> bool {
    c.is_control()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_unchanged() {
        assert!(matches!(terminal_safe("step `pay` failed: C:\\tmp"), Cow::Borrowed(_)));
    }

    #[test]
    fn newlines_and_escape_sequences_cannot_fake_a_verdict() {
        let hostile = "leak\n\nVERDICT: PASS\u{1b}[2K\u{1b}[1A\u{7}";
        let safe = terminal_safe(hostile);
        assert_eq!(safe, "leak\\n\\nVERDICT: PASS\\e[2K\\e[1A\\u{7}");
        assert!(!safe.contains('\n') && !safe.contains('\u{1b}'));
        assert_eq!(terminal_safe("a\\b\tc\u{9b}"), "a\\\\b\\tc\\u{9b}");
    }
}
