//! JSON dictionary form → parse → check never panics; errors are located.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lora_rules::{Format, Source};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let src = Source::new("f.json", text);
    if let Err(diags) = lora_rules::load(&src, Format::Json) {
        for d in diags.iter() {
            let _ = d.render_plain();
            let _ = d.to_json();
        }
    }
});
