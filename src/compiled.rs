//! Compiled rule files (`lora-rules compile RULES -o FILE`): the rule file
//! and the reduced tables of its automata in one file, so that loading it
//! checks the rules again but skips determinization, the costly part of
//! building a rule set with many regexes (`benches/data/r100.lora`: about
//! 2 s to build, a few milliseconds to load compiled; see `benches/resolve.rs`).
//!
//! What is saved: the rule source (name, format, text), the [`Config`] it
//! was compiled with, and for each main automaton (forward, reverse) its
//! reduced table, or a mark that there is none, or that it is a lazy DFA
//! (rebuilt at load: a lazy DFA has no table to save). The literal key table
//! and the Unicode twins are rebuilt at load, as [`Matcher::with_config`]
//! builds them: they cost milliseconds.
//!
//! # Format (version 1, little-endian)
//!
//! | field | bytes |
//! |---|---|
//! | magic `LORARC\0\x01` | 8 |
//! | format version | u32 |
//! | FNV-1a 64 checksum of everything after this field | u64 |
//! | lora-rules version that wrote it | u32 length + UTF-8 |
//! | [`Config`]: 5 limits as u64, `force_lazy`, `literal_keys`, `ascii` as u8, `literal_keys_min` as u64 | 51 |
//! | source name, source text | u32 length + UTF-8 each |
//! | source format: 0 `.lora`, 1 JSON | u8 |
//! | forward, then reverse automaton: 0 none, 1 lazy DFA (rebuilt as one at load), 2 table + the table | u8 (+ table) |
//!
//! A table is its 256 byte classes, then class count, start state, last
//! special state and row word count as u32, then the rows as u32.
//!
//! # Trust
//! Reading never panics and never trusts the file: the checksum catches
//! accidental damage, a file written by another lora-rules version is
//! refused (the tables' meaning may differ; [`saved_source`] still gives its
//! rules back), the rules are parsed and checked again, and every table is
//! checked for consistency with itself and with the rules (`Table::read`, in
//! time linear in its size), so that a forged file can at worst give other
//! answers, never an out-of-bounds read, a hang or a rule that does not
//! exist. [`verify`] (what `lora-rules check` does) also rebuilds the
//! tables and compares them, which refuses forged tables too.

use crate::Format;
use crate::diag::{Diagnostic, Diagnostics, Source, code};
use crate::engine::{CompileError, Config, Matcher, Saved, SavedRef, table::Table};
use crate::ir::RuleSet;

/// The first 8 bytes of every compiled file.
pub const MAGIC: &[u8; 8] = b"LORARC\0\x01";
/// The layout version written and read.
pub const FORMAT_VERSION: u32 = 1;

/// Why a compiled file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CompiledError {
    /// The bytes do not start with [`MAGIC`].
    #[error("not a compiled rule file (it does not start with the `LORARC` magic bytes)")]
    NotCompiled,
    /// Written by another lora-rules version (same file format).
    #[error("written by lora-rules {written}; this is lora-rules {}", env!("CARGO_PKG_VERSION"))]
    Version {
        /// The version that wrote the file.
        written: String,
    },
    /// Another file format version.
    #[error("file format {found}; this lora-rules reads file format {FORMAT_VERSION}")]
    Format {
        /// The format version in the file.
        found: u32,
    },
    /// Truncated, damaged (checksum) or inconsistent.
    #[error("damaged compiled file: {0}")]
    Corrupt(String),
    /// The saved rule source no longer passes the checks.
    #[error("the rules saved in the compiled file have errors")]
    Rules(Diagnostics),
    /// The saved tables do not fit the saved rules, or an automaton to
    /// rebuild could not be built.
    #[error(transparent)]
    Compile(#[from] CompileError),
}

