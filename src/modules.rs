//! Module-name inputs: what `resolve --modules` and `check --modules` read.
//!
//! | input | recognised by | module names |
//! |---|---|---|
//! | text / TSV | anything else | first tab- or space-separated column of each line; blank lines and `#` lines skipped; TSV columns `name, class, in_features, out_features` (as in `shared/models/*.tsv`) are kept; a `# output_embedding=NAME` line names the output embedding |
//! | safetensors index | name ends in `.index.json` | keys of `weight_map` (file order) with the last segment (the parameter: `weight`, `bias`, ...) dropped, duplicates removed |
//! | safetensors file | name ends in `.safetensors` | tensor names of the header (only the header is read), in data order, parameter segment dropped |

use std::io::Read;
use std::path::Path;

use crate::diag::{Diagnostic, Source, Span, code};

/// One module of a model.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Module {
    /// Dotted name as `named_modules()` prints it.
    pub name: String,
    /// The class name (`Linear`, `Embedding`, ...) when the input has one.
    pub class: Option<String>,
    /// `in_features` when known.
    pub in_features: Option<u64>,
    /// `out_features` when known.
    pub out_features: Option<u64>,
}

/// A list of modules read from an input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModuleList {
    /// The modules, in input order.
    pub modules: Vec<Module>,
    /// The output embedding (`# output_embedding=lm_head`), if declared.
    pub output_embedding: Option<String>,
}

impl ModuleList {
    /// The names only.
    pub fn names(&self) -> Vec<&str> {
        self.modules.iter().map(|m| m.name.as_str()).collect()
    }
}

/// Reads a whole file as UTF-8 text, refusing files over
/// [`crate::limits::MAX_FILE_BYTES`]. `-` reads standard input.
///
/// # Errors
/// A diagnostic naming the file for I/O errors, oversize files, and invalid
/// UTF-8 (located at the first bad byte, with line and column).
pub fn read_source(path: &Path) -> Result<Source, Diagnostic> {
    source_from_bytes(path.display().to_string(), read_bytes(path)?)
}

/// `bytes` read from a file named `name` as UTF-8 text.
///
/// # Errors
/// `L002` at the first invalid byte, with its line and column.
pub fn source_from_bytes(name: String, bytes: Vec<u8>) -> Result<Source, Diagnostic> {
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Source::new(name, text)),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let prefix = String::from_utf8_lossy(&bytes[..at]).into_owned();
            let src = Source::new(name.clone(), prefix);
            let (line, col) = src.line_col(at);
            Err(Diagnostic::error(
                code::ENCODING,
                format!("`{name}` is not valid UTF-8 (byte {at}, line {line}, column {col})"),
            )
            .with_span(Span::new(at, at), "invalid byte here")
            .with_source(&src)
            .with_help("save the file as UTF-8"))
        }
    }
}

/// The bytes of `path` (`-`: standard input), at most
/// [`crate::limits::MAX_FILE_BYTES`].
///
/// # Errors
/// A diagnostic naming the path: unreadable, a directory, or too large.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, Diagnostic> {
    let name = path.display().to_string();
    let io_err =
        |e: std::io::Error| Diagnostic::error(code::ENCODING, format!("cannot read `{name}`: {e}"));
    let limit = crate::limits::MAX_FILE_BYTES;
    let mut buf = Vec::new();
    if name == "-" {
        std::io::stdin()
            .lock()
            .take(limit + 1)
            .read_to_end(&mut buf)
            .map_err(io_err)?;
    } else {
        let f = std::fs::File::open(path).map_err(io_err)?;
        if f.metadata().map(|m| m.is_dir()).unwrap_or(false) {
            return Err(Diagnostic::error(
                code::ENCODING,
                format!("`{name}` is a directory, not a file"),
            ));
        }
        f.take(limit + 1).read_to_end(&mut buf).map_err(io_err)?;
    }
    if buf.len() as u64 > limit {
        return Err(Diagnostic::error(
            code::LIMIT,
            format!("`{name}` is larger than the {} MiB limit", limit >> 20),
        )
        .with_help("split the input"));
    }
    Ok(buf)
}

/// Reads module names from `path`, choosing the reader by the name (table in
/// the module docs).
///
/// # Errors
/// Located diagnostics for unreadable files, bad UTF-8, malformed JSON or
/// safetensors headers, empty or overlong names.
pub fn read_modules(path: &Path) -> Result<ModuleList, Diagnostic> {
    let name = path.display().to_string();
    if name.ends_with(".safetensors") {
        let tensors = read_safetensors_header(path)?;
        return from_tensor_names(tensors.into_iter().map(|(n, _)| n)).map_err(|msg| {
            Diagnostic::error(code::JSON_SHAPE, format!("`{name}`: {msg}"))
                .with_help("module names are dotted PyTorch names; fix or drop the tensor")
        });
    }
    let src = read_source(path)?;
    if name.ends_with(".index.json") {
        return parse_index(&src);
    }
    parse_text(&src)
}

