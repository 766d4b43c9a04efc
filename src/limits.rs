//! Input limits, with their defaults. Each one turns a hostile or broken
//! input into a located error instead of unbounded time or memory.
//!
//! | limit | default | where it is checked |
//! |---|---|---|
//! | [`MAX_FILE_BYTES`] | 64 MiB | reading a rule file, config or module list |
//! | [`MAX_RULES`] | 1,000,000 | after parsing |
//! | [`MAX_PATTERN_BYTES`] | 64 KiB | each pattern |
//! | [`MAX_NESTING`] | 64 | parentheses in `.lora`, brackets in JSON |
//! | [`MAX_RANGE_SIZE`] | 100,000 | numbers in one `{a..b}` path range |
//! | [`MAX_NAME_BYTES`] | 64 KiB | each module name given to `resolve` from a file |
//! | automaton sizes | see [`crate::engine::Config`] | building the automaton |

/// Largest input file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 64 << 20;
/// Most rules in one rule set.
pub const MAX_RULES: usize = 1_000_000;
/// Longest single pattern, in bytes.
pub const MAX_PATTERN_BYTES: usize = 64 << 10;
/// Deepest nesting of parentheses (`.lora`) or brackets (JSON).
pub const MAX_NESTING: usize = 64;
/// Most numbers one `{a..b}` range in a path pattern may cover.
pub const MAX_RANGE_SIZE: u64 = 100_000;
/// Longest module name read from an input file, in bytes.
pub const MAX_NAME_BYTES: usize = 64 << 10;

/// The byte offset at which `open`/`close` nesting first exceeds
/// [`MAX_NESTING`], ignoring bytes inside `"..."`/`'...'` strings. O(n).
pub fn excessive_nesting(text: &str, open: u8, close: u8) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) => {
                if b == b'\\' && q == b'"' && open == b'[' {
                    i += 1; // JSON escape
                } else if b == q || b == b'\n' {
                    quote = None;
                }
            }
            None => {
                if b == b'"' || (b == b'\'' && open == b'(') {
                    quote = Some(b);
                } else if b == b'#' && open == b'(' {
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                } else if b == open || (open == b'[' && b == b'{') {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Some(i);
                    }
                } else if b == close || (open == b'[' && b == b'}') {
                    depth = depth.saturating_sub(1);
                }
            }
        }
        i += 1;
    }
    None
}
