//! Text from outside the service (upstream bodies, headers, URLs) on its way
//! into a log line.
//!
//! A plain-text log is one record per line, so an upstream status string with a
//! newline could forge a whole record ("… ERROR …"), and an ANSI escape could
//! repaint an operator's terminal. Every upstream value is logged through
//! [`Untrusted`], which writes control characters as escapes (`\n`, `\u{1b}`)
//! and a backslash as `\\`, so what an upstream sent can always be read back
//! unambiguously and never spans two lines.

use std::fmt::{self, Display, Write};

/// Displays its contents with control characters escaped. Wraps anything
/// `Display` (a `&str`, an error whose message quotes an upstream).
pub struct Untrusted<T>(pub T);

impl<T: Display> Display for Untrusted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.to_string();
        for c in text.chars() {
            if c == '\\' {
                f.write_str("\\\\")?;
            } else if c.is_control() || is_format_control(c) {
                write!(f, "{}", c.escape_default())?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

/// Invisible characters that reorder or join text on screen (bidi overrides,
/// line and paragraph separators), which terminals and log viewers honor.
fn is_format_control(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        let forged = "live\n2026-12-01T00:00:00Z ERROR forged\x1b[31m red\r\t\\";
        let shown = Untrusted(forged).to_string();
        assert_eq!(shown, "live\\n2026-12-01T00:00:00Z ERROR forged\\u{1b}[31m red\\r\\t\\\\");
        assert!(!shown.chars().any(char::is_control));
        assert_eq!(Untrusted("Final/OT – Jokić").to_string(), "Final/OT – Jokić");
        assert_eq!(Untrusted("a\u{202e}b").to_string(), "a\\u{202e}b");
    }
}
