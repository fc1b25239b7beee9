//! A fast path for plain block-style YAML.
//!
//! kpt, kustomize and most hand-written manifests use a small part of YAML:
//! block mappings and sequences, single-line plain and quoted scalars,
//! literal block scalars, comments, `---` between documents, and empty `[]`
//! / `{}`. This scanner reads exactly that, line by line, and feeds the tree
//! builder the same events, with the same spans, that saphyr-parser
//! produces, at several times the speed.
//!
//! It never decides anything on its own: the moment it meets something
//! outside that subset (a tab, a non-ASCII byte, an anchor, a tag, a flow
//! collection with content, a multi-line plain or quoted scalar, a folded
//! scalar, a quoted key, a document end marker, ...) or anything that is not
//! valid, it gives up and [`Tree::parse`](super::tree::Tree::parse) parses
//! the whole input with saphyr-parser instead. Tests check that the two
//! paths build identical trees on every fixture and on the fuzzer's mutated
//! inputs.

use std::borrow::Cow;

use super::tree::{Builder, Ev, Style, Tree};

/// Gave up: parse with saphyr-parser instead.
struct Bail;

type R<T = ()> = Result<T, Bail>;

/// The tree of `src`, or `None` when `src` is outside the fast path's
/// subset (including every invalid input).
pub(super) fn parse(src: &str) -> Option<Tree<'_>> {
    // One pass over the bytes rules out most of what the scanner does not
    // handle: tabs, carriage returns, control characters and non-ASCII; so
    // does a last line without a line break (saphyr counts lines at the end
    // of such input in its own way).
    if !src.is_empty() && !src.ends_with('\n') || src.bytes().any(|b| (b < 0x20 && b != b'\n') || b >= 0x7f) {
        return None;
    }
    let mut scan = Scan {
        src,
        b: src.as_bytes(),
        pos: 0,
        line: 1,
        builder: Builder::new(src),
    };
    scan.stream().ok()?;
    Some(scan.builder.finish())
}

struct Scan<'a> {
    src: &'a str,
    b: &'a [u8],
    /// Current position.
    pos: usize,
    /// 1-based line of `pos`.
    line: u32,
    builder: Builder<'a>,
}

/// Where the next content line is.
#[derive(Clone, Copy)]
struct Next {
    /// Its first non-space byte (or the end of the input).
    at: usize,
    /// Its indentation (columns).
    indent: usize,
    /// Its line.
    line: u32,
    /// Start of its line.
    line_start: usize,
    /// The end of the input, or a `---` document marker at column 0.
    boundary: bool,
}

impl<'a> Scan<'a> {
    fn emit(&mut self, ev: Ev<'a>, start: usize, end: usize, line: u32) -> R {
        // A builder error (a duplicate key, say) is reported by the saphyr
        // path, with saphyr's view of everything before it.
        self.builder.event(ev, start, end, line).map_err(|_| Bail)
    }

    fn scalar(&mut self, value: Cow<'a, str>, style: Style, start: usize, end: usize, line: u32) -> R {
        self.emit(
            Ev::Scalar {
                value,
                style,
                anchor: 0,
                tag: None,
            },
            start,
            end,
            line,
        )
    }

    fn byte(&self, i: usize) -> u8 {
        self.b.get(i).copied().unwrap_or(b'\n')
    }

