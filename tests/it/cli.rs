//! End-to-end runs of the built binary: exit codes and exact output.

use crate::util::{bin, run};

fn tmp(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("lora-rules-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write temp file");
    p.display().to_string()
}

#[test]
fn readme_main_command_summary() {
    let (code, out, _) = run(&[
        "resolve",
        "examples/llama-3-8b.lora",
        "--modules",
        "examples/models/llama-3-8b.tsv",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("422 modules: 176 adapted, 65 excluded, 181 unmatched\n"),
        "{out}"
    );
    assert!(out.contains("every rule decided at least one module"));
}

#[test]
fn json_and_lora_examples_agree() {
    let a = run(&[
        "resolve",
        "examples/llama-3-8b.lora",
        "-m",
        "examples/models/llama-3-8b.tsv",
        "-f",
        "jsonl",
    ])
    .1;
    let b = run(&[
        "resolve",
        "examples/llama-3-8b.json",
        "-m",
        "examples/models/llama-3-8b.tsv",
        "-f",
        "jsonl",
    ])
    .1;
    let strip = |s: &str| -> Vec<(String, String)> {
        s.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("jsonl");
                (
                    v["module"].to_string(),
                    format!("{} {} {}", v["action"], v["attrs"]["rank"], v["scaling"]),
                )
            })
            .collect()
    };
    assert_eq!(strip(&a).len(), 422);
    let differ: Vec<_> = strip(&a)
        .into_iter()
        .zip(strip(&b))
        .filter(|(x, y)| x != y)
        .collect();
    // The JSON form has no dropout default, so only rank/scaling/action are compared.
    assert!(differ.is_empty(), "{differ:?}");
}