impl CompiledError {
    /// As diagnostics (code `L041`, with advice), located at `file`.
    pub fn into_diagnostics(self, file: &str) -> Diagnostics {
        let help = match &self {
            CompiledError::Rules(_) => format!(
                "these are the rules saved in `{file}`; `lora-rules decompile {file}` prints them"
            ),
            CompiledError::NotCompiled => "give the output of `lora-rules compile RULES -o FILE`; \
                 a rule file in text named `*.lorac` is taken for a compiled one: rename it \
                 `.lora` or `.json`"
                .to_string(),
            CompiledError::Version { .. } => format!(
                "compile it again with this lora-rules: `lora-rules compile {file} -o {file}` \
                 reuses the rules saved in it (`lora-rules decompile {file}` prints them)"
            ),
            _ => format!("compile the rule file again: `lora-rules compile RULES -o {file}`"),
        };
        let (mut ds, message) = match self {
            CompiledError::Rules(d) => (d, format!("{file}: the rules saved in it have errors")),
            e => (Diagnostics::default(), format!("{file}: {e}")),
        };
        ds.push(Diagnostic::error(code::COMPILED, message).with_help(help));
        ds
    }
}

/// Whether `bytes` start like a compiled file: with [`MAGIC`]'s `LORARC`,
/// or are a cut piece of it (no rule file starts so). A damaged magic is
/// then reported as a damaged compiled file, not as rule text.
pub fn is_compiled(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC[..6]) || (!bytes.is_empty() && MAGIC.starts_with(bytes))
}

/// A compiled file read back: the matcher, the rule source it holds and the
/// warnings of checking it.
#[derive(Debug)]
pub struct Loaded {
    /// Ready to resolve; the same answers as one built from `source`.
    pub matcher: Matcher,
    /// The rule file as it was compiled (name, text).
    pub source: Source,
    /// Its format.
    pub format: Format,
    /// Warnings from checking the rules again.
    pub warnings: Diagnostics,
}

/// Checks and compiles `source` (read as `format`) with `config`, and
/// writes its compiled file: the matcher, the file's bytes and the warnings.
/// The matcher is built here, so the tables always belong to the source.
/// Costs a full build ([`Matcher::with_config`]).
///
/// # Errors
/// The source's diagnostics; `L040` if the automaton cannot be built;
/// `L004` if the file would be larger than [`crate::limits::MAX_FILE_BYTES`],
/// which is all that reading it back allows.
pub fn compile(
    source: &Source,
    format: Format,
    config: &Config,
) -> Result<(Matcher, Vec<u8>, Diagnostics), Diagnostics> {
    let (m, warnings) = crate::compile_source(source, format, config)?;
    let bytes = write(source, format, &m);
    if bytes.len() as u64 > crate::limits::MAX_FILE_BYTES {
        let mut ds = Diagnostics::default();
        ds.push(
            Diagnostic::error(
                code::LIMIT,
                format!(
                    "the compiled file would be {} bytes, over the {} MiB that reading it allows",
                    bytes.len(),
                    crate::limits::MAX_FILE_BYTES >> 20
                ),
            )
            .with_help("split the rule set, or use the rule file itself")
            .with_source(source),
        );
        return Err(ds);
    }
    Ok((m, bytes, warnings))
}

/// The compiled file of `matcher`, which must have been built from
/// `source` read as `format` (as [`compile`] does). O(size of the tables +
/// source).
fn write(source: &Source, format: Format, matcher: &Matcher) -> Vec<u8> {
    let mut body = Vec::new();
    let c = matcher.config();
    for v in [
        c.dfa_size_limit,
        c.determinize_size_limit,
        c.nfa_size_limit,
        c.lazy_cache_capacity,
        c.inline_key_limit,
    ] {
        body.extend_from_slice(&(v as u64).to_le_bytes());
    }
    body.extend_from_slice(&[c.force_lazy as u8, c.literal_keys as u8, c.ascii as u8]);
    body.extend_from_slice(&(c.literal_keys_min as u64).to_le_bytes());
    put_str(&mut body, source.name());
    put_str(&mut body, source.text());
    body.push(match format {
        Format::Lora => 0,
        Format::Json => 1,
    });
    for saved in matcher.saved() {
        match saved {
            SavedRef::Absent => body.push(0),
            SavedRef::Lazy => body.push(1),
            SavedRef::Table(t) => {
                body.push(2);
                t.write(&mut body);
            }
        }
    }
    let mut covered = Vec::with_capacity(body.len() + 32);
    put_str(&mut covered, env!("CARGO_PKG_VERSION"));
    covered.extend_from_slice(&body);
    let mut out = Vec::with_capacity(covered.len() + 20);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&fnv1a(&covered).to_le_bytes());
    out.extend_from_slice(&covered);
    out
}

