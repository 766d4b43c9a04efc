//! One diagnostic model for every stage: a stable code, a severity, a
//! message, a primary span with a label, extra labels and a help text.
//!
//! The library builds [`Diagnostic`] values; the CLI decides how to draw
//! them (graphical, plain or JSON, see `--error-format`). Messages follow one
//! style: lowercase, no trailing period, user input in backticks, advice in
//! `help` (cedar's error style guide).

use std::fmt;
use std::sync::Arc;

/// A named source text (a rule file, a config, or an inline string).
///
/// Cheap to clone: the text is shared.
#[derive(Clone)]
pub struct Source {
    name: Arc<str>,
    text: Arc<str>,
    /// Byte offsets of line starts, computed on first use.
    lines: Arc<std::sync::OnceLock<Vec<usize>>>,
}

impl PartialEq for Source {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.text == other.text
    }
}

impl Eq for Source {}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Source({:?}, {} bytes)", self.name, self.text.len())
    }
}

impl Source {
    /// Wraps `text` under the display `name` (usually a path).
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Source {
            name: Arc::from(name.into()),
            text: Arc::from(text.into()),
            lines: Arc::default(),
        }
    }

    /// The display name (a path or `<stdin>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The whole text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// 1-based line and column (in characters) of byte `offset`.
    ///
    /// Offsets past the end are clamped to the end; an offset inside a
    /// multi-byte character counts that character. O(log lines + line
    /// length) after a one-time O(n) index of line starts.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let lines = self.lines.get_or_init(|| {
            std::iter::once(0)
                .chain(
                    self.text
                        .bytes()
                        .enumerate()
                        .filter(|(_, b)| *b == b'\n')
                        .map(|(i, _)| i + 1),
                )
                .collect()
        });
        let line = lines.partition_point(|&start| start <= offset).max(1);
        let start = lines[line - 1];
        let col = self.text.get(start..).map_or(0, |rest| {
            rest.char_indices()
                .take_while(|&(i, _)| start + i < offset)
                .count()
        });
        (line, col + 1)
    }

    /// The source text under `span`, or `""` when the span is out of range or
    /// not on character boundaries.
    pub fn snippet(&self, span: Span) -> &str {
        self.text.get(span.start..span.end).unwrap_or("")
    }
}

/// A byte range `[start, end)` into a [`Source`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// The span `[start, end)`; `end` is raised to `start` if smaller.
    pub fn new(start: usize, end: usize) -> Self {
        Span {
            start,
            end: end.max(start),
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// True for an empty span (a position).
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// A likely mistake; compilation still succeeds (`--deny-warnings` makes it fatal).
    Warning,
    /// Compilation cannot proceed.
    Error,
}

impl Severity {
    /// `"warning"` or `"error"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// A labelled span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What to say there (may be empty).
    pub text: String,
}

/// Stable diagnostic codes; `spec/README.md` lists each with an example.
#[allow(missing_docs)]
pub mod code {
    pub const SYNTAX: &str = "L001";
    pub const ENCODING: &str = "L002";
    pub const EMPTY: &str = "L003";
    pub const LIMIT: &str = "L004";
    pub const UNKNOWN_ATTR: &str = "L010";
    pub const ATTR_TYPE: &str = "L011";
    pub const ATTR_RANGE: &str = "L012";
    pub const DUPLICATE_ATTR: &str = "L013";
    pub const BAD_DECLARATION: &str = "L015";
    pub const REGEX_SYNTAX: &str = "L020";
    pub const REGEX_UNSUPPORTED: &str = "L021";
    pub const PATH_SYNTAX: &str = "L022";
    pub const PATTERN_TOO_BIG: &str = "L023";
    pub const JSON_SYNTAX: &str = "L030";
    pub const JSON_DUPLICATE_KEY: &str = "L031";
    pub const JSON_SHAPE: &str = "L032";
    pub const AUTOMATON_LIMIT: &str = "L040";
    pub const COMPILED: &str = "L041";
    pub const DEAD_RULE: &str = "L050";
    pub const RULE_MATCHES_NOTHING: &str = "L051";
    pub const UNESCAPED_DOT: &str = "L053";
    pub const ANCHORED_KEY: &str = "L054";
    pub const SHADOWED_ON_MODEL: &str = "L055";
    pub const EXCLUDE_HIDES_KIND: &str = "L056";
    pub const LEGACY: &str = "L070";
    pub const LEGACY_UNSUPPORTED: &str = "L071";
    pub const LEGACY_IGNORED_FIELD: &str = "L072";
}

/// One problem found in one source.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    code: &'static str,
    severity: Severity,
    message: String,
    primary: Option<Label>,
    labels: Vec<Label>,
    help: Option<String>,
    source: Option<Source>,
}

