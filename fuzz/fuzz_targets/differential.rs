//! Differential: a structured rule set from a small vocabulary plus module
//! names built from the same vocabulary, so that matches are common.
//! `Matcher::resolve_index` (the automaton) must equal
//! `Matcher::reference().resolve` (one regex per atom, rules in order).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lora_rules::engine::Config;
use lora_rules::{Format, Matcher, Source};

const SEGS: &[&str] = &["model", "layers", "0", "1", "12", "mlp", "self_attn", "q_proj", "down_proj", "visual"];

#[derive(Debug, Arbitrary)]
enum Kind {
    Path,
    Re,
    Key,
}

#[derive(Debug, Arbitrary)]
enum Piece {
    Seg(u8),
    Star,
    GlobStar,
    Range(u8, u8),
    Alt(u8, u8),
    StarSuffix(u8),
}

#[derive(Debug, Arbitrary)]
enum Expr {
    Atom(Kind, Vec<Piece>),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

#[derive(Debug, Arbitrary)]
struct Case {
    rules: Vec<(Expr, bool)>,
    names: Vec<Vec<u8>>,
    lazy: bool,
    inline_keys: u8,
}

fn seg(i: u8) -> &'static str {
    SEGS[i as usize % SEGS.len()]
}

fn path(pieces: &[Piece]) -> String {
    let mut out: Vec<String> = pieces
        .iter()
        .take(6)
        .map(|p| match p {
            Piece::Seg(i) => seg(*i).to_string(),
            Piece::Star => "*".into(),
            Piece::GlobStar => "**".into(),
            Piece::Range(a, b) => {
                let (a, b) = (*a % 20, *b % 20);
                format!("{{{}..{}}}", a.min(b), a.max(b))
            }
            Piece::Alt(a, b) => format!("{{{},{}}}", seg(*a), seg(*b)),
            Piece::StarSuffix(i) => format!("*{}", &seg(*i)[seg(*i).len() / 2..]),
        })
        .collect();
    if out.is_empty() {
        out.push("**".into());
    }
    out.join(".")
}

fn regex(pieces: &[Piece]) -> String {
    let parts: Vec<String> = pieces
        .iter()
        .take(6)
        .map(|p| match p {
            Piece::Seg(i) => seg(*i).to_string(),
            Piece::Star => "[^.]+".into(),
            Piece::GlobStar => ".*".into(),
            Piece::Range(..) => r"\d+".into(),
            Piece::Alt(a, b) => format!("({}|{})", seg(*a), seg(*b)),
            Piece::StarSuffix(i) => format!(".*{}", seg(*i)),
        })
        .collect();
    parts.join(r"\.")
}

fn expr(e: &Expr, depth: usize) -> String {
    if depth > 4 {
        return "\"**\"".into();
    }
    match e {
        Expr::Atom(Kind::Path, p) => format!("\"{}\"", path(p)),
        Expr::Atom(Kind::Re, p) => format!("re \"{}\"", regex(p)),
        Expr::Atom(Kind::Key, p) => format!("key \"{}\"", regex(p)),
        Expr::Not(x) => format!("!{}", expr(x, depth + 1)),
        Expr::And(a, b) => format!("({} & {})", expr(a, depth + 1), expr(b, depth + 1)),
        Expr::Or(a, b) => format!("({} | {})", expr(a, depth + 1), expr(b, depth + 1)),
    }
}

fuzz_target!(|case: Case| {
    let mut text = String::new();
    for (e, exclude) in case.rules.iter().take(40) {
        text.push_str(&expr(e, 0));
        text.push_str(if *exclude { " exclude\n" } else { " { rank = 4 }\n" });
    }
    let src = Source::new("d.lora", text.as_str());
    let Ok((rules, _)) = lora_rules::load(&src, Format::Lora) else {
        return;
    };
    let cfg = Config {
        force_lazy: case.lazy,
        inline_key_limit: case.inline_keys as usize % 4,
        literal_keys_min: if case.inline_keys & 4 != 0 { 0 } else { 64 },
        dfa_size_limit: 4 << 20,
        determinize_size_limit: 4 << 20,
        ..Default::default()
    };
    let Ok(m) = Matcher::with_config(rules, &cfg) else {
        return;
    };
    let mut names = Vec::new();
    for n in case.names.iter().take(16) {
        let name: Vec<&str> = n.iter().take(8).map(|&i| seg(i)).collect();
        let name = name.join(".");
        assert_eq!(
            m.resolve_index(&name),
            m.reference().resolve(&name),
            "name {name:?}\nrules:\n{text}"
        );
        names.push(name);
    }
    // Batch resolution (shared prefixes, settled walks) agrees name by name.
    let batch = m.resolve_batch(&names);
    for (name, got) in names.iter().zip(batch) {
        assert_eq!(got, m.resolve_index(name), "batch, name {name:?}\nrules:\n{text}");
    }
});