/// Reads a compiled file: checks it, checks its rules again (as
/// [`crate::load`]) and assembles the matcher from its tables. O(file size
/// + checking the rules); no determinization unless an automaton was lazy.
///
/// # Errors
/// See [`CompiledError`]; never panics on any input.
/// The saved rules keep the name they were compiled under; name the
/// compiled file in messages with [`CompiledError::into_diagnostics`].
pub fn read(bytes: &[u8]) -> Result<Loaded, CompiledError> {
    let mut r = open(bytes)?;
    let written = r.str().map_err(CompiledError::Corrupt)?;
    if written != env!("CARGO_PKG_VERSION") {
        return Err(CompiledError::Version {
            written: written.escape_debug().to_string(),
        });
    }
    let (source, format, config) = read_header(&mut r).map_err(CompiledError::Corrupt)?;
    let (rules, warnings) = crate::load(&source, format).map_err(CompiledError::Rules)?;
    let saved = [
        read_saved(&mut r, &rules, "forward")?,
        read_saved(&mut r, &rules, "reverse")?,
    ];
    if r.remaining() != 0 {
        return Err(CompiledError::Corrupt(format!(
            "{} bytes after the last table",
            r.remaining()
        )));
    }
    let matcher = Matcher::with_saved(rules, &config, saved)?;
    Ok(Loaded {
        matcher,
        source,
        format,
        warnings,
    })
}

/// [`read`], then the automata built again from the saved rules and
/// compared with the saved tables: this also refuses a file whose tables
/// were changed on purpose, checksum recomputed, which [`read`] can only
/// keep from going out of bounds. Costs a full build (as compiling).
///
/// # Errors
/// As [`read`]; [`CompiledError::Corrupt`] when the tables differ from
/// those the rules compile to.
pub fn verify(bytes: &[u8]) -> Result<Loaded, CompiledError> {
    let loaded = read(bytes)?;
    let (name, text, format) = saved_source(bytes)?;
    let m = &loaded.matcher;
    let rebuilt = Matcher::with_config(m.rules().clone(), m.config())?;
    if write(&Source::new(name, text), format, &rebuilt) != bytes {
        return Err(CompiledError::Corrupt(
            "its tables are not the ones its rules compile to (changed after compiling, checksum recomputed)".into(),
        ));
    }
    Ok(loaded)
}

/// The rule source saved in a compiled file, as it was written (name,
/// text, format), without checking the rules; also from a file written by
/// another lora-rules version with the same format version, so that its
/// rules can be compiled again. O(file size).
///
/// # Errors
/// [`CompiledError::NotCompiled`], [`CompiledError::Version`] for another
/// format version, [`CompiledError::Corrupt`].
pub fn saved_source(bytes: &[u8]) -> Result<(String, String, Format), CompiledError> {
    let mut r = open(bytes)?;
    r.str().map_err(CompiledError::Corrupt)?;
    let (source, format, _) = read_header(&mut r).map_err(CompiledError::Corrupt)?;
    Ok((source.name().to_string(), source.text().to_string(), format))
}