impl Diagnostic {
    /// An error with `code` (see [`code`]) and `message`.
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            primary: None,
            labels: Vec::new(),
            help: None,
            source: None,
        }
    }

    /// A warning with `code` and `message`.
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    /// Sets the primary span and its label.
    #[must_use]
    pub fn with_span(mut self, span: Span, label: impl Into<String>) -> Self {
        self.primary = Some(Label {
            span,
            text: label.into(),
        });
        self
    }

    /// Adds a secondary label.
    #[must_use]
    pub fn with_label(mut self, span: Span, label: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            text: label.into(),
        });
        self
    }

    /// Sets the help text (advice on how to fix it).
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Attaches the source the spans point into.
    #[must_use]
    pub fn with_source(mut self, source: &Source) -> Self {
        self.source = Some(source.clone());
        self
    }

    /// Turns a warning into an error (`--deny-warnings`).
    #[must_use]
    pub fn into_error(mut self) -> Self {
        self.severity = Severity::Error;
        self
    }

    /// The stable code, e.g. `"L010"`.
    pub fn code(&self) -> &'static str {
        self.code
    }
    /// Error or warning.
    pub fn severity(&self) -> Severity {
        self.severity
    }
    /// The one-line message.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The primary label, if located.
    pub fn primary(&self) -> Option<&Label> {
        self.primary.as_ref()
    }
    /// Secondary labels.
    pub fn labels(&self) -> &[Label] {
        &self.labels
    }
    /// The advice, if any.
    pub fn help(&self) -> Option<&str> {
        self.help.as_deref()
    }
    /// The source the spans point into.
    pub fn source(&self) -> Option<&Source> {
        self.source.as_ref()
    }

    /// `file:line:col` of the primary span, when located.
    pub fn location(&self) -> Option<String> {
        let (src, label) = (self.source.as_ref()?, self.primary.as_ref()?);
        let (line, col) = src.line_col(label.span.start);
        Some(format!("{}:{line}:{col}", src.name()))
    }

    /// The text under the primary span (`""` when not located).
    pub fn snippet(&self) -> &str {
        match (&self.source, &self.primary) {
            (Some(src), Some(label)) => src.snippet(label.span),
            _ => "",
        }
    }

    /// Plain one-block rendering (no colours, no box drawing), for screen
    /// readers and logs:
    ///
    /// ```text
    /// error[L010]: unknown attribute `rnak`
    ///   --> rules.lora:3:5: did you mean `rank`?
    ///   help: ...
    /// ```
    pub fn render_plain(&self) -> String {
        let mut out = format!(
            "{}[{}]: {}",
            self.severity.as_str(),
            self.code,
            self.message
        );
        if let Some(loc) = self.location() {
            out.push_str(&format!("\n  --> {loc}"));
            if let Some(label) = &self.primary
                && !label.text.is_empty()
            {
                out.push_str(&format!(": {}", label.text));
            }
        } else if let Some(src) = &self.source {
            out.push_str(&format!("\n  --> {}", src.name()));
        }
        for label in &self.labels {
            if let Some(src) = &self.source {
                let (l, c) = src.line_col(label.span.start);
                out.push_str(&format!("\n  --> {}:{l}:{c}: {}", src.name(), label.text));
            }
        }
        if let Some(help) = &self.help {
            out.push_str(&format!("\n  help: {help}"));
        }
        out
    }

    /// JSON rendering for tools: `{"code", "severity", "message", "file",
    /// "line", "column", "span": [start, end], "snippet", "label", "labels",
    /// "help"}` (`null` where unknown).
    pub fn to_json(&self) -> serde_json::Value {
        let loc = match (&self.source, &self.primary) {
            (Some(src), Some(l)) => Some(src.line_col(l.span.start)),
            _ => None,
        };
        let labels: Vec<serde_json::Value> = self
            .labels
            .iter()
            .map(|l| {
                let (line, col) = self
                    .source
                    .as_ref()
                    .map(|s| s.line_col(l.span.start))
                    .unwrap_or((0, 0));
                serde_json::json!({"span": [l.span.start, l.span.end], "line": line, "column": col, "label": l.text})
            })
            .collect();
        serde_json::json!({
            "code": self.code,
            "severity": self.severity.as_str(),
            "message": self.message,
            "file": self.source.as_ref().map(|s| s.name().to_string()),
            "line": loc.map(|l| l.0),
            "column": loc.map(|l| l.1),
            "span": self.primary.as_ref().map(|l| [l.span.start, l.span.end]),
            "snippet": self.primary.as_ref().map(|_| self.snippet()),
            "label": self.primary.as_ref().map(|l| l.text.clone()),
            "labels": labels,
            "help": self.help,
        })
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

impl miette::Diagnostic for Diagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display + 'a>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.source.as_ref()?;
        let len = self.source.as_ref().map_or(0, |s| s.text.len());
        let clamp = move |s: Span| {
            let start = s.start.min(len);
            miette::SourceSpan::new(start.into(), s.end.min(len) - start)
        };
        let primary = self.primary.iter().map(move |l| {
            miette::LabeledSpan::new_primary_with_span(
                (!l.text.is_empty()).then(|| l.text.clone()),
                clamp(l.span),
            )
        });
        let others = self.labels.iter().map(move |l| {
            miette::LabeledSpan::new_with_span(
                (!l.text.is_empty()).then(|| l.text.clone()),
                clamp(l.span),
            )
        });
        Some(Box::new(primary.chain(others)))
    }
}

impl miette::SourceCode for Source {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let inner =
            self.text
                .as_ref()
                .read_span(span, context_lines_before, context_lines_after)?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.to_string(),
            inner.data(),
            *inner.span(),
            inner.line(),
            inner.column(),
            inner.line_count(),
        )))
    }
}

/// Every diagnostic of one run: errors and warnings together, in the order
/// found. Compilation succeeded iff [`Diagnostics::has_errors`] is false.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds one.
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }
    /// Adds all of `other`.
    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }
    /// True if any is an error.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }
    /// All, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }
    /// Only the errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.severity == Severity::Error)
    }
    /// Only the warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }
    /// Number of diagnostics.
    pub fn len(&self) -> usize {
        self.items.len()
    }
    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    /// Attaches `source` to every diagnostic that has none.
    pub fn attach_source(&mut self, source: &Source) {
        for d in &mut self.items {
            if d.source.is_none() {
                d.source = Some(source.clone());
            }
        }
    }
    /// Turns every warning into an error.
    pub fn deny_warnings(&mut self) {
        for d in &mut self.items {
            d.severity = Severity::Error;
        }
    }
    /// Consumes the list.
    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.items
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.items.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            f.write_str(&d.render_plain())?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}
