//! Shared by every property test of outside input (the integration test includes it with
//! `mod support`, the in-crate ones with `#[path]`): the run configuration and mutators that
//! turn a valid example into a hostile one. Mutations of valid inputs reach far deeper into a
//! parser than random bytes, which most parsers refuse at the first byte.

#![allow(dead_code)] // each includer uses a different subset

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, FileFailurePersistence};

/// `cases` generated inputs per property. Locally a failing case is written next to the test
/// (commit it when it is a real bug, and add a unit test for it); under CI nothing is written
/// into the checkout.
pub fn config(cases: u32) -> Config {
    let persistence = if std::env::var_os("CI").is_some() {
        FileFailurePersistence::Off
    } else {
        FileFailurePersistence::SourceParallel("proptest-regressions")
    };
    Config {
        cases,
        failure_persistence: Some(Box::new(persistence)),
        // Shrinking a failure must not turn into minutes of work on this small machine.
        max_shrink_iters: 2048,
        ..Config::default()
    }
}

/// Byte sequences that tend to break parsers: delimiters, quotes, NUL, broken UTF-8, a BOM,
/// numbers at the edges of their types.
const NASTY: &[&[u8]] = &[
    b",",
    b"\"",
    b"\n",
    b"\r\n",
    b"\r",
    b"\0",
    b"\xff",
    b"\xc3",
    b"\xe2\x82",
    b"\xef\xbb\xbf",
    b".",
    b"=",
    b"-",
    b"+",
    b":",
    b"T",
    b"Z",
    b" ",
    b"\t",
    b"{",
    b"}",
    b"[",
    b"]",
    b"null",
    b"-1",
    b"0",
    b"18446744073709551616",
    b"9223372036854775808",
    b"-9223372036854775809",
    b"1e400",
    b"\\u0000",
    b"\\ud800",
    "\u{10FFFF}".as_bytes(),
    "é".as_bytes(),
];

#[derive(Debug, Clone)]
enum Edit {
    /// Replace one byte.
    Set(Index, u8),
    /// Flip one bit of one byte.
    Flip(Index, u8),
    /// Insert a nasty sequence.
    Insert(Index, usize),
    /// Insert random bytes.
    InsertRaw(Index, Vec<u8>),
    /// Delete a short run.
    Delete(Index, usize),
    /// Cut the rest off.
    Truncate(Index),
    /// Repeat a short run (a duplicated header line, a doubled field).
    Repeat(Index, usize, usize),
    /// Swap two bytes.
    Swap(Index, Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Edit::Flip(i, b)),
        (any::<Index>(), 0..NASTY.len()).prop_map(|(i, n)| Edit::Insert(i, n)),
        (any::<Index>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, v)| Edit::InsertRaw(i, v)),
        (any::<Index>(), 1usize..8).prop_map(|(i, n)| Edit::Delete(i, n)),
        any::<Index>().prop_map(Edit::Truncate),
        (any::<Index>(), 1usize..16, 1usize..4).prop_map(|(i, n, k)| Edit::Repeat(i, n, k)),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Swap(a, b)),
    ]
}

fn apply(mut v: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let len = v.len();
        let at = |i: &Index| if len == 0 { 0 } else { i.index(len) };
        let at_or_end = |i: &Index| i.index(len + 1);
        match e {
            Edit::Set(i, b) if len > 0 => v[at(i)] = *b,
            Edit::Flip(i, bit) if len > 0 => v[at(i)] ^= 1 << bit,
            Edit::Insert(i, n) => {
                let p = at_or_end(i);
                v.splice(p..p, NASTY[*n].iter().copied());
            }
            Edit::InsertRaw(i, raw) => {
                let p = at_or_end(i);
                v.splice(p..p, raw.iter().copied());
            }
            Edit::Delete(i, n) if len > 0 => {
                let p = at(i);
                v.drain(p..(p + n).min(len));
            }
            Edit::Truncate(i) => v.truncate(at_or_end(i)),
            Edit::Repeat(i, n, k) if len > 0 => {
                let p = at(i);
                let run = v[p..(p + n).min(len)].to_vec();
                for _ in 0..*k {
                    v.splice(p..p, run.iter().copied());
                }
            }
            Edit::Swap(a, b) if len > 0 => v.swap(at(a), at(b)),
            _ => {}
        }
    }
    v
}

/// `base` with one to `max_edits` random edits.
pub fn mutated_bytes(base: Vec<u8>, max_edits: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(edit(), 1..=max_edits.max(1))
        .prop_map(move |e| apply(base.clone(), &e))
}

/// Like [`mutated_bytes`] for a strategy of valid examples.
pub fn mutated<S>(valid: S, max_edits: usize) -> impl Strategy<Value = Vec<u8>>
where
    S: Strategy<Value = Vec<u8>>,
{
    (
        valid,
        proptest::collection::vec(edit(), 1..=max_edits.max(1)),
    )
        .prop_map(|(base, e)| apply(base, &e))
}

/// Like [`mutated`], for parsers that take `&str`: broken UTF-8 becomes U+FFFD.
pub fn mutated_string<S>(valid: S, max_edits: usize) -> impl Strategy<Value = String>
where
    S: Strategy<Value = String>,
{
    mutated(valid.prop_map(String::into_bytes), max_edits)
        .prop_map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Any string, weighted towards the characters parsers care about.
pub fn wild_string(max_len: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(any::<char>(), 0..max_len)
            .prop_map(|c| c.into_iter().collect::<String>()),
        proptest::collection::vec(
            proptest::sample::select(
                &[
                    'a', 'Z', '0', '9', '-', '+', ':', '.', ',', ' ', 'T', 'Z', '"', '\\', '/',
                    '_', '=', '\n', '\u{0}', 'é', '\u{FEFF}', '\u{3000}', '𝟘',
                ][..]
            ),
            0..max_len
        )
        .prop_map(|c| c.into_iter().collect::<String>()),
    ]
}

/// One huge input, to show that size alone cannot hurt (no quadratic work, no echo of it).
pub fn huge_string() -> impl Strategy<Value = String> {
    (
        proptest::sample::select(&["A", "9", "{\"a\":", "[", ".", ",\"\"", "é"][..]),
        50_000usize..200_000,
    )
        .prop_map(|(unit, n)| unit.repeat(n / unit.len()))
}