#[test]
fn jsonl_record_is_exact() {
    let rules = tmp(
        "r.lora",
        "defaults { rank = 8, alpha = 16 }\n\"a.*\" { alpha = 4.0 }\n\"b\" exclude\n",
    );
    let mods = tmp("m.txt", "# comment\na.x\nb\nc\n");
    let (code, out, err) = run(&["resolve", &rules, "-m", &mods, "-f", "jsonl"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        concat!(
            r#"{"module":"a.x","rule":0,"action":"adapt","attrs":{"rank":8,"alpha":4.0},"scaling":0.5}"#,
            "\n",
            r#"{"module":"b","rule":1,"action":"exclude","attrs":null,"scaling":null}"#,
            "\n",
            r#"{"module":"c","rule":null,"action":"none","attrs":null,"scaling":null}"#,
            "\n",
        )
    );
}

#[test]
fn check_reports_located_errors_and_exit_1() {
    let rules = tmp("bad.lora", "\"**\" { rnak = 8 }\n\"x\" { rank = 0 }\n");
    let (code, _, err) = run(&["check", &rules]);
    assert_eq!(code, 1);
    assert!(
        err.contains("error[L010]: unknown attribute `rnak`"),
        "{err}"
    );
    assert!(err.contains("bad.lora:1:8"), "{err}");
    assert!(err.contains("help: did you mean `rank`?"), "{err}");
    assert!(err.contains("error[L012]"), "both errors in one run: {err}");
    assert!(err.contains("bad.lora:2:14"), "{err}");
}

#[test]
fn json_error_format() {
    let rules = tmp("dup.json", "{\"a\": null, \"a\": {}}");
    let out = bin()
        .args(["--error-format", "json", "check", &rules])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let line = String::from_utf8_lossy(&out.stderr)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let v: serde_json::Value = serde_json::from_str(&line).expect("one JSON object per line");
    assert_eq!(v["code"], "L031");
    assert_eq!(
        (v["line"].as_u64(), v["column"].as_u64()),
        (Some(1), Some(13))
    );
}

#[test]
fn usage_and_io_errors_exit_2() {
    assert_eq!(run(&["resolve"]).0, 2);
    assert_eq!(run(&["check", "/nonexistent/rules.lora"]).0, 2);
    let bin_file = tmp("latin1.lora", "");
    std::fs::write(&bin_file, b"\"a\" { rank = 8 }\n\xff\xfe").expect("write");
    let (code, _, err) = run(&["check", &bin_file]);
    assert_eq!(code, 2);
    assert!(
        err.contains("not valid UTF-8 (byte 17, line 2, column 1)"),
        "{err}"
    );
}

#[test]
fn explain_lists_shadowed_rules() {
    let (code, out, _) = run(&[
        "explain",
        "examples/llama-3-8b.lora",
        "model.layers.30.mlp.down_proj",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with(
            "model.layers.30.mlp.down_proj: rule 3 wins (examples/llama-3-8b.lora:7:1)"
        ),
        "{out}"
    );
    assert!(
        out.contains("  rule 4 (examples/llama-3-8b.lora:8:1): key"),
        "{out}"
    );
}

#[test]
fn safetensors_index_input() {
    let idx = tmp(
        "model.safetensors.index.json",
        r#"{"metadata": {}, "weight_map": {"model.layers.0.mlp.experts.1.down_proj.weight": "a", "model.layers.0.mlp.experts.1.down_proj.bias": "a", "lm_head.weight": "b", "model.layers.0.self_attn.rotary_emb.inv_freq": "a"}}"#,
    );
    let rules = tmp("r2.lora", "\"**.experts.*.down_proj\" { rank = 4 }\n");
    let (code, out, err) = run(&["resolve", &rules, "-m", &idx, "-f", "jsonl"]);
    assert_eq!(code, 0, "{err}");
    let mods: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .map(|v| v["module"].to_string())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        mods,
        [
            "\"model.layers.0.mlp.experts.1.down_proj\"",
            "\"lm_head\"",
            "\"model.layers.0.self_attn.rotary_emb\""
        ]
    );
}

#[test]
fn safetensors_header_input() {
    // 8-byte little-endian header length, then the JSON header, then the data.
    let header = r#"{"b.lora_B.weight":{"dtype":"F32","shape":[4,2],"data_offsets":[0,32]},"a.lora_A.weight":{"dtype":"F32","shape":[2,4],"data_offsets":[32,64]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&[0u8; 64]);
    let path = tmp("adapter_model.safetensors", "");
    std::fs::write(&path, bytes).expect("write");
    let rules = tmp("r3.lora", "\"**.lora_A\" { rank = 2 }\n");
    let (code, out, err) = run(&["resolve", &rules, "-m", &path, "-f", "jsonl"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 2);
    assert!(
        out.lines()
            .next()
            .unwrap_or_default()
            .starts_with(r#"{"module":"b.lora_B","rule":null"#),
        "{out}"
    );
}

#[test]
fn legacy_config_resolves_directly() {
    let cfg = tmp(
        "adapter_config.json",
        r#"{"peft_type": "LORA", "target_modules": ["q_proj", "v_proj"], "r": 8, "lora_alpha": 16, "rank_pattern": {"layers.1.self_attn.q_proj": 4}, "exclude_modules": ["model.layers.0.self_attn.v_proj"]}"#,
    );
    let mods = tmp(
        "m2.txt",
        "model.layers.0.self_attn.q_proj\nmodel.layers.0.self_attn.v_proj\nmodel.layers.1.self_attn.q_proj\nlm_head\n",
    );
    let (code, out, err) = run(&["resolve", &cfg, "-m", &mods, "-f", "jsonl"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        r#"{"module":"model.layers.0.self_attn.q_proj","rule":null,"action":"adapt","attrs":{"rank":8,"alpha":16},"scaling":2.0}"#
    );
    assert_eq!(
        lines[1],
        r#"{"module":"model.layers.0.self_attn.v_proj","rule":null,"action":"exclude","attrs":null,"scaling":null}"#
    );
    assert_eq!(
        lines[2],
        r#"{"module":"model.layers.1.self_attn.q_proj","rule":null,"action":"adapt","attrs":{"rank":4,"alpha":16},"scaling":4.0}"#
    );
    assert_eq!(
        lines[3],
        r#"{"module":"lm_head","rule":null,"action":"none","attrs":null,"scaling":null}"#
    );
}

#[test]
fn check_reports_dead_rules_of_the_seed_example() {
    let rules = tmp(
        "seed.json",
        r#"{".*_proj": null, "down_proj": {"rank": 10, "init": "eva"}, "gate_proj": {"rank": 20, "alpha": 5}}"#,
    );
    let (code, _, err) = run(&["check", &rules]);
    assert_eq!(code, 0, "warnings only: {err}");
    assert_eq!(err.matches("warning[L050]").count(), 2, "{err}");
    assert!(
        err.contains("for example `down_proj` matches this rule but rule 0 decides it"),
        "{err}"
    );
    assert!(
        err.contains("for example `gate_proj` matches this rule but rule 0 decides it"),
        "{err}"
    );
    assert_eq!(run(&["check", "--deny-warnings", &rules]).0, 1);
}

#[test]
fn check_against_a_model() {
    let rules = tmp(
        "m.lora",
        "\"model.visual.**\" exclude\nre \"model\\.layers\\.3.*\" { rank = 2 }\n",
    );
    let (code, _, err) = run(&[
        "check",
        &rules,
        "--modules",
        "examples/models/llama-3-8b.tsv",
    ]);
    assert_eq!(code, 0);
    assert!(
        err.contains("warning[L051]: rule 0 decides none of the 422 modules"),
        "{err}"
    );
    assert!(!err.contains("rule 1 decides none"), "{err}");
}

#[test]
fn fmt_check_write_and_convert() {
    let path = tmp("f.lora", "\"a\" exclude\n\"b\"   {rank=4}  # why\n");
    let (code, _, err) = run(&["fmt", "--check", &path]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        format!(
            "{path}: not in canonical form; first difference at line 2:\n  - \"b\"   {{rank=4}}  # why\n  + \"b\" {{ rank = 4 }}  # why\nrun `lora-rules fmt --write {path}` to rewrite it\n"
        )
    );
    assert_eq!(run(&["fmt", "--write", &path]).0, 0);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap_or_default(),
        "\"a\" exclude\n\"b\" { rank = 4 }  # why\n"
    );
    assert_eq!(run(&["fmt", "--check", &path]).0, 0);
    // The shipped examples are in canonical form.
    for example in [
        "examples/llama-3-8b.lora",
        "examples/llama-3-8b.json",
        "examples/deepseek-v3.lora",
        "examples/qwen2.5-vl-7b.lora",
        "examples/t5-base.lora",
    ] {
        let (code, _, err) = run(&["fmt", "--check", example]);
        assert_eq!(code, 0, "{err}");
    }
    let (code, out, err) = run(&["fmt", "--to", "json", &path]);
    assert_eq!(code, 1, "a path pattern has no JSON form: {out}");
    assert!(err.contains("error[L032]"), "{err}");
    let (code, out, _) = run(&["fmt", "--to", "lora", "examples/llama-3-8b.json"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("defaults { rank = 16, alpha = 32 }\n\nkey \"lm_head\" exclude\n"),
        "{out}"
    );
}

// ------------------------------------------------------------------------------------------
// convert / export
// ------------------------------------------------------------------------------------------

#[test]
fn convert_writes_atomically_and_resolves_like_peft() {
    let cfg = tmp(
        "conv1.json",
        r#"{"peft_type": "LORA", "target_modules": ["q_proj", "v_proj"], "r": 8, "lora_alpha": 16,
            "exclude_modules": ["layers.0.self_attn.q_proj"], "lora_dropout": 0.05,
            "init_lora_weights": "olora", "use_dora": true}"#,
    );
    let out = tmp("conv1-out.lora", "old content\n");
    let (code, stdout, err) = run(&["convert", &cfg, "-o", &out]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.is_empty());
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.starts_with(
            "defaults { rank = 8, alpha = 16, dropout = 0.05, init = \"olora\", use_dora = true }"
        ),
        "{text}"
    );
    // no temporary file of this output left next to it (other tests write
    // their own files into the same directory at the same time)
    let dir = std::path::Path::new(&out).parent().unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".conv1-out.lora.tmp-")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // the converted file resolves like the legacy config
    let (c1, a, _) = run(&[
        "resolve",
        &cfg,
        "-m",
        "examples/models/llama-3-8b.tsv",
        "-f",
        "jsonl",
    ]);
    let (c2, b, _) = run(&[
        "resolve",
        &out,
        "-m",
        "examples/models/llama-3-8b.tsv",
        "-f",
        "jsonl",
    ]);
    assert_eq!((c1, c2), (0, 0));
    let strip = |s: &str| -> Vec<(String, String, String, String)> {
        s.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["module"].to_string(),
                    v["action"].to_string(),
                    v["scaling"].to_string(),
                    v["attrs"].to_string(),
                )
            })
            .collect()
    };
    assert_eq!(strip(&a), strip(&b));
    assert!(
        a.lines().any(|l| l.contains(
            r#""attrs":{"rank":8,"alpha":16,"dropout":0.05,"init":"olora","use_dora":true}"#
        )),
        "{a}"
    );
}

