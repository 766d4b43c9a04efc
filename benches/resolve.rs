//! criterion: compile time and resolve throughput of the automaton against
//! the naive reference loop, on real module lists (benches/data/).
//! `cargo bench --bench resolve`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

#[path = "common.rs"]
mod common;

fn compile(c: &mut Criterion) {
    let mut g = c.benchmark_group("compile");
    g.sample_size(10);
    for file in ["r5.lora", "r100.lora", "eva-560.json"] {
        let rules = common::rules(file);
        let m = lora_rules::Matcher::new(rules.clone()).unwrap_or_else(|e| panic!("{e}"));
        eprintln!(
            "{file}: memory_usage {} bytes, {:?}",
            m.memory_usage(),
            m.stats()
        );
        g.bench_function(BenchmarkId::from_parameter(file), |b| {
            b.iter(|| {
                lora_rules::Matcher::new(rules.clone())
                    .map(|m| m.memory_usage())
                    .unwrap_or(0)
            })
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
    ];
    for (rules_file, names_file) in workloads {
        let names = common::names(names_file);
        let bytes: usize = names.iter().map(String::len).sum();
        let m = common::matcher(rules_file);
        let reference = m.reference();
        let mut g = c.benchmark_group(format!("resolve/{rules_file}/{names_file}"));
        g.sample_size(10);
        g.throughput(Throughput::Elements(names.len() as u64));
        g.bench_function("automaton", |b| {
            b.iter(|| {
                names
                    .iter()
                    .map(|n| m.resolve_index(n).unwrap_or(usize::MAX))
                    .fold(0usize, usize::wrapping_add)
            })
        });
        g.bench_function("naive-reference", |b| {
            b.iter(|| {
                names
                    .iter()
                    .map(|n| reference.resolve(n).unwrap_or(usize::MAX))
                    .fold(0usize, usize::wrapping_add)
            })
        });
        g.finish();
        eprintln!(
            "{rules_file} on {names_file}: {} names, {bytes} bytes",
            names.len()
        );
    }
}

criterion_group!(benches, compile, resolve);
criterion_main!(benches);
