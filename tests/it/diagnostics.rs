//! Bad input never panics and always gets a located error.

use crate::util::errors;

#[test]
fn all_errors_of_a_file_are_reported_at_once() {
    let d = errors(
        "a.lora",
        "\"a\" { rnak = 1 }\n\"b\" { rank = -2, init = \"evaa\" }\nre \"(\" exclude\n",
    );
    let codes: Vec<&str> = d.iter().map(|d| d.code()).collect();
    assert_eq!(codes, ["L010", "L012", "L012", "L020"]);
    assert_eq!(d[2].help(), Some("did you mean `\"eva\"`?"));
}

#[test]
fn hostile_inputs_do_not_panic() {
    let deep = format!("{}\"a\"{} exclude", "(".repeat(10_000), ")".repeat(10_000));
    assert_eq!(errors("d.lora", &deep)[0].code(), "L004");
    let deep_json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(errors("d.json", &deep_json)[0].code(), "L004");
    assert_eq!(errors("e.json", "")[0].code(), "L030");
    assert_eq!(errors("n.lora", "\"a\0b\" exclude\n\"\n").len(), 1);
    let long = format!("re \"{}\" exclude", "a".repeat(100_000));
    assert_eq!(errors("l.lora", &long)[0].code(), "L023");
    let cfg = lora_rules::engine::Config {
        nfa_size_limit: 1 << 20,
        ..Default::default()
    };
    let huge = crate::util::compile_with("re \"a{1000}{1000}{1000}\" exclude", &cfg);
    assert_eq!(
        huge.err().map(|d| d
            .iter()
            .next()
            .map(|d| d.code())
            .unwrap_or_default()
            .to_string()),
        Some("L040".to_string())
    );
}

#[test]
fn crlf_and_bom_are_fine() {
    let src = lora_rules::Source::new("c.lora", "\u{feff}\"a\" { rank = 1 }\r\n\"b\" exclude\r\n");
    let (rules, _) =
        lora_rules::load(&src, lora_rules::Format::Lora).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(rules.rules().len(), 2);
    let src = lora_rules::Source::new("c.json", "\u{feff}{\"a\": {\"rank\": 1}}");
    assert!(lora_rules::load(&src, lora_rules::Format::Json).is_ok());
}

#[test]
fn empty_rule_file_warns() {
    let src = lora_rules::Source::new("e.lora", "# nothing\n");
    let (rules, warnings) =
        lora_rules::load(&src, lora_rules::Format::Lora).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(rules.rules().len(), 0);
    assert_eq!(
        warnings.warnings().map(|w| w.code()).collect::<Vec<_>>(),
        ["L003"]
    );
}

#[test]
fn misspelt_keywords_get_a_did_you_mean() {
    let d = errors("k.lora", "\"a.b\" exlude\n");
    assert_eq!(
        (d[0].code(), d[0].help()),
        ("L001", Some("did you mean `exclude`?"))
    );
    let d = errors("k.lora", "defualts { rank = 4 }\n");
    assert_eq!(d[0].help(), Some("did you mean `defaults`?"));
}

#[test]
fn attributes_without_braces_and_slash_comments_get_help() {
    let d = errors("b.lora", "\"q_proj\" rank = 8\n");
    assert_eq!(
        (d[0].code(), d[0].help()),
        (
            "L001",
            Some("attributes go in braces after the pattern: `{ rank = ... }`")
        )
    );
    for text in [
        "// layers 0-7\n\"q_proj\" {}\n",
        "\"q_proj\" {} /* why */\n",
    ] {
        let d = errors("c.lora", text);
        assert_eq!(
            (d[0].code(), d[0].help()),
            (
                "L001",
                Some("comments start with `#` and run to the end of the line")
            ),
            "{text}"
        );
    }
}

#[test]
fn range_bounds_with_leading_zeros_are_refused() {
    let d = errors("z.lora", "\"model.layers.{00..07}.q_proj\" {}\n");
    assert_eq!(
        (d[0].code(), d[0].message(), d[0].help()),
        (
            "L022",
            "invalid path pattern: `00` has a leading zero",
            Some(
                "a range matches numbers written without leading zeros, as PyTorch names them: write `0` here (for zero-padded names, use a regex rule)"
            )
        )
    );
    let ok = lora_rules::Source::new("z.lora", "\"model.layers.{0..10}.q_proj\" {}\n");
    assert!(lora_rules::load(&ok, lora_rules::Format::Lora).is_ok());
}