    fn line_end(&self, from: usize) -> usize {
        self.b[from..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(self.b.len(), |n| from + n)
    }

    fn is_doc_marker(&self, line_start: usize) -> bool {
        self.b[line_start..].starts_with(b"---") && matches!(self.byte(line_start + 3), b'\n' | b' ')
    }

    /// Finds the next line with content, starting at the line that begins
    /// at `line_start` (blank and comment-only lines are skipped).
    fn peek_next(&self, mut line_start: usize, mut line: u32) -> Next {
        loop {
            let mut i = line_start;
            while self.byte(i) == b' ' {
                i += 1;
            }
            if i >= self.b.len() {
                return Next {
                    at: self.b.len(),
                    indent: 0,
                    line,
                    line_start,
                    boundary: true,
                };
            }
            match self.b[i] {
                b'\n' => {}
                b'#' => i = self.line_end(i),
                _ => {
                    return Next {
                        at: i,
                        indent: i - line_start,
                        line,
                        line_start,
                        boundary: i == line_start && self.is_doc_marker(line_start),
                    };
                }
            }
            // `i` is at the line break (or the end).
            line_start = i + 1;
            line += 1;
        }
    }

    /// Moves to the start of the line after `from`'s line.
    fn next_line_after(&mut self, from: usize) {
        let end = self.line_end(from);
        if end < self.b.len() {
            self.pos = end + 1;
            self.line += 1;
        } else {
            self.pos = self.b.len();
        }
    }

    /// The rest of the line from `i` holds only spaces and maybe a comment
    /// (which needs a space before it, unless at `i` right after one).
    fn rest_is_blank(&self, mut i: usize) -> bool {
        let start = i;
        while self.byte(i) == b' ' {
            i += 1;
        }
        match self.byte(i) {
            b'\n' => true,
            b'#' => i > start || self.byte(i.wrapping_sub(1)) == b' ',
            _ => false,
        }
    }

    fn stream(&mut self) -> R {
        let mut explicit = false;
        loop {
            let next = self.peek_next(self.pos, self.line);
            self.pos = next.line_start;
            self.line = next.line;
            if next.at >= self.b.len() {
                if explicit {
                    // A `---` followed by nothing: an empty document.
                    let end = self.b.len();
                    self.scalar(Cow::Borrowed(""), Style::Plain, end, end, self.line)?;
                    self.emit(Ev::DocEnd, end, end, self.line)?;
                }
                return Ok(());
            }
            if next.boundary {
                // `---` starts an explicit document.
                let at = next.at;
                if explicit {
                    // The previous `---` had no content.
                    self.scalar(Cow::Borrowed(""), Style::Plain, at, at + 3, next.line)?;
                    self.emit(Ev::DocEnd, at, at + 3, next.line)?;
                }
                if !self.rest_is_blank(at + 3) {
                    return Err(Bail);
                }
                self.emit(Ev::DocStart, at, at + 3, next.line)?;
                self.next_line_after(at);
                explicit = true;
                continue;
            }
            if next.indent != 0 {
                // Indented document content: unusual; let saphyr judge.
                return Err(Bail);
            }
            if !explicit {
                self.emit(Ev::DocStart, next.at, next.at, next.line)?;
            }
            explicit = false;
            self.block(next, false)?;
            // After the root node: the end of the input or a `---`.
            let after = self.peek_next(self.pos, self.line);
            if after.at >= self.b.len() {
                let end = self.b.len();
                self.emit(Ev::DocEnd, end, end, after.line)?;
                return Ok(());
            }
            if !after.boundary {
                return Err(Bail);
            }
            self.emit(Ev::DocEnd, after.at, after.at + 3, after.line)?;
            self.pos = after.line_start;
            self.line = after.line;
        }
    }

    /// A block node that starts on its own line at `next`; `indentless`
    /// when it is a sequence at its parent key's own column.
    fn block(&mut self, next: Next, indentless: bool) -> R {
        self.pos = next.at;
        self.line = next.line;
        if self.is_entry(next.at) {
            self.sequence(next.indent, indentless)
        } else if self.key_end(next.at).is_some() {
            self.mapping(next.indent)
        } else {
            Err(Bail)
        }
    }

    /// `-` followed by a space or the end of the line.
    fn is_entry(&self, i: usize) -> bool {
        self.byte(i) == b'-' && matches!(self.byte(i + 1), b' ' | b'\n')
    }

    /// If a plain key starts at `i`: the end of the key text (the `:`).
    fn key_end(&self, i: usize) -> Option<usize> {
        if !plain_start(self.byte(i), self.byte(i + 1)) {
            return None;
        }
        let mut j = i;
        loop {
            match self.byte(j) {
                b'\n' => return None,
                b':' if matches!(self.byte(j + 1), b' ' | b'\n') => {
                    // No spaces between the key and its colon.
                    return (self.byte(j - 1) != b' ').then_some(j);
                }
                b'#' if self.byte(j - 1) == b' ' => return None,
                _ => j += 1,
            }
        }
    }

    /// A block mapping whose first key is at `self.pos`, column `indent`.
    fn mapping(&mut self, indent: usize) -> R {
        let first = self.pos;
        self.emit(Ev::MapStart { anchor: 0, tag: None }, first, first, self.line)?;
        loop {
            let key_start = self.pos;
            let colon = self.key_end(key_start).ok_or(Bail)?;
            let key = &self.src[key_start..colon];
            self.scalar(Cow::Borrowed(key), Style::Plain, key_start, colon, self.line)?;
            self.value(indent, colon)?;
            let next = self.peek_next(self.pos, self.line);
            if next.boundary || next.indent < indent {
                self.emit(Ev::MapEnd, next.at, next.at, next.line)?;
                self.pos = next.line_start;
                self.line = next.line;
                return Ok(());
            }
            if next.indent > indent || self.is_entry(next.at) {
                return Err(Bail);
            }
            self.pos = next.at;
            self.line = next.line;
        }
    }

    /// A block sequence whose first `-` is at `self.pos`, column `indent`.
    fn sequence(&mut self, indent: usize, indentless: bool) -> R {
        // saphyr starts an indented sequence at its first `-`, and one at
        // its parent key's column at the first item's content.
        let dash = self.pos;
        let start = if indentless {
            let mut content = dash + 1;
            while self.byte(content) == b' ' {
                content += 1;
            }
            match self.byte(content) {
                b'\n' => return Err(Bail),
                // `- # comment`: the item starts on a later line; saphyr
                // starts the sequence where the comment's line ends.
                b'#' => self.line_end(content),
                _ => content,
            }
        } else {
            dash
        };
        self.emit(Ev::SeqStart { anchor: 0, tag: None }, start, start, self.line)?;
        loop {
            let dash = self.pos;
            if !self.is_entry(dash) {
                return Err(Bail);
            }
            self.item(indent, dash)?;
            let next = self.peek_next(self.pos, self.line);
            if next.boundary || next.indent < indent || (next.indent == indent && !self.is_entry(next.at)) {
                self.emit(Ev::SeqEnd, next.at, next.at, next.line)?;
                self.pos = next.line_start;
                self.line = next.line;
                return Ok(());
            }
            if next.indent > indent {
                return Err(Bail);
            }
            self.pos = next.at;
            self.line = next.line;
        }
    }

    /// One sequence item: `dash` is its `-` at column `indent`.
    fn item(&mut self, indent: usize, dash: usize) -> R {
        let mut i = dash + 1;
        while self.byte(i) == b' ' {
            i += 1;
        }
        match self.byte(i) {
            b'\n' => {
                if i != dash + 1 {
                    return Err(Bail);
                }
                // The item is on the following lines, or empty.
                let line = self.line;
                self.next_line_after(dash);
                let next = self.peek_next(self.pos, self.line);
                if !next.boundary && next.indent > indent {
                    self.block(next, false)
                } else {
                    self.scalar(Cow::Borrowed(""), Style::Plain, dash + 1, dash + 1, line)
                }
            }
            b'#' if i > dash + 1 => {
                // `- # comment`, then the item on the following lines.
                self.next_line_after(dash);
                let next = self.peek_next(self.pos, self.line);
                if !next.boundary && next.indent > indent {
                    self.block(next, false)
                } else {
                    Err(Bail)
                }
            }
            b'#' => Err(Bail),
            _ if self.is_entry(i) => Err(Bail),
            _ => {
                if self.key_end(i).is_some() {
                    // A mapping that starts on the `-` line, at its column.
                    let column = i - (dash - indent);
                    self.pos = i;
                    self.mapping(column)
                } else {
                    self.inline_value(indent, i)
                }
            }
        }
    }

    /// The value after a key's `colon`; the key is at column `indent`.
    fn value(&mut self, indent: usize, colon: usize) -> R {
        let mut i = colon + 1;
        while self.byte(i) == b' ' {
            i += 1;
        }
        match self.byte(i) {
            // (`#` here follows a space: a key's colon is followed by one.)
            b'\n' | b'#' => {
                // The value is on the following lines, or empty.
                let line = self.line;
                self.next_line_after(colon);
                let next = self.peek_next(self.pos, self.line);
                if !next.boundary && (next.indent > indent || (next.indent == indent && self.is_entry(next.at))) {
                    self.block(next, next.indent == indent)
                } else {
                    self.scalar(Cow::Borrowed(""), Style::Plain, colon, colon, line)
                }
            }
            _ => self.inline_value(indent, i),
        }
    }

    /// A value that starts on the current line at `i`; its parent (key or
    /// `-`) is at column `indent`.
    fn inline_value(&mut self, indent: usize, i: usize) -> R {
        let line = self.line;
        match self.byte(i) {
            b'[' | b'{' => {
                let close = self.flow(i, line, true)?;
                if !self.rest_is_blank(close + 1) {
                    return Err(Bail);
                }
                self.next_line_after(close);
                self.no_continuation(indent)
            }
            b'"' | b'\'' => {
                // `j`: the closing quote. Double-quoted: no escapes; single-
                // quoted: `''` stands for `'`.
                let (quote, style) = if self.byte(i) == b'"' {
                    (b'"', Style::DoubleQuoted)
                } else {
                    (b'\'', Style::SingleQuoted)
                };
                let mut j = i + 1;
                let mut escaped = false;
                loop {
                    match self.byte(j) {
                        b'\'' if quote == b'\'' && self.byte(j + 1) == b'\'' => {
                            escaped = true;
                            j += 2;
                        }
                        c if c == quote => break,
                        b'\n' => return Err(Bail),
                        b'\\' if quote == b'"' => return Err(Bail),
                        _ => j += 1,
                    }
                }
                if !self.rest_is_blank(j + 1) {
                    return Err(Bail);
                }
                let inner = &self.src[i + 1..j];
                let value = if escaped {
                    Cow::Owned(inner.replace("''", "'"))
                } else {
                    Cow::Borrowed(inner)
                };
                // saphyr ends a quoted scalar where the line ends.
                let end = self.line_end(j);
                self.scalar(value, style, i, end, line)?;
                self.next_line_after(j);
                self.no_continuation(indent)
            }
            b'|' => self.literal(indent, i),
            c if plain_start(c, self.byte(i + 1)) => {
                let mut j = i;
                let mut end = i;
                loop {
                    match self.byte(j) {
                        b'\n' => break,
                        b'#' if self.byte(j - 1) == b' ' => break,
                        b':' if matches!(self.byte(j + 1), b' ' | b'\n') => return Err(Bail),
                        b' ' => j += 1,
                        _ => {
                            j += 1;
                            end = j;
                        }
                    }
                }
                let text = &self.src[i..end];
                self.scalar(Cow::Borrowed(text), Style::Plain, i, end, line)?;
                self.next_line_after(i);
                self.no_continuation(indent)
            }
            _ => Err(Bail),
        }
    }

    /// A flow collection on one line, starting at `open`, holding plain
    /// single-word scalars and nested flow collections
    /// (`{metadata: {name: x}, data: {a: b}}`, `[a, b]`, `{}`). Returns the
    /// position of the closing bracket. `outer`: not nested in another.
    fn flow(&mut self, open: usize, line: u32, outer: bool) -> R<usize> {
        let is_map = self.byte(open) == b'{';
        let close_byte = if is_map { b'}' } else { b']' };
        let start = if is_map {
            Ev::MapStart { anchor: 0, tag: None }
        } else {
            Ev::SeqStart { anchor: 0, tag: None }
        };
        self.emit(start, open, open + 1, line)?;
        let skip_spaces = |s: &Self, mut i: usize| {
            while s.byte(i) == b' ' {
                i += 1;
            }
            i
        };
        let mut i = skip_spaces(self, open + 1);
        if self.byte(i) != close_byte {
            loop {
                // An item, or a key (a scalar) for a mapping.
                i = if is_map {
                    let (s, e) = self.flow_word(i)?;
                    self.scalar(Cow::Borrowed(&self.src[s..e]), Style::Plain, s, e, line)?;
                    e
                } else {
                    self.flow_node(i, line)?
                };
                if is_map {
                    if self.byte(i) != b':' || self.byte(i + 1) != b' ' {
                        return Err(Bail);
                    }
                    i = self.flow_node(skip_spaces(self, i + 1), line)?;
                }
                i = skip_spaces(self, i);
                match self.byte(i) {
                    b',' => {
                        i = skip_spaces(self, i + 1);
                        if self.byte(i) == close_byte {
                            return Err(Bail); // a trailing comma
                        }
                    }
                    c if c == close_byte => break,
                    _ => return Err(Bail),
                }
            }
        }
        // saphyr's closing span of the outermost collection runs to the end
        // of the line (trailing spaces and a comment included).
        let end = if is_map { Ev::MapEnd } else { Ev::SeqEnd };
        let end_span = if outer { self.line_end(i) } else { i + 1 };
        self.emit(end, i, end_span, line)?;
        Ok(i)
    }

    /// A value inside a flow collection at `i`: a nested collection or a
    /// one-word plain scalar. Returns where it ends.
    fn flow_node(&mut self, i: usize, line: u32) -> R<usize> {
        if matches!(self.byte(i), b'{' | b'[') {
            Ok(self.flow(i, line, false)? + 1)
        } else {
            let (s, e) = self.flow_word(i)?;
            self.scalar(Cow::Borrowed(&self.src[s..e]), Style::Plain, s, e, line)?;
            Ok(e)
        }
    }

    /// A plain scalar of one word inside a flow collection, at `i`.
    fn flow_word(&self, i: usize) -> R<(usize, usize)> {
        if !plain_start(self.byte(i), self.byte(i + 1)) {
            return Err(Bail);
        }
        let mut e = i;
        while !matches!(
            self.byte(e),
            b' ' | b'\n' | b',' | b'[' | b']' | b'{' | b'}' | b'#' | b':' | b'"' | b'\''
        ) {
            e += 1;
        }
        if e == i {
            return Err(Bail);
        }
        Ok((i, e))
    }

    /// After a single-line scalar whose parent is at column `indent`: a
    /// more-indented line would continue it (or be an error): give up.
    fn no_continuation(&self, indent: usize) -> R {
        // `peek_next` skips blank and comment lines; a more-indented line
        // after them would still continue a plain scalar.
        let next = self.peek_next(self.pos, self.line);
        if !next.boundary && next.indent > indent {
            return Err(Bail);
        }
        Ok(())
    }

    /// A literal block scalar whose `|` is at `bar`; its parent is at
    /// column `indent`.
    fn literal(&mut self, indent: usize, bar: usize) -> R {
        let mut i = bar + 1;
        let chomp = match self.byte(i) {
            b'-' => {
                i += 1;
                Chomp::Strip
            }
            b'+' => {
                i += 1;
                Chomp::Keep
            }
            _ => Chomp::Clip,
        };
        if !matches!(self.byte(i), b' ' | b'\n') || !self.rest_is_blank(i) {
            return Err(Bail);
        }
        self.next_line_after(bar);
        // The first line fixes the content's indentation; it must have
        // content (leading blank lines have their own rules).
        let first_line = self.pos;
        let mut k = first_line;
        while self.byte(k) == b' ' {
            k += 1;
        }
        let content_indent = k - first_line;
        if k >= self.b.len() || self.byte(k) == b'\n' || content_indent <= indent {
            return Err(Bail);
        }
        let start = k;
        let start_line = self.line;
        let mut value = String::new();
        let mut pending_breaks = 0usize;
        let mut line_start = first_line;
        let end;
        loop {
            if line_start >= self.b.len() {
                end = self.b.len();
                break;
            }
            let line_end = self.line_end(line_start);
            if line_end >= self.b.len() {
                // The last line has no line break: saphyr's handling of that
                // differs in details; let it decide.
                return Err(Bail);
            }
            let mut k = line_start;
            while self.byte(k) == b' ' {
                k += 1;
            }
            let spaces = k - line_start;
            if self.byte(k) == b'\n' {
                // A blank line: at most the content's indentation (more
                // would be content made of spaces).
                if spaces > content_indent {
                    return Err(Bail);
                }
                pending_breaks += 1;
            } else if spaces < content_indent {
                end = k;
                break;
            } else {
                if !value.is_empty() {
                    value.push('\n');
                }
                for _ in 0..pending_breaks {
                    value.push('\n');
                }
                pending_breaks = 0;
                value.push_str(&self.src[line_start + content_indent..line_end]);
            }
            line_start = line_end + 1;
            self.line += 1;
        }
        match chomp {
            Chomp::Strip => {}
            Chomp::Clip => value.push('\n'),
            Chomp::Keep => {
                value.push('\n');
                for _ in 0..pending_breaks {
                    value.push('\n');
                }
            }
        }
        self.scalar(Cow::Owned(value), Style::Literal, start, end, start_line)?;
        // Continue at the line that ended the block.
        let next = self.peek_next(line_start, self.line);
        self.pos = next.line_start;
        self.line = next.line;
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Chomp {
    Strip,
    Clip,
    Keep,
}

/// Whether a plain scalar may start with `c` (followed by `next`) in block
/// context.
fn plain_start(c: u8, next: u8) -> bool {
    match c {
        b'-' | b'?' | b':' => !matches!(next, b' ' | b'\n'),
        b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\'' | b'"' | b'%' | b'@'
        | b'`' | b' ' | b'\n' => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tree::Tree;

    /// The fast path and saphyr build the same tree (and the fast path
    /// accepts the input).
    fn same(src: &str) {
        let fast = super::parse(src).unwrap_or_else(|| panic!("the fast path gave up on {src:?}"));
        let reference = Tree::parse_with_saphyr(src).unwrap();
        assert_eq!(
            format!("{:?}", fast.docs),
            format!("{:?}", reference.docs),
            "docs of {src:?}"
        );
        assert_eq!(fast.nodes.len(), reference.nodes.len(), "nodes of {src:?}");
        for (a, b) in fast.nodes.iter().zip(&reference.nodes) {
            assert_eq!(
                format!("{a:?}").replace("Borrowed", "Owned"),
                format!("{b:?}").replace("Borrowed", "Owned"),
                "in {src:?}"
            );
        }
    }

    #[test]
    fn block_yaml_matches_saphyr() {
        for src in [
            "a: 1\n",
            "a: 1\nb:\n  c: x y  # hi\n  d:\n  - e: 1\n    f: \"q\"\n  -  g\n\n# c\nh: []\n---\nk: |\n  l1\n  l2\n\n",
            "d:\n- x\n- y\ne:\nf: 1\ng:\n  -\n  - z\nh:\n# only comment\n",
            "---\napiVersion: v1\nitems:\n- a: 1\n  b:\n    c: 2\nz: \"q\"\n",
            "# lead\n\na: 1\n---\n# c\nb: 2\n\n---\n",
            "a: |\n  x\n\n  y\nb: |-\n  z\n\n\nc: 1 # t\nd: x:y\ne: \"a b\"   \nf: 'it''s'\n",
            "x:\n  a: |\n    l1\n\n  b: 1\ny:\n- |\n  s\n- \"q\" # c\n-   w\n",
            "---\n---\na: 1\n",
            "a: {}\nb: []\nc: ''\nd: \"\"\ne: -1\nf: ~\n",
            "k: |+\n  a\n\n\nn: 1\n",
            "k:\n  - |\n    a\n    b\n  - x\n",
            "- a\n- b: 1\n  c: 2\n-\n  - x\n",
            "k: # comment\n  a: 1\nl:   \n- x\nn: a # b\n",
            "k:\n  -\n    a: 1\n  - b\n",
            "items:\n- # c\n  a: 1\n- b: 2\nz:\n  - # c2\n    k: v\n",
            "data: {name: nginx, newTag: 1.21.4}\nl: [a, b , c]\nm: {a: 1}  # x\nn: []  # y\no:\n- {k: v}\n- [x]\n",
            "f: {metadata: {name: fi}, data: {e: s, t: c}, l: [a, {b: c}, []], kind: ConfigMap}  \n",
            "i: [  ]\nj: [ a ]\nk: { a: 1 }\n",
        ] {
            same(src);
        }
    }

    #[test]
    fn anything_unusual_goes_to_saphyr() {
        for src in [
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: [x: 1]\n",
            "a: {b: {c: 1}\n",
            "a: [1, 2,]\n",
            "a: {b: 'q'}\n",
            "a: [1,\n  2]\n",
            "a: {b: c d}\n",
            "a: b\n  c\n",
            "a: >\n  folded\n",
            "\"a\": 1\n",
            "a:\tb\n",
            "a: é\n",
            "a: \"x\\ny\"\n",
            "a: 1\n...\n",
            "%YAML 1.2\n---\na: 1\n",
            "a: b: c\n",
            "- - a\n",
            "? a\n: b\n",
            "a: |\n  x",
            "a: 1\na: 2\n",
        ] {
            assert!(super::parse(src).is_none(), "the fast path accepted {src:?}");
        }
    }
}