#[test]
fn convert_failed_write_leaves_nothing() {
    let cfg = tmp(
        "conv2.json",
        r#"{"target_modules": ["q_proj"], "r": 8, "lora_alpha": 16}"#,
    );
    let missing_dir =
        std::env::temp_dir().join(format!("lora-rules-no-such-dir-{}", std::process::id()));
    let out = missing_dir.join("x.lora");
    let (code, _, err) = run(&["convert", &cfg, "-o", out.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(!out.exists());
}

#[test]
fn convert_json_form_or_clear_refusal() {
    let cfg = tmp(
        "conv3.json",
        r#"{"target_modules": ".*\\.layers\\.1\\d?\\..*_proj", "exclude_modules": ["k_proj"], "r": 8, "lora_alpha": 16}"#,
    );
    let (code, out, err) = run(&["convert", &cfg, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["defaults"]["rank"], 8);
    assert_eq!(v["rules"]["k_proj"], serde_json::Value::Null);
    let json_file = tmp("conv3-out.json", &out);
    let (code, _, err) = run(&["check", &json_file]);
    assert_eq!(code, 0, "{err}");
    // the JSON form (with its `^(?:R)` key) resolves like the legacy config
    let tsv = "examples/models/llama-3-8b.tsv";
    let (_, a, _) = run(&["resolve", &cfg, "-m", tsv, "-f", "jsonl"]);
    let (_, b, _) = run(&["resolve", &json_file, "-m", tsv, "-f", "jsonl"]);
    let adapted = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.contains("\"action\":\"adapt\""))
            .map(|l| l.split(',').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(adapted(&a), adapted(&b));
    assert_eq!(adapted(&a).len(), 66, "{a}");

    let cfg = tmp(
        "conv4.json",
        r#"{"target_modules": ["q_proj", "v_proj"], "r": 8, "lora_alpha": 16, "rank_pattern": {"q_proj": 4, "v_proj": 2}}"#,
    );
    let (code, out, err) = run(&["convert", &cfg, "--format", "json"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        err.contains("rule 0") && err.contains("write the `.lora` form"),
        "{err}"
    );
}

#[test]
fn convert_errors_are_located() {
    let text = r#"{"target_modules": ["q_proj"], "r": 8, "lora_alpha": 16, "rank_pattern": {"q_(proj": 4}}"#;
    let cfg = tmp("conv5.json", text);
    let (code, _, err) = run(&["convert", &cfg]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("rank_pattern"), "{err}");
    // file:line:col of the `(` Python complains about (byte 2 of the key)
    let col = text.find("\"q_(proj\"").unwrap() + 4;
    assert!(
        err.contains(&format!(":1:{col}: byte 2 of this `rank_pattern` entry")),
        "{err}"
    );

    let cfg = tmp(
        "conv6.json",
        r#"{"target_modules": "all-linear", "r": 8, "lora_alpha": 16}"#,
    );
    let (code, _, err) = run(&["convert", &cfg]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--model"), "{err}");
    let (code, out, err) = run(&["convert", &cfg, "--model", "examples/models/gpt2.tsv"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("c_attn"), "{out}");
}

#[test]
fn export_refuses_losses_then_lists_them() {
    let (code, out, err) = run(&[
        "export",
        "examples/llama-3-8b.lora",
        "--modules",
        "examples/models/llama-3-8b.tsv",
        "--format",
        "peft",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        err.contains("init") && err.contains("--allow-lossy"),
        "{err}"
    );
    let (code, out, err) = run(&[
        "export",
        "examples/llama-3-8b.lora",
        "--modules",
        "examples/models/llama-3-8b.tsv",
        "--format",
        "peft",
        "--allow-lossy",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("lossy export: init"), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["r"], 16);
    assert_eq!(v["lora_dropout"], 0.05);
    assert!(v["target_modules"].is_string());
}

#[test]
fn check_reports_overlaps_and_hidden_kinds_on_a_model() {
    let (code, _, err) = run(&[
        "check",
        "examples/llama-3-8b.lora",
        "-m",
        "examples/models/llama-3-8b.tsv",
    ]);
    assert_eq!(code, 0);
    // Rules 1 and 3 are exceptions written before rule 4, which matches
    // all of their modules: the idiom, no L055 (there were two).
    assert!(!err.contains("L055"), "{err}");
    let rules = tmp(
        "partial.lora",
        "\"model.layers.{0..15}.**\" exclude\n\"**.mlp.*_proj\" { rank = 8 }\n\"**.mlp.gate_proj\" { rank = 4 }\n",
    );
    let (_, _, err) = run(&["check", &rules, "-m", "examples/models/llama-3-8b.tsv"]);
    // Rule 0 also decides attention modules, which rule 1 does not match:
    // a partial overlap. Rule 2 decides nothing: L051 only.
    assert!(
        err.contains("warning[L055]: rule 1 also matches 48 module(s) that rule 0 decides"),
        "{err}"
    );
    assert_eq!(err.matches("L055").count(), 1, "{err}");
    assert!(err.contains("warning[L051]: rule 2 decides none"), "{err}");
    let rules = tmp("hide.lora", "\"**.q_proj\" exclude\n\"**.*_proj\" {}\n");
    let (_, _, err) = run(&["check", &rules, "-m", "examples/models/llama-3-8b.tsv"]);
    assert!(
        err.contains("warning[L056]: exclude rule 0 hides every `q_proj` (32 modules)"),
        "{err}"
    );
}

#[test]
fn compiled_file_resolves_like_its_rules() {
    let out = tmp("llama.lorac", "");
    let (code, _, err) = run(&["compile", "examples/llama-3-8b.lora", "-o", &out]);
    assert_eq!(code, 0, "{err}");
    assert!(err.starts_with(&format!("wrote {out}: ")), "{err}");
    let bytes = std::fs::read(&out).expect("compiled file");
    assert!(bytes.starts_with(lora_rules::compiled::MAGIC));
    let resolve = |rules: &str| {
        run(&[
            "resolve",
            rules,
            "-m",
            "examples/models/llama-3-8b.tsv",
            "-f",
            "jsonl",
        ])
    };
    let (text, compiled) = (resolve("examples/llama-3-8b.lora"), resolve(&out));
    assert_eq!(compiled.0, 0, "{}", compiled.2);
    assert_eq!(compiled.1, text.1);
    assert_eq!(compiled.1.lines().count(), 422);
    let (code, _, err) = run(&["check", &out]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("ok: "), "{err}");
    // Damaged: a clear L041 error with advice, exit 1, no panic.
    let mut damaged = bytes.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 0x40;
    std::fs::write(&out, &damaged).expect("write");
    let (code, _, err) = run(&["resolve", &out, "-m", "examples/models/llama-3-8b.tsv"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("L041"), "{err}");
    assert!(err.contains("checksum does not match"), "{err}");
    assert!(err.contains("lora-rules compile RULES -o "), "{err}");
}

/// Runs the binary with `input` on its standard input.
fn run_stdin(args: &[&str], input: &[u8]) -> (i32, Vec<u8>, String) {
    use std::io::Write;
    let mut child = bin()
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn rules_and_compiled_files_read_once_from_stdin() {
    let text = std::fs::read("examples/llama-3-8b.lora").expect("example");
    let args = ["resolve", "-", "-m", "examples/models/llama-3-8b.tsv"];
    let (code, out, err) = run_stdin(&args, &text);
    assert_eq!(code, 0, "{err}");
    let out = String::from_utf8(out).expect("utf-8");
    assert!(
        out.contains("422 modules: 176 adapted, 65 excluded, 181 unmatched\n"),
        "{out}"
    );
    // `compile -o -` writes the compiled file to stdout; it reads back from stdin.
    let (code, compiled, err) = run_stdin(&["compile", "-", "-o", "-"], &text);
    assert_eq!(code, 0, "{err}");
    assert!(compiled.starts_with(lora_rules::compiled::MAGIC));
    let (code, again, err) = run_stdin(&args, &compiled);
    assert_eq!(code, 0, "{err}");
    assert_eq!(String::from_utf8(again).expect("utf-8"), out);
    // The saved rules come back verbatim.
    let (code, source, _) = run_stdin(&["decompile", "-"], &compiled);
    assert_eq!((code, source), (0, text));
}

#[test]
fn compile_refuses_what_it_would_destroy_or_cannot_use() {
    let rules = tmp("self.lora", "\"a\" { rank = 8 }\n");
    let (code, _, err) = run(&["compile", &rules, "-o", &rules]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is the rule file itself"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&rules).expect("kept"),
        "\"a\" { rank = 8 }\n"
    );
    let legacy = tmp(
        "adapter_config.json",
        r#"{"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["q_proj"]}"#,
    );
    let (code, _, err) = run(&["compile", &legacy, "-o", &tmp("l.lorac", "")]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("lora-rules convert"), "{err}");
    // A damaged magic is still reported as a compiled file (L041), with
    // the same exit code as any other damage.
    let compiled = tmp("m.lorac", "");
    assert_eq!(run(&["compile", &rules, "-o", &compiled]).0, 0);
    let mut bytes = std::fs::read(&compiled).expect("compiled");
    bytes[2] ^= 1;
    std::fs::write(&compiled, &bytes).expect("write");
    let (code, _, err) = run(&["check", &compiled]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("L041") && err.contains("magic"), "{err}");
    std::fs::write(&compiled, b"").expect("write");
    assert_eq!(run(&["check", &compiled]).0, 1);
    // Rule text named `.lorac` is read as text; decompile refuses text.
    let text_lorac = tmp("text.lorac", "\"a\" { rank = 8 }\n");
    let (code, _, err) = run(&["check", &text_lorac]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&["decompile", &rules]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("nothing to decompile"), "{err}");
    // fmt on a compiled file points to decompile.
    let good = tmp("good.lorac", "");
    assert_eq!(run(&["compile", &rules, "-o", &good]).0, 0);
    let (code, _, err) = run(&["fmt", &good]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("lora-rules decompile"), "{err}");
    let (code, _, err) = run(&["check", &good]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("its tables are the ones its rules compile to"),
        "{err}"
    );
}

/// `-o` through a symbolic link replaces the file it points to and keeps
/// the link; the replaced file keeps its permissions.
#[cfg(unix)]
#[test]
fn atomic_writes_follow_links_and_keep_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let rules = tmp("w.lora", "\"a\" { rank = 8 }\n");
    let real = tmp("w-real.lorac", "old");
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let link = format!("{real}.link");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let (code, _, err) = run(&["compile", &rules, "-o", &link]);
    assert_eq!(code, 0, "{err}");
    let meta = std::fs::symlink_metadata(&link).expect("link");
    assert!(meta.file_type().is_symlink());
    let bytes = std::fs::read(&real).expect("target");
    assert!(bytes.starts_with(lora_rules::compiled::MAGIC));
    let mode = std::fs::metadata(&real).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let dir = std::path::Path::new(&real)
        .parent()
        .expect("dir")
        .to_path_buf();
    let (code, _, err) = run(&["compile", &rules, "-o", &dir.display().to_string()]);
    assert_eq!(code, 2);
    assert!(err.contains("is a directory"), "{err}");
}

/// `resolve … | head`: when the reader closes the pipe, every output format
/// stops quietly with exit 0 (`--format json` reported L002 "Broken pipe").
#[test]
fn closed_stdout_pipe_is_not_an_error() {
    use std::io::Read;
    for format in ["json", "jsonl", "table"] {
        let mut child = bin()
            .args([
                "resolve",
                "benches/data/r5.lora",
                "--modules",
                "benches/data/deepseek-v3-experts.txt",
                "--format",
                format,
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 16];
        child.stdout.take().unwrap().read_exact(&mut first).unwrap();
        // The read end is dropped here: the rest of the output (megabytes)
        // meets a closed pipe.
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{format}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{format}");
    }
}

/// A PEFT `adapter_config.json` where a rule file is expected: one error
/// pointing to `convert` (`check` printed an L032 per config field).
#[test]
fn peft_config_given_as_rules_points_to_convert() {
    let cfg = tmp(
        "given-config.json",
        r#"{"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["q_proj"]}"#,
    );
    for args in [
        vec!["check", cfg.as_str()],
        vec!["explain", cfg.as_str(), "model.layers.0.self_attn.q_proj"],
        vec!["compile", cfg.as_str(), "-o", "-"],
    ] {
        let (code, out, err) = run(&args);
        assert_eq!(code, 1, "{args:?}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert_eq!(err.matches("error[").count(), 1, "{args:?}: {err}");
        assert!(
            err.contains(&format!(
                "error[L070]: `{cfg}` is a PEFT adapter config, not a rule file"
            )),
            "{args:?}: {err}"
        );
        assert!(
            err.contains(&format!("lora-rules convert {cfg} -o rules.lora")),
            "{err}"
        );
    }
    // resolve reads it directly.
    let (code, _, err) = run(&["resolve", &cfg, "-m", "examples/models/llama-3-8b.tsv"]);
    assert_eq!(code, 0, "{err}");
}

/// `check --error-format json`: every stderr line is a JSON object, the
/// notes (analysis skipped, the `ok:` summary) included.
#[test]
fn check_json_stderr_is_all_json() {
    let rules = tmp(
        "json-notes.lora",
        "re \"(?:a|b)*a[ab]{14}\" exclude\nkey \"q_proj\" { rank = 4 }\n\"**.x\" {}\n",
    );
    let out = bin()
        .args([
            "--error-format",
            "json",
            "check",
            &rules,
            "-m",
            "examples/models/llama-3-8b.tsv",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.lines().count() >= 2, "{err}");
    for line in err.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["severity"].is_string(), "{line}");
    }
    assert!(
        err.contains(r#"{"severity":"note","message":"ok: 3 rules"#),
        "{err}"
    );
    // convert's legacy-config warnings and export's summary likewise.
    let cfg = tmp(
        "json-notes.json",
        r#"{"peft_type": "LORA", "target_modules": ["q_proj"], "not_a_field": 1}"#,
    );
    for args in [
        vec!["--error-format", "json", "convert", cfg.as_str()],
        vec![
            "--error-format",
            "json",
            "export",
            "examples/llama-3-8b.lora",
            "--modules",
            "examples/models/llama-3-8b.tsv",
            "--format",
            "peft",
            "--allow-lossy",
        ],
    ] {
        let out = bin().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.is_empty(), "{args:?}");
        for line in err.lines() {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert!(v["severity"].is_string(), "{line}");
        }
    }
}
