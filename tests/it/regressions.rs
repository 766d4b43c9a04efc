//! One test per problem found by attacking the CLI and the library (and by
//! the fuzzers in `fuzz/`). Each comment says what the input exposed.

use crate::util::run;

use lora_rules::{Format, Source};

/// Writes `bytes` to a fresh temporary file named `name`.
fn tmp(name: &str, bytes: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("lora-rules-reg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write temp file");
    p.display().to_string()
}

fn diags(name: &str, text: &str) -> Vec<lora_rules::Diagnostic> {
    let src = Source::new(name, text);
    match lora_rules::load(&src, Format::detect(name, text)) {
        Ok(_) => Vec::new(),
        Err(d) => d.into_vec(),
    }
}

/// 100,000 `!` in a row built a 100,000-deep `Not` chain: the checker's
/// recursion overflowed the stack and the CLI aborted (SIGABRT). A run of
/// `!` now keeps only its parity.
#[test]
fn long_run_of_negations_does_not_overflow_the_stack() {
    let text = format!("{}\"a\" exclude\n\"b\" exclude\n", "!".repeat(100_000));
    let m = lora_rules::compile_str("n.lora", &text).expect("compiles");
    assert_eq!(m.resolve_index("a"), Some(0));
    assert_eq!(m.resolve_index("b"), Some(1));
    assert_eq!(m.resolve_index("c"), None);
    let odd = format!("{}\"a\" exclude\n", "!".repeat(100_001));
    let m = lora_rules::compile_str("n.lora", &odd).expect("compiles");
    assert_eq!(m.resolve_index("a"), None);
    assert_eq!(m.resolve_index("b"), Some(0));
}

/// A NUL byte where a token was expected printed as an invisible character
/// between backticks ("found ` `"); control characters are now escaped.
#[test]
fn syntax_error_shows_control_characters_escaped() {
    let d = diags("z.lora", "\"a\" exclude\0\n");
    assert_eq!(d[0].code(), "L001");
    assert!(
        d[0].message().ends_with("found `\\0`"),
        "{}",
        d[0].message()
    );
}

/// A JSON integer past i64 (`"rank": 99999999999999999999999`) was read as a
/// float and reported as "must be an integer, found number"; `1e999` was
/// reported as "cannot be out-of-range number". Both now say what they are.
#[test]
fn json_numbers_out_of_range_are_named() {
    let d = diags("n.json", r#"{"a": {"rank": 99999999999999999999999}}"#);
    assert_eq!(d[0].code(), "L011");
    assert_eq!(
        d[0].message(),
        "`rank` must be an integer, found an integer too large for 64 bits"
    );
    let d = diags("n.json", r#"{"a": {"rank": 1e999}}"#);
    assert_eq!(
        d[0].message(),
        "`rank` must be an integer, found a number too large to be finite"
    );
}

/// Module names from a safetensors index were not checked at all: a tensor
/// `..w` gave the module `.`, and `a\nb.weight` a name with a newline, both
/// resolved silently. They are now refused like a bad text line, naming
/// the tensor.
#[test]
fn index_module_names_are_validated() {
    let rules = tmp("all.lora", b"\"**\" exclude\n");
    let idx = tmp(
        "a.index.json",
        br#"{"weight_map": {"a.weight": "x", "..w": "x"}}"#,
    );
    let (code, out, err) = run(&["resolve", &rules, "-m", &idx]);
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains("tensor `..w` gives a bad module name"),
        "{err}"
    );
    assert!(err.contains("empty segment"), "{err}");
    let idx = tmp("b.index.json", br#"{"weight_map": {"a\nb.weight": "x"}}"#);
    let (code, _, err) = run(&["resolve", &rules, "-m", &idx]);
    assert_eq!(code, 2);
    assert!(err.contains("control character"), "{err}");
}

/// Same for a `.safetensors` header (`x\ny.weight`), and for a NUL byte in
/// a text module list, which resolved as `"a\u0000b"`.
#[test]
fn safetensors_and_text_module_names_are_validated() {
    let rules = tmp("all2.lora", b"\"**\" exclude\n");
    let header = br#"{"x\ny.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header);
    file.extend_from_slice(&[0; 4]);
    let st = tmp("m.safetensors", &file);
    let (code, _, err) = run(&["resolve", &rules, "-m", &st]);
    assert_eq!(code, 2);
    assert!(err.contains("tensor `x\\ny.weight`"), "{err}");
    let txt = tmp("nul.txt", b"a\0b\n");
    let (code, _, err) = run(&["resolve", &rules, "-m", &txt]);
    assert_eq!(code, 2);
    assert!(err.contains("nul.txt:1:1"), "{err}");
    assert!(err.contains("control character"), "{err}");
}

/// `{"peft_type": "LORA", "r": 1e400, ...}`: serde_json refuses the number,
/// so the file was not recognised as a PEFT config and got three rule-
/// dictionary errors ("the value of `peft_type` must be an object"). It is
/// now read as a config and gets one legacy error.
#[test]
fn legacy_config_with_unreadable_number_is_still_a_config() {
    let rules = tmp(
        "big_r.json",
        br#"{"peft_type": "LORA", "r": 1e400, "target_modules": ["q"]}"#,
    );
    let mods = tmp("mods.txt", b"q\n");
    let (code, _, err) = run(&["resolve", &rules, "-m", &mods]);
    assert_eq!(code, 1);
    assert!(err.contains("L070"), "{err}");
    assert!(!err.contains("L032"), "{err}");
}

/// Legacy errors said "would raise TypeError: TypeError: ..." with the fix
/// inside the message and no location; they now point at the offending
/// value (field, or the entry of a pattern dictionary) with the fix as help.
#[test]
fn legacy_errors_are_located_with_help() {
    let rules = tmp(
        "rp.json",
        b"{\"peft_type\": \"LORA\",\n \"target_modules\": [\"q\"],\n \"rank_pattern\": {\"q\": \"4\"}}",
    );
    let mods = tmp("mods2.txt", b"q\n");
    let (code, _, err) = run(&["resolve", &rules, "-m", &mods]);
    assert_eq!(code, 1);
    assert!(!err.contains("TypeError: TypeError"), "{err}");
    assert!(
        err.contains("rp.json:3:24: `rank_pattern` entry `q`"),
        "{err}"
    );
    assert!(err.contains("help: write `rank_pattern`"), "{err}");
    let rules = tmp(
        "r.json",
        br#"{"peft_type": "LORA", "r": "8", "target_modules": ["q"]}"#,
    );
    let (_, _, err) = run(&["resolve", &rules, "-m", &mods]);
    assert!(err.contains("r.json:1:28: `r`"), "{err}");
}

/// A non-LoRA `peft_type` was reported as "PEFT 0.21.2 would raise
/// Unsupported" under L070, though PEFT raises nothing: it is L071, "not
/// supported".
#[test]
fn unsupported_legacy_config_is_l071() {
    let rules = tmp(
        "ia3.json",
        br#"{"peft_type": "IA3", "target_modules": ["q"]}"#,
    );
    let mods = tmp("mods3.txt", b"q\n");
    let (code, _, err) = run(&["resolve", &rules, "-m", &mods]);
    assert_eq!(code, 1);
    assert!(
        err.contains("error[L071]: not supported: peft_type"),
        "{err}"
    );
    assert!(err.contains("ia3.json:1:15"), "{err}");
}
