// Shared by the criterion bench and the comparison binary: workload loading.
#![allow(dead_code)]

use lora_rules::{Format, Matcher, Source};

pub const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/data");

pub fn names(file: &str) -> Vec<String> {
    std::fs::read_to_string(format!("{DATA}/{file}"))
        .unwrap_or_else(|e| panic!("{DATA}/{file}: {e} (run benches/gen_data.py)"))
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

pub fn rules(file: &str) -> lora_rules::ir::RuleSet {
    let text =
        std::fs::read_to_string(format!("{DATA}/{file}")).unwrap_or_else(|e| panic!("{file}: {e}"));
    let src = Source::new(file, text.clone());
    match lora_rules::load(&src, Format::detect(file, &text)) {
        Ok((r, _)) => r,
        Err(d) => panic!("{d}"),
    }
}

pub fn matcher(file: &str) -> Matcher {
    Matcher::new(rules(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The 1M-name stream: the MoE list repeated with layer numbers varied
/// (layer L in repetition k becomes L + 61 k), as benches/data/README.md says.
pub fn million(moe: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(1_000_000);
    let mut k = 0u32;
    while out.len() < 1_000_000 {
        for n in moe {
            if out.len() == 1_000_000 {
                break;
            }
            out.push(match n.strip_prefix("model.layers.") {
                Some(rest) => {
                    let (l, tail) = rest.split_once('.').unwrap_or((rest, ""));
                    let l: u32 = l.parse().unwrap_or(0);
                    format!("model.layers.{}.{tail}", l + 61 * k)
                }
                None => n.clone(),
            });
        }
        k += 1;
    }
    out
}