/// Parses a text or TSV module list (see the module docs).
///
/// # Errors
/// A located diagnostic for a name over [`crate::limits::MAX_NAME_BYTES`], a
/// name with an empty segment, or a non-numeric feature column.
pub fn parse_text(src: &Source) -> Result<ModuleList, Diagnostic> {
    let mut out = ModuleList::default();
    let mut offset = 0usize;
    for line in src.text().split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let line = line.trim_end_matches(['\n', '\r']);
        let trimmed = line.trim_start_matches('\u{feff}').trim();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(c) = trimmed.strip_prefix('#') {
            if let Some(v) = c.trim().strip_prefix("output_embedding=") {
                out.output_embedding = Some(v.trim().to_string());
            }
            continue;
        }
        let mut cols = if line.contains('\t') {
            line.split('\t').collect::<Vec<_>>()
        } else {
            line.split_whitespace().collect()
        };
        if let Some(first) = cols.first_mut() {
            *first = first.trim_start_matches('\u{feff}').trim();
        }
        let name = cols.first().copied().unwrap_or("");
        let span = Span::new(start, start + line.len());
        validate_name(name).map_err(|msg| {
            Diagnostic::error(code::SYNTAX, msg)
                .with_span(span, "this line")
                .with_source(src)
        })?;
        let num = |i: usize| -> Result<Option<u64>, Diagnostic> {
            match cols.get(i).map(|s| s.trim()) {
                None | Some("") => Ok(None),
                Some(t) => t.parse::<u64>().map(Some).map_err(|_| {
                    Diagnostic::error(
                        code::SYNTAX,
                        format!("column {} is `{t}`, not a whole number", i + 1),
                    )
                    .with_span(span, "this line")
                    .with_source(src)
                    .with_help("the TSV columns are `name, class, in_features, out_features`")
                }),
            }
        };
        out.modules.push(Module {
            name: name.to_string(),
            class: cols
                .get(1)
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            in_features: num(2)?,
            out_features: num(3)?,
        });
    }
    Ok(out)
}

/// Checks one module name: non-empty, at most
/// [`crate::limits::MAX_NAME_BYTES`], no empty segment, no control
/// character (newline, NUL, ...: PyTorch never produces them).
///
/// # Errors
/// The problem in words.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.len() > crate::limits::MAX_NAME_BYTES {
        return Err(format!(
            "module name of {} bytes exceeds the {}-byte limit",
            name.len(),
            crate::limits::MAX_NAME_BYTES
        ));
    }
    if name.is_empty() {
        return Err("empty module name".into());
    }
    if name.chars().any(char::is_control) {
        return Err(format!(
            "module name `{}` contains a control character",
            name.escape_debug()
        ));
    }
    if name.split('.').any(str::is_empty) {
        return Err(format!("module name `{name}` has an empty segment"));
    }
    Ok(())
}

/// Module names of tensor names, each checked like a text line.
///
/// # Errors
/// The first bad name in words, naming its tensor.
fn from_tensor_names(names: impl Iterator<Item = String>) -> Result<ModuleList, String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = ModuleList::default();
    for t in names {
        let module = match t.rsplit_once('.') {
            Some((m, _param)) => m.to_string(),
            None => continue, // a root-level parameter belongs to no module
        };
        validate_name(&module).map_err(|msg| {
            format!(
                "tensor `{}` gives a bad module name: {msg}",
                t.escape_debug()
            )
        })?;
        if seen.insert(module.clone()) {
            out.modules.push(Module {
                name: module,
                ..Module::default()
            });
        }
    }
    Ok(out)
}

/// Parses a `model.safetensors.index.json` (or `pytorch_model.bin.index.json`).
///
/// # Errors
/// A located diagnostic when the JSON is malformed or has no `weight_map` object.
pub fn parse_index(src: &Source) -> Result<ModuleList, Diagnostic> {
    let v: serde_json::Value = serde_json::from_str(src.text()).map_err(|e| {
        let off = crate::syntax::json::offset_of_line_col(src.text(), e.line(), e.column());
        Diagnostic::error(code::JSON_SYNTAX, format!("invalid JSON: {e}"))
            .with_span(Span::new(off, off), "here")
            .with_source(src)
    })?;
    let Some(map) = v.get("weight_map").and_then(|m| m.as_object()) else {
        return Err(Diagnostic::error(code::JSON_SHAPE, "no `weight_map` object in the index")
            .with_source(src)
            .with_help("a safetensors index has `{\"metadata\": {...}, \"weight_map\": {\"<tensor>\": \"<shard>\"}}`"));
    };
    from_tensor_names(map.keys().cloned()).map_err(|msg| {
        Diagnostic::error(code::JSON_SHAPE, format!("`weight_map`: {msg}"))
            .with_source(src)
            .with_help("module names are dotted PyTorch names; fix or drop the tensor")
    })
}

