//! Writing text from manifests into a report safely, per format.
//!
//! Everything a preview shows from the manifests (names, namespaces, field
//! paths, images, diffs) is written by whoever can open a pull request, and
//! is read in a terminal or rendered as a pull-request comment:
//!
//! - [`visible`] shows control characters as escapes (`\x1b`, `\n`,
//!   `\u{9b}`), so that no escape sequence reaches a terminal and no line
//!   break forges a line of the report; also bidirectional-text controls
//!   and line separators, which reorder or break what a reader sees. Every
//!   format applies it.
//! - [`md_code`] writes an inline code span that nothing inside can close
//!   (its backtick fence is longer than any backtick run of the text), with
//!   `|` escaped inside tables; inside a code span Markdown renders no
//!   HTML, link, emphasis or mention.
//! - [`md_fence`] is the fence for a code block holding given texts: longer
//!   than any backtick run in them, so no line can close the block (and so
//!   nothing after it, such as `</details>`, can be injected).
//! - [`json_safe`] escapes the same characters inside JSON strings as
//!   `\uXXXX`, which keeps the data exact.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` must not reach a reader raw: C0 and C1 control characters,
/// DEL, bidirectional-text controls and Unicode line separators.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}'
        )
}

/// `s` with every unsafe character ([`is_unsafe`]) written as an escape:
/// `\n`, `\r`, `\t`, `\x1b` for the other ASCII controls, `\u{202e}` beyond.
pub fn visible(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_ascii_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The longest run of backticks in `s`.
fn longest_backtick_run(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// `s` as a Markdown inline code span that nothing in `s` can close or
/// escape from; `in_table` also escapes `|`, which would end a table cell.
pub fn md_code(s: &str, in_table: bool) -> String {
    let text = visible(s);
    let text = if in_table {
        Cow::Owned(text.replace('|', "\\|"))
    } else {
        text
    };
    let fence = "`".repeat(longest_backtick_run(&text) + 1);
    // A span that starts or ends with a backtick, or with a space on both
    // sides, needs a space inside the fence (CommonMark strips one).
    let pad = if text.starts_with('`')
        || text.ends_with('`')
        || (text.starts_with(' ') && text.ends_with(' ') && !text.trim().is_empty())
    {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// The backtick fence for a code block holding `texts`: at least three
/// backticks, and more than the longest backtick run in any of them.
pub fn md_fence<'a>(texts: impl IntoIterator<Item = &'a str>) -> String {
    let longest = texts.into_iter().map(longest_backtick_run).max().unwrap_or(0);
    "`".repeat((longest + 1).max(3))
}

/// JSON text with every unsafe character ([`is_unsafe`]) that serde left
/// raw (DEL, C1 controls, bidirectional controls, line separators) written
/// as a `\uXXXX` escape. They only occur inside strings, so the data is
/// unchanged.
pub fn json_safe(json: String) -> String {
    if !json.chars().any(is_unsafe) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_unsafe(c) && c != '\n' {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_escapes() {
        assert_eq!(visible("plain"), "plain");
        assert_eq!(
            visible("a\x1b[31mb\nc\u{9b}d\u{202e}e\u{7f}"),
            "a\\x1b[31mb\\nc\\u{9b}d\\u{202e}e\\x7f"
        );
    }

    #[test]
    fn code_spans_cannot_be_closed() {
        assert_eq!(md_code("orders-api", true), "`orders-api`");
        assert_eq!(md_code("a`b", false), "``a`b``");
        assert_eq!(md_code("`x", false), "`` `x ``");
        assert_eq!(md_code("a|b", true), "`a\\|b`");
        assert_eq!(md_code("a|b", false), "`a|b`");
        assert_eq!(md_code("x\n</details>", false), "`x\\n</details>`");
    }

    #[test]
    fn fences_outgrow_the_content() {
        assert_eq!(md_fence(["no backticks"]), "```");
        assert_eq!(md_fence(["a ``` b", "````"]), "`````");
    }

    #[test]
    fn json_keeps_data_and_hides_controls() {
        let json = serde_json::to_string("a\u{9b}b\u{202e}c\u{7f}\x1b").unwrap();
        let safe = json_safe(json);
        assert!(safe.is_ascii(), "{safe}");
        let back: String = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, "a\u{9b}b\u{202e}c\u{7f}\x1b");
    }
}
