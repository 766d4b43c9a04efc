//! Subcommands, argument parsing (clap) and exit codes.
//!
//! Exit codes (API, see README): 0 success; 1 the input has errors
//! (diagnostics) or `inspect` found disagreements; 2 usage or I/O error.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use lora_rules::diag::{Diagnostic, Diagnostics};
use lora_rules::modules::ModuleList;
use lora_rules::{Format, Matcher};

mod legacy;
mod output;
mod peft_cmds;

/// Documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: success.
    Ok,
    /// 1: the input has errors (or `--deny-warnings` and warnings).
    Diagnostics,
    /// 2: usage or I/O error.
    Usage,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(match e {
            Exit::Ok => 0,
            Exit::Diagnostics => 1,
            Exit::Usage => 2,
        })
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum ErrorFormat {
    /// Graphical, with the source line underlined.
    Human,
    /// Plain text, one block per diagnostic.
    Plain,
    /// One JSON object per line.
    Json,
}

/// Compile ordered LoRA targeting rules into one automaton and resolve model modules.
#[derive(Debug, Parser)]
#[command(name = "lora-rules", version, about, long_about = None)]
struct Args {
    /// How diagnostics are printed (stderr).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "human",
        env = "LORA_RULES_ERROR_FORMAT"
    )]
    error_format: ErrorFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum OutFormat {
    /// Aligned columns and a summary.
    Table,
    /// One JSON object per module.
    Jsonl,
    /// One JSON array.
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum FmtTarget {
    /// The `.lora` language.
    Lora,
    /// The JSON dictionary form.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse and type-check a rule file (`.lora` or JSON); exit 1 on errors.
    Check {
        /// The rule file (`.lora` or JSON), or a compiled file (`lora-rules
        /// compile`, whose tables are then rebuilt and compared); `-` for stdin.
        rules: PathBuf,
        /// Also lint against a model's modules (same inputs as `resolve --modules`).
        #[arg(long, short = 'm')]
        modules: Option<PathBuf>,
        /// Treat warnings as errors.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Resolve every module of INPUT against the rules.
    Resolve {
        /// The rule file (`.lora` or JSON dictionary), a compiled file
        /// (`lora-rules compile`), or a legacy PEFT `adapter_config.json`;
        /// `-` for stdin.
        rules: PathBuf,
        /// Module names: a text/TSV file (first column), `-` for stdin, a
        /// `*.index.json` safetensors index, or a `.safetensors` file (header only).
        #[arg(long, short = 'm')]
        modules: PathBuf,
        /// Output format.
        #[arg(long, short = 'f', value_enum, default_value = "table")]
        format: OutFormat,
    },
    /// Print a rule file in canonical layout (comments kept), or convert
    /// between `.lora` and the JSON dictionary form.
    Fmt {
        /// The rule file (`.lora` or JSON).
        file: PathBuf,
        /// Output form (default: the input's form; JSON input → `.lora` with `--to lora`).
        #[arg(long, value_enum)]
        to: Option<FmtTarget>,
        /// Rewrite FILE in place (atomically) instead of printing.
        #[arg(long, conflicts_with = "check")]
        write: bool,
        /// Exit 1 if FILE is not already formatted (prints nothing).
        #[arg(long)]
        check: bool,
    },
    /// Save the rules with their compiled automata, for servers that load a
    /// large rule set often: `resolve`, `explain` and `export` take the
    /// compiled file in place of RULES and skip building the automata (the
    /// rules are still checked; `check` also rebuilds the tables to compare
    /// them). After upgrading lora-rules: `compile FILE -o FILE`.
    Compile {
        /// The rule file (`.lora` or JSON dictionary), or a compiled file
        /// whose saved rules are compiled again; `-` for stdin.
        rules: PathBuf,
        /// The compiled file to write (e.g. `rules.lorac`), atomically; `-`:
        /// standard output.
        #[arg(long, short = 'o')]
        output: PathBuf,
    },
    /// Print the rule file saved in a compiled file, as it was written.
    Decompile {
        /// The compiled file; `-` for stdin.
        file: PathBuf,
    },
    /// Show the winning rule for MODULE and every other rule that matches it.
    Explain {
        /// The rule file (`.lora` or JSON), or a compiled file; `-` for stdin.
        rules: PathBuf,
        /// A module name.
        module: String,
    },
    /// Convert a legacy PEFT adapter_config.json into an equivalent rule file.
    Convert {
        /// The PEFT config (`adapter_config.json` or `LoraConfig` kwargs as JSON).
        config: PathBuf,
        /// The model's module list (TSV of examples/models/, text, index or safetensors):
        /// needed for "all-linear", null targets, layer filters and Python-only regexes.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Write here (atomically) instead of stdout.
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
        /// Output form.
        #[arg(long, short = 'f', value_enum, default_value = "lora")]
        format: peft_cmds::ConvertFormat,
    },
    /// Export rules as a PEFT 0.21.2 adapter_config.json fragment, exact on INPUT's modules.
    Export {
        /// The rule file.
        rules: PathBuf,
        /// The module list the fragment must be exact on.
        #[arg(long, short = 'm')]
        modules: PathBuf,
        /// Output form.
        #[arg(long, short = 'f', value_enum)]
        format: peft_cmds::ExportFormat,
        /// Export even when some attributes cannot be expressed, listing every loss.
        #[arg(long)]
        allow_lossy: bool,
        /// Write here (atomically) instead of stdout.
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
    },
    /// Check a saved adapter directory: config against tensor shapes, module by module.
    Inspect {
        /// Directory with adapter_config.json and adapter_model.safetensors.
        adapter_dir: PathBuf,
        /// The base model's module list (else: the modules having LoRA tensors).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Output form.
        #[arg(long, short = 'f', value_enum, default_value = "table")]
        format: peft_cmds::InspectFormat,
    },
}

/// Renders diagnostics to stderr in the chosen format.
/// A line of information on stderr: `text` as it is, or with
/// `--error-format json` the object `{"severity": "note", "message": text}`,
/// so that every stderr line of `check` is JSON for a JSON consumer.
pub(crate) fn info(format: ErrorFormat, text: &str) {
    match format {
        ErrorFormat::Json => eprintln!(
            "{}",
            serde_json::json!({"severity": "note", "message": text})
        ),
        ErrorFormat::Plain | ErrorFormat::Human => eprintln!("{text}"),
    }
}

/// A warning without a location on stderr: `warning[CODE]: FILE: message`,
/// or with `--error-format json` the object `{"code", "severity":
/// "warning", "message", "file"}` (legacy-config warnings, lossy export).
pub(crate) fn warn_line(format: ErrorFormat, code: &str, file: &str, message: &str) {
    match format {
        ErrorFormat::Json => eprintln!(
            "{}",
            serde_json::json!({"code": code, "severity": "warning", "message": message, "file": file})
        ),
        ErrorFormat::Plain | ErrorFormat::Human => {
            eprintln!("warning[{code}]: {file}: {message}")
        }
    }
}

pub(crate) fn report(diags: &Diagnostics, format: ErrorFormat) {
    let mut err = std::io::stderr().lock();
    for d in diags.iter() {
        let _ = match format {
            ErrorFormat::Json => writeln!(err, "{}", d.to_json()),
            ErrorFormat::Plain => writeln!(err, "{}", d.render_plain()),
            ErrorFormat::Human => writeln!(err, "{}", render_human(d)),
        };
    }
}

fn render_human(d: &Diagnostic) -> String {
    use std::io::IsTerminal;
    let theme = if std::io::stderr().is_terminal() {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut s = String::new();
    match handler.render_report(&mut s, d) {
        Ok(()) => s,
        Err(_) => d.render_plain(),
    }
}

pub(crate) fn one(d: Diagnostic) -> Diagnostics {
    let mut ds = Diagnostics::new();
    ds.push(d);
    ds
}

/// Loads and compiles a rule file.
/// A rule file as read: text, or a compiled file (`lora-rules compile`).
pub(crate) enum RulesInput {
    /// A `.lora`, JSON or legacy config text.
    Text(lora_rules::diag::Source),
    /// A compiled file's bytes and the name it was given.
    Compiled(Vec<u8>, String),
}

/// Reads RULES once (it may be a pipe or `-`) and tells a compiled file
/// (magic bytes, or a `.lorac` name) from text.
pub(crate) fn read_rules(path: &Path) -> Result<RulesInput, (Diagnostics, Exit)> {
    let bytes = lora_rules::modules::read_bytes(path).map_err(|d| (one(d), Exit::Usage))?;
    let name = path.display().to_string();
    // A `.lorac` name that is empty or not text is a damaged compiled file,
    // not a rule file with an encoding problem.
    let lorac = path.extension().is_some_and(|e| e == "lorac")
        && (bytes.is_empty() || std::str::from_utf8(&bytes).is_err());
    if lora_rules::compiled::is_compiled(&bytes) || lorac {
        return Ok(RulesInput::Compiled(bytes, name));
    }
    lora_rules::modules::source_from_bytes(name, bytes)
        .map(RulesInput::Text)
        .map_err(|d| (one(d), Exit::Usage))
}

/// The checked, compiled rules of RULES (text or compiled file) and their
/// warnings.
pub(crate) fn load_rules(path: &Path) -> Result<(Matcher, Diagnostics), (Diagnostics, Exit)> {
    load_input(read_rules(path)?, false)
}

/// [`load_rules`] from what [`read_rules`] read; `verify`: a compiled file's
/// tables are also rebuilt and compared (`compiled::verify`).
pub(crate) fn load_input(
    input: RulesInput,
    verify: bool,
) -> Result<(Matcher, Diagnostics), (Diagnostics, Exit)> {
    match input {
        RulesInput::Compiled(bytes, name) => {
            let read = if verify {
                lora_rules::compiled::verify
            } else {
                lora_rules::compiled::read
            };
            let loaded =
                read(&bytes).map_err(|e| (e.into_diagnostics(&name), Exit::Diagnostics))?;
            Ok((loaded.matcher, loaded.warnings))
        }
        RulesInput::Text(source) => {
            let format = Format::detect(source.name(), source.text());
            lora_rules::compile_source(&source, format, &lora_rules::engine::Config::default())
                .map_err(|d| {
                    // One clear error, not an L032 per config field.
                    if legacy::is_legacy_config(&source) {
                        peft_config_given(
                            source.name(),
                            "or `resolve` it directly, as PEFT 0.21.2 would",
                        )
                    } else {
                        (d, Exit::Diagnostics)
                    }
                })
        }
    }
}

/// The error for a PEFT `adapter_config.json` given where a rule file is
/// expected: points to `convert`, then says what else to do (`then`).
fn peft_config_given(name: &str, then: &str) -> (Diagnostics, Exit) {
    (
        one(Diagnostic::error(
            lora_rules::diag::code::LEGACY,
            format!("`{name}` is a PEFT adapter config, not a rule file"),
        )
        .with_help(format!(
            "convert it first: `lora-rules convert {name} -o rules.lora`, {then}"
        ))),
        Exit::Diagnostics,
    )
}

/// `lora-rules compile`: RULES (text, or a compiled file whose saved rules
/// are compiled again) to OUTPUT (`-`: standard output).
fn compile_cmd(rules: &Path, output: &Path, fmt: ErrorFormat) -> Run {
    let usage = |message: String, help: &str| {
        (
            one(Diagnostic::error(lora_rules::diag::code::ENCODING, message).with_help(help)),
            Exit::Usage,
        )
    };
    let t = std::time::Instant::now();
    let (source, format) = match read_rules(rules)? {
        RulesInput::Text(source) => {
            if legacy::is_legacy_config(&source) {
                return Err(peft_config_given(
                    &rules.display().to_string(),
                    "then compile rules.lora",
                ));
            }
            if output != Path::new("-") && same_file(rules, output) {
                return Err(usage(
                    format!(
                        "`-o {}` is the rule file itself: compiling would replace its text with binary tables",
                        output.display()
                    ),
                    "write the compiled file beside it, e.g. `-o rules.lorac`",
                ));
            }
            let format = Format::detect(source.name(), source.text());
            (source, format)
        }
        RulesInput::Compiled(bytes, name) => {
            let (saved_name, text, format) = lora_rules::compiled::saved_source(&bytes)
                .map_err(|e| (e.into_diagnostics(&name), Exit::Diagnostics))?;
            (lora_rules::diag::Source::new(saved_name, text), format)
        }
    };
    let (m, bytes, warnings) =
        lora_rules::compiled::compile(&source, format, &lora_rules::engine::Config::default())
            .map_err(|d| (d, Exit::Diagnostics))?;
    let built = t.elapsed();
    report(&warnings, fmt);
    let to_stdout = output == Path::new("-");
    if to_stdout {
        use std::io::Write;
        std::io::stdout().lock().write_all(&bytes).map_err(|e| {
            usage(
                format!("cannot write to standard output: {e}"),
                "check the pipe",
            )
        })?;
    } else {
        lora_rules::modules::write_atomic(output, &bytes).map_err(|d| (one(d), Exit::Usage))?;
    }
    let s = m.stats();
    let to = if to_stdout {
        "standard output".to_string()
    } else {
        output.display().to_string()
    };
    info(
        fmt,
        &format!(
            "wrote {to}: {} bytes; forward automaton {}, reverse {} ({} states in all); checking and building took {} ms",
            bytes.len(),
            s.forward,
            s.reverse,
            s.dense_states,
            built.as_millis()
        ),
    );
    Ok(Exit::Ok)
}

/// Whether two paths name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn load_modules(path: &Path) -> Result<ModuleList, (Diagnostics, Exit)> {
    lora_rules::modules::read_modules(path).map_err(|d| (one(d), Exit::Usage))
}

/// Entry point: parse arguments, run, map to an exit code.
pub fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage.into()
            } else {
                Exit::Ok.into()
            };
        }
    };
    let fmt = args.error_format;
    let result = run(args.command, fmt);
    match result {
        Ok(code) => code.into(),
        Err((diags, code)) => {
            report(&diags, fmt);
            code.into()
        }
    }
}

