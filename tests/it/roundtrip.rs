//! Round trips between representations: text → AST → print → AST is the
//! identity; `fmt` is idempotent and keeps comments; JSON ⇄ `.lora`.

use lora_rules::syntax::{self, ast::RuleFile};
use proptest::prelude::*;

fn parse(text: &str) -> RuleFile {
    syntax::parse(text).unwrap_or_else(|d| panic!("{d}\n--- text:\n{text}"))
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        (1i64..10_000).prop_map(|i| i.to_string()),
        (-1e6f64..1e6).prop_map(|f| lora_rules::ir::Value::Float(f).to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        "[a-z_0-9 .\\\\]{0,8}".prop_map(|s| format!("\"{s}\"")),
        Just("'a\"b'".to_string()),
    ]
}

fn atom() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["", "path ", "re ", "key "]),
        "[a-z_.*{}0-9\\\\|()?+]{0,10}",
    )
        .prop_map(|(k, t)| format!("{k}\"{t}\""))
}

fn expr() -> impl Strategy<Value = String> {
    atom().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|a| format!("!{a}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} & {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} | {b})")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("{a} | {b}")),
        ]
    })
}

fn block() -> impl Strategy<Value = String> {
    let assign = (
        prop::sample::select(vec!["rank", "alpha", "r", "x_1", "init"]),
        value(),
    )
        .prop_map(|(n, v)| format!("{n} = {v}"));
    prop::collection::vec(assign, 0..4).prop_map(|a| format!("{{ {} }}", a.join(", ")))
}

fn file() -> impl Strategy<Value = String> {
    let rule = (expr(), prop_oneof![Just("exclude".to_string()), block()])
        .prop_map(|(p, a)| format!("{p} {a}"));
    (
        prop::option::of(block()),
        prop::collection::vec(rule, 0..6),
        prop::option::of(Just("attribute k: int in 1..=64\n".to_string())),
    )
        .prop_map(|(d, rules, decl)| {
            let mut s = decl.unwrap_or_default();
            if let Some(d) = d {
                s.push_str(&format!("defaults {d}  # the defaults\n"));
            }
            for r in rules {
                s.push_str(&format!("# before\n{r}\n\n"));
            }
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parse_print_parse_is_identity(text in file()) {
        let ast = parse(&text);
        let printed = lora_rules::print::file(&ast);
        prop_assert_eq!(parse(&printed).without_spans(), ast.without_spans(), "printed:\n{}", printed);
    }

    #[test]
    fn fmt_keeps_the_tree_and_comments_and_is_idempotent(text in file()) {
        let once = lora_rules::fmt::format_lora(&text).unwrap_or_else(|d| panic!("{d}"));
        prop_assert_eq!(parse(&once).without_spans(), parse(&text).without_spans());
        prop_assert_eq!(once.matches('#').count(), text.matches('#').count() - text.matches("\"#").count());
        let twice = lora_rules::fmt::format_lora(&once).unwrap_or_else(|d| panic!("{d}"));
        prop_assert_eq!(twice, once);
    }
}

#[test]
fn json_to_lora_and_back() {
    let json = r#"{"version": 1, "defaults": {"rank": 8}, "rules": {"lm_head": null, "layers\\.1\\..*": {"rank": 4, "alpha": 16.0}, "q\"x": {}}}"#;
    let lora = lora_rules::fmt::json_to_lora(json).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(
        lora,
        "defaults { rank = 8 }\n\nkey \"lm_head\" exclude\nkey \"layers\\.1\\..*\" { rank = 4, alpha = 16.0 }\nkey 'q\"x' {}\n"
    );
    let back = lora_rules::fmt::to_json(&parse(&lora)).unwrap_or_else(|d| panic!("{d}"));
    let a: serde_json::Value = serde_json::from_str(&back).unwrap_or_default();
    let b: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    assert_eq!(a, b);
    let refused = lora_rules::fmt::to_json(&parse("\"a.*\" exclude\nkey \"b\" & !key \"c\" {}\n"))
        .err()
        .map(|d| d.len());
    assert_eq!(refused, Some(2));
}

#[test]
fn fmt_layout_is_canonical() {
    let text = "# head\n\"b\"   {rank=4 ,alpha = 8}  # why\ndefaults{rank=1}\n\n\n# second\nre  \"x\"   exclude\n# tail\n";
    let out = lora_rules::fmt::format_lora(text).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(
        out,
        "defaults { rank = 1 }\n\n# head\n\"b\" { rank = 4, alpha = 8 }  # why\n\n# second\nre \"x\" exclude\n\n# tail\n"
    );
}
