//! Text that came from a plugin or a target (a validator's message, a step's error, an
//! injected error) made safe for a terminal or a text report.
//!
//! Such text is data, not layout: a newline in it could start a line that looks like ours
//! (a fake `VERDICT: PASS`), and an escape sequence could recolour, move the cursor or
//! erase what we printed, and a bidirectional override (U+202E) or an invisible character
//! could make it read other than it is. Every control character and every invisible format
//! character is written as a visible escape instead (`\n`, `\r`, `\t`, `\e`, `\u{7f}`,
//! `\u{202e}`), so the text stays on its one line and reads as it was.

use std::borrow::Cow;

/// `text` with every control character (C0, DEL, C1) and invisible format character
/// (bidi controls, zero-width characters, line and paragraph separators) written as a
/// visible escape, and
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
    c.is_control() || is_invisible_format(c)
}

/// Characters that change how the text around them reads without showing themselves:
/// bidi marks, embeddings, overrides and isolates, zero-width characters, the byte-order
/// mark, and the Unicode line and paragraph separators.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00ad}'
            | '\u{061c}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{e0001}'
            | '\u{e0020}'..='\u{e007f}'
    )
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

    #[test]
    fn bidi_controls_and_invisible_characters_are_shown() {
        // "pay" + RLO + "gnp.exe": reads as "payexe.png" on a terminal that honours bidi.
        assert_eq!(terminal_safe("pay\u{202e}gnp.exe"), "pay\\u{202e}gnp.exe");
        for c in [
            '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{061c}', '\u{200b}', '\u{200c}', '\u{200d}', '\u{feff}', '\u{2028}', '\u{2029}',
        ] {
            let safe = terminal_safe(&format!("a{c}b")).into_owned();
            assert_eq!(safe, format!("a\\u{{{:x}}}b", c as u32));
            assert!(!safe.contains(c));
        }
        // Visible non-ASCII text is left alone.
        assert!(matches!(terminal_safe("café × 3 µs — 日本"), Cow::Borrowed(_)));
    }
}
