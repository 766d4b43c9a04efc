//! criterion: compile time (and `memory_usage()`, printed) per rule set, from
//! the parsed rules, from the text, and from a compiled file; and
//! resolve throughput of the automaton against the naive reference loop, in
//! names/s and bytes/s, on real module lists (benches/data/), plus batch
//! resolution of the 1M-name stream. `cargo bench --bench resolve`.

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

#[path = "common.rs"]
mod common;

fn compile(c: &mut Criterion) {
    let mut g = c.benchmark_group("compile");
    g.sample_size(10);
    for file in [
        "r5.lora",
        "r100.lora",
        "r100.json",
        "eva-560.json",
        "eva-48k.json",
        "adversarial.lora",
    ] {
        let rules = common::rules(file);
        let m = lora_rules::Matcher::new(rules.clone()).unwrap_or_else(|e| panic!("{e}"));
        eprintln!(
            "{file}: memory_usage {} bytes, {:?}",
            m.memory_usage(),
            m.stats()
        );
        // The rule set is cloned before and the matcher dropped after each
        // timed build (45k HIRs take longer to clone and free than to compile).
        g.bench_function(BenchmarkId::from_parameter(file), |b| {
            b.iter_batched(
                || rules.clone(),
                |r| lora_rules::Matcher::new(r).unwrap_or_else(|e| panic!("{e}")),
                BatchSize::LargeInput,
            )
        });
        // From the file's text: parse, check, compile.
        let text = std::fs::read_to_string(format!("{}/{file}", common::DATA)).unwrap_or_default();
        g.bench_function(BenchmarkId::new("load+compile", file), |b| {
            b.iter_batched(
                || (),
                |()| lora_rules::compile_str(file, &text).unwrap_or_else(|e| panic!("{e}")),
                BatchSize::LargeInput,
            )
        });
        // The same from a compiled file (`lora-rules compile -o`): parse and
        // check, tables read instead of built.
        let src = lora_rules::Source::new(file, text.clone());
        let format = lora_rules::Format::detect(file, &text);
        let (_, bytes, _) =
            lora_rules::compiled::compile(&src, format, &lora_rules::engine::Config::default())
                .unwrap_or_else(|e| panic!("{e}"));
        g.bench_function(BenchmarkId::new("load-compiled", file), |b| {
            b.iter_batched(
                || (),
                |()| lora_rules::compiled::read(&bytes).unwrap_or_else(|e| panic!("{e}")),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

fn resolve(c: &mut Criterion) {
    let workloads = [
        ("r100.lora", "deepseek-v3-experts.txt"),
        ("r100.lora", "llama-3-70b.txt"),
        ("eva-560.json", "llama-3-70b.txt"),
        ("r5.lora", "deepseek-v3-experts.txt"),
        ("eva-48k.json", "deepseek-v3-experts.txt"),
    ];
    for (rules_file, names_file) in workloads {
        let names = common::names(names_file);
        let bytes: usize = names.iter().map(String::len).sum();
        let m = common::matcher(rules_file);
        let automaton = |names: &[String]| {
            names
                .iter()
                .map(|n| m.resolve_index(n).unwrap_or(usize::MAX))
                .fold(0usize, usize::wrapping_add)
        };
        for (unit, throughput) in [
            ("names", Throughput::Elements(names.len() as u64)),
            ("bytes", Throughput::Bytes(bytes as u64)),
        ] {
            let mut g = c.benchmark_group(format!("resolve-{unit}/{rules_file}/{names_file}"));
            g.sample_size(10);
            g.throughput(throughput);
            g.bench_function("automaton", |b| b.iter(|| automaton(&names)));
            g.bench_function("automaton-batch", |b| {
                b.iter(|| m.resolve_batch(&names).iter().flatten().sum::<usize>())
            });
            // The naive loop takes hours on EVA-48k.
            if unit == "names" && rules_file != "eva-48k.json" {
                let reference = m.reference();
                g.bench_function("naive-reference", |b| {
                    b.iter(|| {
                        names
                            .iter()
                            .map(|n| reference.resolve(n).unwrap_or(usize::MAX))
                            .fold(0usize, usize::wrapping_add)
                    })
                });
            }
            g.finish();
        }
        eprintln!(
            "{rules_file} on {names_file}: {} names, {bytes} bytes",
            names.len()
        );
    }
}

/// The 1M-name stream, batch resolution (shared prefixes, rayon).
fn million(c: &mut Criterion) {
    let names = common::million(&common::names("deepseek-v3-experts.txt"));
    for rules_file in ["r100.lora", "eva-48k.json"] {
        let m = common::matcher(rules_file);
        let mut g = c.benchmark_group(format!("resolve-batch-1M/{rules_file}"));
        g.sample_size(10);
        g.throughput(Throughput::Elements(names.len() as u64));
        g.bench_function("automaton-batch", |b| {
            b.iter(|| m.resolve_batch(&names).iter().flatten().sum::<usize>())
        });
        g.finish();
    }
}

criterion_group!(benches, compile, resolve, million);
criterion_main!(benches);
