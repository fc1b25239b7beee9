//! A line diff in unified format.
//!
//! Common leading and trailing lines are trimmed first, then the middle is
//! aligned with a longest-common-subsequence table; a middle too large for
//! the table is shown as one replaced block (still a correct diff, just not
//! a minimal one).

/// Most cells of the LCS table before falling back to replace-all.
const MAX_TABLE: usize = 4_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Keep,
    Delete,
    Insert,
}

fn align<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<(Op, &'a str)> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut ops: Vec<(Op, &str)> = a[..prefix].iter().map(|l| (Op::Keep, *l)).collect();
    if am.len().saturating_mul(bm.len()) > MAX_TABLE {
        ops.extend(am.iter().map(|l| (Op::Delete, *l)));
        ops.extend(bm.iter().map(|l| (Op::Insert, *l)));
    } else {
        // lcs[i][j] = LCS length of am[i..] and bm[j..].
        let w = bm.len() + 1;
        let mut lcs = vec![0u32; (am.len() + 1) * w];
        for i in (0..am.len()).rev() {
            for j in (0..bm.len()).rev() {
                lcs[i * w + j] = if am[i] == bm[j] {
                    lcs[(i + 1) * w + j + 1] + 1
                } else {
                    lcs[(i + 1) * w + j].max(lcs[i * w + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < am.len() || j < bm.len() {
            if i < am.len() && j < bm.len() && am[i] == bm[j] {
                ops.push((Op::Keep, am[i]));
                i += 1;
                j += 1;
            } else if j < bm.len() && (i == am.len() || lcs[i * w + j + 1] > lcs[(i + 1) * w + j]) {
                ops.push((Op::Insert, bm[j]));
                j += 1;
            } else {
                ops.push((Op::Delete, am[i]));
                i += 1;
            }
        }
    }
    ops.extend(a[a.len() - suffix..].iter().map(|l| (Op::Keep, *l)));
    ops
}

/// A unified diff of `a` and `b` with `context` lines around changes, or an
/// empty string when they are equal. Headers name the sides `from` and `to`.
pub fn unified(a: &str, b: &str, from: &str, to: &str, context: usize) -> String {
    if a == b {
        return String::new();
    }
    let (al, bl): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let ops = align(&al, &bl);
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, (op, _))| *op != Op::Keep)
        .map(|(i, _)| i)
        .collect();
    let mut out = format!("--- {from}\n+++ {to}\n");
    let mut k = 0;
    while k < changed.len() {
        let start = changed[k].saturating_sub(context);
        let mut end = (changed[k] + context + 1).min(ops.len());
        while k + 1 < changed.len() && changed[k + 1] <= end + context {
            k += 1;
            end = (changed[k] + context + 1).min(ops.len());
        }
        k += 1;
        // Line numbers of the hunk's first line on each side.
        let a_start = ops[..start].iter().filter(|(op, _)| *op != Op::Insert).count();
        let b_start = ops[..start].iter().filter(|(op, _)| *op != Op::Delete).count();
        let hunk = &ops[start..end];
        let a_len = hunk.iter().filter(|(op, _)| *op != Op::Insert).count();
        let b_len = hunk.iter().filter(|(op, _)| *op != Op::Delete).count();
        let pos = |s: usize, n: usize| {
            if n == 0 {
                format!("{s},0")
            } else {
                format!("{},{n}", s + 1)
            }
        };
        out.push_str(&format!("@@ -{} +{} @@\n", pos(a_start, a_len), pos(b_start, b_len)));
        for (op, line) in hunk {
            out.push(match op {
                Op::Keep => ' ',
                Op::Delete => '-',
                Op::Insert => '+',
            });
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_give_no_diff() {
        assert_eq!(unified("a\nb\n", "a\nb\n", "x", "y", 3), "");
    }

    #[test]
    fn hunks_have_context_and_line_numbers() {
        let a = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let b = "1\n2\n3\n4\nfive\n6\n7\n8\n9\nten\n";
        assert_eq!(
            unified(a, b, "base", "head", 1),
            "--- base\n+++ head\n@@ -4,3 +4,3 @@\n 4\n-5\n+five\n 6\n@@ -9,1 +9,2 @@\n 9\n+ten\n"
        );
    }

    #[test]
    fn additions_to_empty() {
        assert_eq!(unified("", "a\n", "x", "y", 3), "--- x\n+++ y\n@@ -0,0 +1,1 @@\n+a\n");
    }
}