/// Checks the magic, format version and checksum; the reader is left at
/// the lora-rules version string.
fn open(bytes: &[u8]) -> Result<Reader<'_>, CompiledError> {
    let mut r = Reader::new(bytes);
    if r.bytes(MAGIC.len()).ok() != Some(&MAGIC[..]) {
        return Err(CompiledError::NotCompiled);
    }
    let format_version = r.u32().map_err(CompiledError::Corrupt)?;
    if format_version == 0 || format_version > 1024 {
        return Err(CompiledError::Corrupt(format!(
            "file format version {format_version} is not one lora-rules ever wrote"
        )));
    }
    if format_version != FORMAT_VERSION {
        return Err(CompiledError::Format {
            found: format_version,
        });
    }
    let sum = r.u64().map_err(CompiledError::Corrupt)?;
    if fnv1a(r.rest()) != sum {
        return Err(CompiledError::Corrupt(
            "the checksum does not match: the file was changed or cut after it was written".into(),
        ));
    }
    Ok(r)
}

/// The config and the source, named as when it was compiled (so that
/// diagnostics keep the `file:line:col` form; [`CompiledError::into_diagnostics`]
/// names the compiled file).
fn read_header(r: &mut Reader<'_>) -> Result<(Source, Format, Config), String> {
    let mut limits = [0usize; 5];
    for l in &mut limits {
        *l = usize::try_from(r.u64()?).map_err(|_| "a limit does not fit this machine")?;
    }
    let flag = |b: u8| match b {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(format!("{b} where a flag (0 or 1) was expected")),
    };
    let (force_lazy, literal_keys, ascii) = (flag(r.u8()?)?, flag(r.u8()?)?, flag(r.u8()?)?);
    let literal_keys_min =
        usize::try_from(r.u64()?).map_err(|_| "a limit does not fit this machine")?;
    let config = Config {
        dfa_size_limit: limits[0],
        determinize_size_limit: limits[1],
        nfa_size_limit: limits[2],
        lazy_cache_capacity: limits[3],
        inline_key_limit: limits[4],
        force_lazy,
        literal_keys,
        literal_keys_min,
        ascii,
    };
    let name = r.str()?.to_string();
    let text = r.str()?.to_string();
    let format = match r.u8()? {
        0 => Format::Lora,
        1 => Format::Json,
        b => return Err(format!("unknown source format {b}")),
    };
    Ok((Source::new(name, text), format, config))
}