/// A tensor of a safetensors header: name, dtype, shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Data type as safetensors spells it (`F32`, `BF16`, ...).
    pub dtype: String,
    /// Shape.
    pub shape: Vec<usize>,
}

/// Reads only the header of a `.safetensors` file (8-byte little-endian
/// length, then JSON) and returns its tensors in data-offset order.
///
/// # Errors
/// A diagnostic when the file is shorter than its declared header, the
/// header exceeds 100 MB, or safetensors rejects the header.
pub fn read_safetensors_header(path: &Path) -> Result<Vec<(String, TensorInfo)>, Diagnostic> {
    let name = path.display().to_string();
    let bad = |msg: String| {
        Diagnostic::error(code::JSON_SHAPE, format!("`{name}`: {msg}"))
            .with_help("is this a safetensors file?")
    };
    let mut f = std::fs::File::open(path)
        .map_err(|e| Diagnostic::error(code::ENCODING, format!("cannot read `{name}`: {e}")))?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len)
        .map_err(|_| bad("shorter than the 8-byte header length".into()))?;
    let n = u64::from_le_bytes(len);
    if n > 100_000_000 {
        return Err(bad(format!("header length {n} exceeds 100 MB")));
    }
    let mut header = Vec::new();
    f.take(n)
        .read_to_end(&mut header)
        .map_err(|e| bad(e.to_string()))?;
    if header.len() as u64 != n {
        return Err(bad(format!(
            "header is {} bytes, {n} declared",
            header.len()
        )));
    }
    let meta: safetensors::tensor::Metadata =
        serde_json::from_slice(&header).map_err(|e| bad(format!("invalid header: {e}")))?;
    let mut tensors: Vec<(String, &safetensors::tensor::TensorInfo)> =
        meta.tensors().into_iter().collect();
    tensors.sort_by(|a, b| {
        a.1.data_offsets
            .cmp(&b.1.data_offsets)
            .then_with(|| a.0.cmp(&b.0))
    });
    Ok(tensors
        .into_iter()
        .map(|(n, t)| {
            (
                n,
                TensorInfo {
                    dtype: format!("{:?}", t.dtype),
                    shape: t.shape.clone(),
                },
            )
        })
        .collect())
}

/// Writes `bytes` to `path` atomically: into a new temporary file in the
/// same directory (created exclusively), synced, given the permissions of
/// the file it replaces, then renamed over it. A failure at any point
/// leaves `path` untouched and removes the temporary file. A symbolic link
/// is followed (the file it points to is replaced, the link kept); a path
/// that exists but is not a regular file (`/dev/stdout`, a FIFO) is written
/// in place, as there is nothing to rename over.
///
/// # Errors
/// A diagnostic naming the path and the I/O error (`path` a directory
/// included).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Diagnostic> {
    use std::io::Write;
    let fail = |e: std::io::Error| {
        Diagnostic::error(
            code::ENCODING,
            format!("cannot write `{}`: {e}", path.display()),
        )
        .with_help("give a writable file path (its directory must exist)")
    };
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let existing = std::fs::metadata(&target).ok();
    if let Some(m) = &existing {
        if m.is_dir() {
            return Err(fail(std::io::Error::other(
                "it is a directory; name a file in it",
            )));
        }
        if !m.is_file() {
            return std::fs::OpenOptions::new()
                .write(true)
                .open(&target)
                .and_then(|mut f| f.write_all(bytes))
                .map_err(fail);
        }
    }
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let file_name = target
        .file_name()
        .ok_or_else(|| fail(std::io::Error::other("the output path names no file")))?
        .to_string_lossy()
        .into_owned();
    // Short enough that the temporary name fits where the name itself fits.
    let stem: String = file_name.chars().take(64).collect();
    let mut n = 0u32;
    let (tmp, mut f) = loop {
        let tmp = dir.join(format!(".{stem}.tmp-{}-{n}", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => n += 1,
            Err(e) => return Err(fail(e)),
        }
    };
    let r = f
        .write_all(bytes)
        .and_then(|()| match &existing {
            Some(m) => f.set_permissions(m.permissions()),
            None => Ok(()),
        })
        .and_then(|()| f.sync_all())
        .and_then(|()| {
            drop(f);
            std::fs::rename(&tmp, &target)
        });
    if let Err(e) = r {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e));
    }
    Ok(())
}
