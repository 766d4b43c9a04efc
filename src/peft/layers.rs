//! Layer-index extraction for `layers_to_transform`, as in PEFT 0.21.2
//! `peft.tuners.tuners_utils.check_target_module_exists`.

use crate::peft::pyregex::{Mode, PyRegex, PyRegexError};

/// The regex PEFT 0.21.2 uses without `layers_pattern` (lazy since PEFT #3318):
/// `re.match(r".*?\.[^.]*\.(?P<idx>\d+)\.", key)`.
pub const DEFAULT_LAYER_REGEX: &str = r".*?\.[^.]*\.(?P<idx>\d+)\.";

/// The regex PEFT 0.21.2 builds for one `layers_pattern` entry `p`:
/// `rf"(?:^|.*?\.){p}\.(?P<idx>\d+)\."` (the entry is inserted textually, unescaped).
pub fn layer_regex_for_pattern(p: &str) -> String {
    format!(r"(?:^|.*?\.){p}\.(?P<idx>\d+)\.")
}

/// Where a layer index came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerIndex {
    /// `match.groupdict().get("idx")` gave these digits (Python `int()` value; `None` when
    /// the value does not fit in an `i128`, which no `layers_to_transform` entry can equal).
    Found(Option<i128>),
    /// No regex matched, or the match did not set the `idx` group (e.g. an ungrouped
    /// `layers|h`, whose first alternative matches without `idx`).
    None,
}

/// Extract the layer index of `key` like PEFT 0.21.2 `check_target_module_exists`:
/// without a (non-empty) `layers_pattern` use [`DEFAULT_LAYER_REGEX`]; otherwise try each
/// pattern in order with [`layer_regex_for_pattern`] and stop at the first one that
/// matches (even when that match leaves `idx` unset).
///
/// `compile` is called for every regex used, so that the caller can cache compilations;
/// an invalid `layers_pattern` entry gives Python's `re.error` (wrapped in the returned
/// error with the full regex PEFT built).
pub fn layer_index_with<F>(
    key: &str,
    patterns: &[String],
    mut compile: F,
) -> Result<LayerIndex, PyRegexError>
where
    F: FnMut(&str) -> Result<PyRegex, PyRegexError>,
{
    let regexes: Vec<String> = if patterns.is_empty() {
        vec![DEFAULT_LAYER_REGEX.to_string()]
    } else {
        patterns
            .iter()
            .map(|p| layer_regex_for_pattern(p))
            .collect()
    };
    for rx in regexes {
        let re = compile(&rx)?;
        if let Some(m) = re.captures(key)? {
            let idx = re
                .group_index("idx")
                .and_then(|g| m.groups.get(g).cloned().flatten());
            return Ok(match idx {
                Some(digits) => LayerIndex::Found(py_int(&digits)),
                None => LayerIndex::None,
            });
        }
    }
    Ok(LayerIndex::None)
}

/// Convenience form of [`layer_index_with`] that compiles without caching.
pub fn layer_index(key: &str, patterns: &[String]) -> Result<LayerIndex, PyRegexError> {
    layer_index_with(key, patterns, |rx| PyRegex::new(rx, Mode::Match))
}

/// Python `int(s)` for a string of Unicode decimal digits (`\d` matches any `Nd` digit and
/// Python's `int()` accepts them all). Returns None on overflow of `i128`.
pub fn py_int(digits: &str) -> Option<i128> {
    let mut v: i128 = 0;
    for c in digits.chars() {
        let d = crate::peft::pyregex::decimal_value(c)? as i128;
        v = v.checked_mul(10)?.checked_add(d)?;
    }
    Some(v)
}