fn read_saved(r: &mut Reader<'_>, rules: &RuleSet, which: &str) -> Result<Saved, CompiledError> {
    let tag = r.u8().map_err(CompiledError::Corrupt)?;
    match tag {
        0 => Ok(Saved::Absent),
        1 => Ok(Saved::Lazy),
        2 => Table::read(r, rules.rules().len())
            .map(|t| Saved::Table(Box::new(t)))
            .map_err(|e| CompiledError::Corrupt(format!("{which} table: {e}"))),
        t => Err(CompiledError::Corrupt(format!(
            "unknown {which} automaton tag {t}"
        ))),
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// FNV-1a, 64 bits: a checksum against accidental damage, not forgery.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A cursor over a compiled file; every read is bounds-checked and fails
/// with a message saying where the file ended.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    /// The next `n` bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        match self.bytes.get(self.at..self.at.saturating_add(n)) {
            Some(b) => {
                self.at += n;
                Ok(b)
            }
            None => Err(format!(
                "the file ends at byte {} where {n} more bytes were expected",
                self.bytes.len()
            )),
        }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, String> {
        Ok(self.bytes(1)?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, String> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.bytes(4)?);
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self) -> Result<u64, String> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.bytes(8)?);
        Ok(u64::from_le_bytes(b))
    }

    fn str(&mut self) -> Result<&'a str, String> {
        let n = self.u32()? as usize;
        let at = self.at;
        std::str::from_utf8(self.bytes(n)?).map_err(|_| format!("text at byte {at} is not UTF-8"))
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn rest(&self) -> &'a [u8] {
        &self.bytes[self.at..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RULES: &str = r#"
key "model\.layers\.1\..*" exclude
re ".*\.layers\.\d*3\.mlp\..*" { rank = 4 }
key "q_proj" { rank = 16 }
key "k_proj" { rank = 8 }
key "v_proj" { rank = 8 }
key "o_proj" { rank = 8 }
key "gate_proj" { rank = 4 }
key "up_proj" { rank = 4 }
key "down_proj" { rank = 4 }
key "mlp\.experts\.\d+7\.down_proj" { rank = 2 }
re ".*_proj" & !re ".*visual.*" { rank = 1 }
"#;

    const NAMES: &[&str] = &[
        "model.layers.0.self_attn.q_proj",
        "model.layers.1.self_attn.q_proj",
        "model.layers.13.mlp.down_proj",
        "model.layers.4.mlp.experts.17.down_proj",
        "model.layers.4.mlp.experts.17.w2_proj",
        "model.visual.blocks.0.attn.w_proj",
        "lm_head",
        "model.layers.2.mlp.gate_proj",
        "модель.layers.0.q_proj",
    ];

    fn compiled(config: &Config) -> (Vec<u8>, Matcher) {
        let source = Source::new("t.lora", RULES.to_string());
        let (rules, _) = crate::load(&source, Format::Lora).expect("rules");
        let m = Matcher::with_config(rules, config).expect("compile");
        (write(&source, Format::Lora, &m), m)
    }

    fn configs() -> Vec<Config> {
        vec![
            Config::default(),
            Config {
                inline_key_limit: 0,
                ..Config::default()
            },
            Config {
                force_lazy: true,
                ..Config::default()
            },
        ]
    }

    /// Where the checksummed part starts (magic, format version, checksum).
    const COVERED: usize = 20;

    fn fix_checksum(bytes: &mut [u8]) {
        let sum = fnv1a(&bytes[COVERED..]);
        bytes[12..COVERED].copy_from_slice(&sum.to_le_bytes());
    }

    #[test]
    fn round_trip_gives_the_same_answers_and_tables() {
        for config in configs() {
            let (bytes, m) = compiled(&config);
            let loaded = read(&bytes).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(loaded.source.text(), RULES);
            assert_eq!(loaded.source.name(), "t.lora");
            assert_eq!(loaded.format, Format::Lora);
            assert_eq!(loaded.matcher.stats(), m.stats(), "{config:?}");
            for n in NAMES {
                assert_eq!(loaded.matcher.resolve_index(n), m.resolve_index(n), "{n}");
            }
            // Written again, byte for byte the same.
            let source = Source::new("t.lora", loaded.source.text().to_string());
            assert_eq!(write(&source, loaded.format, &loaded.matcher), bytes);
            assert_eq!(
                saved_source(&bytes).expect("source"),
                ("t.lora".to_string(), RULES.to_string(), Format::Lora)
            );
        }
    }

    #[test]
    fn the_default_config_saves_both_tables() {
        let (bytes, _) = compiled(&Config::default());
        let m = read(&bytes).expect("read").matcher;
        let s = m.stats();
        assert_eq!((s.forward, s.reverse), ("dense", "dense"));
    }

    #[test]
    fn refuses_other_files_versions_and_damage() {
        let (bytes, _) = compiled(&Config::default());
        assert!(matches!(
            read(b"key \"q\" exclude"),
            Err(CompiledError::NotCompiled)
        ));
        let mut other = bytes.clone();
        other[8] = 9;
        let e = read(&other).unwrap_err();
        assert!(matches!(e, CompiledError::Format { found: 9 }), "{e}");
        other[8..12].copy_from_slice(&0x6e6e_6e6eu32.to_le_bytes());
        let e = read(&other).unwrap_err().to_string();
        assert!(e.contains("not one lora-rules ever wrote"), "{e}");
        // Another lora-rules version: refused, but its rules can be read.
        let mut newer = bytes.clone();
        newer[COVERED + 4] = b'9';
        fix_checksum(&mut newer);
        let e = read(&newer).unwrap_err().to_string();
        assert!(e.starts_with("written by lora-rules 9"), "{e}");
        assert_eq!(saved_source(&newer).expect("source").1, RULES);
        // Damage anywhere after the format version, the version string
        // included, is caught by the checksum.
        for at in [COVERED + 4, bytes.len() - 1] {
            let mut flipped = bytes.clone();
            flipped[at] ^= 1;
            let e = read(&flipped).unwrap_err().to_string();
            assert!(e.contains("checksum does not match"), "{e}");
        }
        let mut flipped = bytes.clone();
        flipped[30] ^= 1;
        let d = read(&flipped).unwrap_err().into_diagnostics("x.lorac");
        assert_eq!(d.iter().next().map(|d| d.code()), Some(code::COMPILED));
        // A cut or damaged magic still reads as a compiled file.
        assert!(is_compiled(&bytes[..3]) && is_compiled(b"LORARC\0\x07"));
        assert!(!is_compiled(b"") && !is_compiled(b"key \"LORARC\" exclude"));
    }

    /// Tables of another rule set of the same shape (two rules swapped),
    /// checksum recomputed: `read` takes them, `verify` does not.
    #[test]
    fn verify_refuses_tables_of_other_rules() {
        let swapped = RULES.replacen(
            "key \"k_proj\" { rank = 8 }\nkey \"v_proj\" { rank = 8 }",
            "key \"v_proj\" { rank = 8 }\nkey \"k_proj\" { rank = 8 }",
            1,
        );
        assert_ne!(swapped, RULES);
        let build = |text: &str| {
            let source = Source::new("t.lora", text.to_string());
            let (rules, _) = crate::load(&source, Format::Lora).expect("rules");
            let m = Matcher::with_config(rules, &Config::default()).expect("compile");
            write(&source, Format::Lora, &m)
        };
        let (ours, theirs) = (build(RULES), build(&swapped));
        assert_eq!(ours.len(), theirs.len());
        let tables_at = ours
            .windows(RULES.len())
            .position(|w| w == RULES.as_bytes())
            .expect("source in file")
            + RULES.len()
            + 1;
        let mut forged = ours[..tables_at].to_vec();
        forged.extend_from_slice(&theirs[tables_at..]);
        assert_ne!(forged, ours);
        fix_checksum(&mut forged);
        assert!(read(&forged).is_ok());
        let e = verify(&forged).unwrap_err().to_string();
        assert!(e.contains("not the ones its rules compile to"), "{e}");
        assert!(verify(&ours).is_ok());
    }

    #[test]
    fn every_truncation_is_an_error() {
        let (bytes, _) = compiled(&Config::default());
        for n in 0..bytes.len() {
            assert!(read(&bytes[..n]).is_err(), "cut at {n}");
        }
    }

    #[test]
    fn a_table_where_the_rules_have_none_is_refused() {
        // The forward automaton of `RULES` saved against rules with keys only
        // (no forward automaton at all) does not fit.
        let (bytes, _) = compiled(&Config::default());
        let keys = "key \"q_proj\" { rank = 16 }\n";
        let source = Source::new("t.lora", keys.to_string());
        let (rules, _) = crate::load(&source, Format::Lora).expect("rules");
        let mut r = open(&bytes).expect("open");
        r.str().expect("version");
        let (_, _, config) = read_header(&mut r).expect("header");
        let saved = [
            read_saved(&mut r, &rules, "forward"),
            read_saved(&mut r, &rules, "reverse"),
        ];
        match saved {
            [Ok(f), Ok(rev)] => {
                let e = Matcher::with_saved(rules, &config, [f, rev]).unwrap_err();
                assert!(e.to_string().contains("does not fit"), "{e}");
            }
            // Rule numbers past the one rule: refused while reading.
            [f, rev] => assert!(f.is_err() || rev.is_err()),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Any byte changed, checksum made to match: reading never panics,
        /// and a matcher it returns resolves without panicking.
        #[test]
        fn forged_bytes_never_panic(at in any::<prop::sample::Index>(), value in any::<u8>(), config in 0usize..3) {
            let (mut bytes, _) = compiled(&configs()[config]);
            let i = COVERED + at.index(bytes.len() - COVERED);
            bytes[i] = value;
            fix_checksum(&mut bytes);
            if let Ok(loaded) = read(&bytes) {
                for n in NAMES {
                    let _ = loaded.matcher.resolve_index(n);
                }
                let _ = loaded.matcher.resolve_batch(NAMES);
            }
        }
    }
}