type Run = Result<Exit, (Diagnostics, Exit)>;

fn run(cmd: Command, fmt: ErrorFormat) -> Run {
    match cmd {
        Command::Check {
            rules,
            modules,
            deny_warnings,
        } => {
            // A compiled file's tables are rebuilt and compared, too.
            let input = read_rules(&rules)?;
            let compiled = matches!(input, RulesInput::Compiled(..));
            let (m, mut warnings) = load_input(input, true)?;
            if compiled {
                info(
                    fmt,
                    "compiled file: its tables are the ones its rules compile to",
                );
            }
            warnings.extend(lora_rules::lints::pattern_lints(m.rules()));
            let (dead, skipped) = lora_rules::lints::dead_rules(m.rules());
            warnings.extend(dead);
            if let Some(why) = skipped {
                info(fmt, &format!("note: dead-rule analysis skipped: {why}"));
            }
            if let Some(path) = modules {
                let list = load_modules(&path)?;
                let names = list.names();
                let winners = m.resolve_batch(&names);
                warnings.extend(lora_rules::lints::unused_on_model(
                    m.rules(),
                    &winners,
                    &names,
                ));
                let (overlap, skipped) =
                    lora_rules::lints::overlap_on_model(m.rules(), &winners, &list);
                warnings.extend(overlap);
                if let Some(why) = skipped {
                    info(fmt, &format!("note: overlap lints skipped: {why}"));
                }
            }
            if deny_warnings {
                warnings.deny_warnings();
            }
            report(&warnings, fmt);
            if warnings.has_errors() {
                return Ok(Exit::Diagnostics);
            }
            let s = m.stats();
            info(
                fmt,
                &format!(
                    "ok: {} rules, {} warning(s), forward automaton {} ({} patterns), reverse {} ({} patterns), {} KiB",
                    m.rules().rules().len(),
                    warnings.len(),
                    s.forward,
                    s.forward_patterns,
                    s.reverse,
                    s.reverse_patterns,
                    s.memory.div_ceil(1024)
                ),
            );
            Ok(Exit::Ok)
        }
        Command::Resolve {
            rules,
            modules,
            format,
        } => {
            let input = read_rules(&rules)?;
            let list = load_modules(&modules)?;
            let names = list.names();
            let (rows, rule_names) = if let RulesInput::Text(source) = &input
                && legacy::is_legacy_config(source)
            {
                (legacy::rows(source, &list, fmt)?, Vec::new())
            } else {
                let (m, warnings) = load_input(input, false)?;
                report(&warnings, fmt);
                let winners = m.resolve_batch(&names);
                let rule_names = m
                    .rules()
                    .rules()
                    .iter()
                    .map(|r| {
                        (
                            r.pattern_text.clone(),
                            m.rules().location(r.index).unwrap_or_default(),
                        )
                    })
                    .collect();
                (output::rows(&m, &names, &winners), rule_names)
            };
            let out = std::io::stdout();
            let mut w = std::io::BufWriter::new(out.lock());
            let r = match format {
                OutFormat::Jsonl => output::jsonl(&mut w, &rows),
                OutFormat::Json => output::json(&mut w, &rows),
                OutFormat::Table => output::table(&mut w, &rows, &rule_names),
            }
            .and_then(|()| w.flush());
            match r {
                Ok(()) => Ok(Exit::Ok),
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Exit::Ok),
                Err(e) => Err((
                    one(Diagnostic::error(
                        lora_rules::diag::code::ENCODING,
                        format!("cannot write output: {e}"),
                    )),
                    Exit::Usage,
                )),
            }
        }
        Command::Fmt {
            file,
            to,
            write,
            check,
        } => {
            let source = match read_rules(&file)? {
                RulesInput::Text(source) => source,
                RulesInput::Compiled(_, name) => {
                    return Err((
                        one(Diagnostic::error(
                            lora_rules::diag::code::COMPILED,
                            format!("{name} is a compiled rule file, not rule text"),
                        )
                        .with_help(format!(
                            "`lora-rules decompile {name}` prints the rules saved in it"
                        ))),
                        Exit::Diagnostics,
                    ));
                }
            };
            let text = source
                .text()
                .strip_prefix('\u{feff}')
                .unwrap_or(source.text());
            let input = Format::detect(source.name(), text);
            let target = match to {
                Some(FmtTarget::Json) => Format::Json,
                Some(FmtTarget::Lora) => Format::Lora,
                None => input,
            };
            let with_source = |mut d: Diagnostics| {
                d.attach_source(&source);
                (d, Exit::Diagnostics)
            };
            let out = match (input, target) {
                (Format::Lora, Format::Lora) => {
                    lora_rules::fmt::format_lora(text).map_err(with_source)?
                }
                (Format::Json, Format::Lora) => {
                    lora_rules::fmt::json_to_lora(text).map_err(with_source)?
                }
                (Format::Lora, Format::Json) => {
                    let ast = lora_rules::syntax::parse(text).map_err(with_source)?;
                    lora_rules::fmt::to_json(&ast).map_err(with_source)?
                }
                (Format::Json, Format::Json) => {
                    let ast = lora_rules::syntax::json::parse(text).map_err(with_source)?;
                    lora_rules::fmt::to_json(&ast).map_err(with_source)?
                }
            };
            if check {
                if out == source.text() {
                    return Ok(Exit::Ok);
                }
                // Say where, not only that: the first line that differs.
                let (old, new) = (source.text(), out.as_str());
                let line = old
                    .lines()
                    .zip(new.lines())
                    .take_while(|(a, b)| a == b)
                    .count();
                let shown = |t: &str| t.lines().nth(line).unwrap_or("(end of file)").to_string();
                info(
                    fmt,
                    &format!(
                        "{}: not in canonical form; first difference at line {}:\n  - {}\n  + {}\nrun `lora-rules fmt --write {}` to rewrite it",
                        source.name(),
                        line + 1,
                        shown(old),
                        shown(new),
                        source.name()
                    ),
                );
                return Ok(Exit::Diagnostics);
            }
            if write {
                lora_rules::modules::write_atomic(&file, out.as_bytes())
                    .map_err(|d| (one(d), Exit::Usage))?;
            } else {
                print!("{out}");
            }
            Ok(Exit::Ok)
        }
        Command::Convert {
            config,
            model,
            output,
            format,
        } => peft_cmds::convert_cmd(&config, model.as_deref(), output.as_deref(), format, fmt),
        Command::Export {
            rules,
            modules,
            format: peft_cmds::ExportFormat::Peft,
            allow_lossy,
            output,
        } => peft_cmds::export_cmd(&rules, &modules, allow_lossy, output.as_deref(), fmt),
        Command::Inspect {
            adapter_dir,
            model,
            format,
        } => peft_cmds::inspect_cmd(&adapter_dir, model.as_deref(), format, fmt),
        Command::Compile { rules, output } => compile_cmd(&rules, &output, fmt),
        Command::Decompile { file } => {
            let bytes =
                lora_rules::modules::read_bytes(&file).map_err(|d| (one(d), Exit::Usage))?;
            let name = file.display().to_string();
            let (_, text, _) = lora_rules::compiled::saved_source(&bytes).map_err(|e| {
                let mut d = e.into_diagnostics(&name);
                if !lora_rules::compiled::is_compiled(&bytes) {
                    d = one(
                        Diagnostic::error(
                            lora_rules::diag::code::COMPILED,
                            format!("{name}: not a compiled rule file: nothing to decompile"),
                        )
                        .with_help("decompile takes a file written by `lora-rules compile RULES -o FILE`; a rule file in text is already its own source"),
                    );
                }
                (d, Exit::Diagnostics)
            })?;
            use std::io::Write;
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            Ok(Exit::Ok)
        }
        Command::Explain { rules, module } => {
            let (m, warnings) = load_rules(&rules)?;
            report(&warnings, fmt);
            let out = std::io::stdout();
            let mut w = out.lock();
            let _ = output::explain(&mut w, &m, &module);
            Ok(Exit::Ok)
        }
    }
}
