//! `.lora` text → parse → check → compile never panics; errors are located.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lora_rules::{Format, Matcher, Source};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let src = Source::new("f.lora", text);
    match lora_rules::load(&src, Format::Lora) {
        Ok((rules, _)) => {
            // Small automaton limits: the fuzzer must not spend its time
            // determinizing (the limits are what is being exercised).
            let cfg = lora_rules::engine::Config {
                dfa_size_limit: 1 << 20,
                determinize_size_limit: 1 << 20,
                nfa_size_limit: 8 << 20,
                lazy_cache_capacity: 1 << 20,
                ..Default::default()
            };
            if let Ok(m) = Matcher::with_config(rules, &cfg) {
                let _ = m.resolve("model.layers.0.self_attn.q_proj");
            }
        }
        Err(diags) => {
            for d in diags.iter() {
                assert!(d.primary().is_some() || d.code() == "L004", "{}", d.render_plain());
                let _ = d.render_plain();
                let _ = d.to_json();
            }
        }
    }
});
