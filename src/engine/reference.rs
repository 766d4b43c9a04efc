//! The executable specification: try each rule in order, each atom with its
//! own `regex::Regex`, first match wins. Slow (O(rules) per name) and
//! obviously right; the automaton is property-tested against it.

use crate::ir::RuleSet;
use crate::syntax::ast::PatternKind;

/// The naive in-order resolver.
#[derive(Debug, Clone)]
pub struct Reference {
    /// One full-match regex per atom (`None` if it could not be built).
    atoms: Vec<Option<regex::Regex>>,
    exprs: Vec<crate::ir::Expr>,
}

impl Reference {
    /// Compiles one `regex::Regex` per atom: `^(?:R)$` for regex and path
    /// atoms, `^(?:.*\.)?(?:K)$` for key atoms (PEFT 0.21.2 `get_pattern_key`
    /// wraps keys as `(.*\.)?(K)$` under `re.match`).
    ///
    /// Complexity: one regex compilation per atom (seconds for 10^4+ atoms).
    pub fn new(rules: &RuleSet) -> Reference {
        Reference {
            atoms: rules.atoms().iter().map(Reference::atom_regex).collect(),
            exprs: rules.rules().iter().map(|r| r.expr.clone()).collect(),
        }
    }

    /// The full-match `regex::Regex` of one atom (see [`Reference::new`]),
    /// `None` if it cannot be built.
    pub fn atom_regex(a: &crate::ir::Atom) -> Option<regex::Regex> {
        let text = match a.kind {
            PatternKind::Key => format!(r"^(?:.*\.)?(?:{})$", a.regex),
            _ => format!("^(?:{})$", a.regex),
        };
        regex::RegexBuilder::new(&text)
            .size_limit(1 << 30)
            .dfa_size_limit(1 << 26)
            .build()
            .ok()
    }

    /// Whether atom `i` matches `name`.
    pub fn atom_matches(&self, i: usize, name: &str) -> bool {
        self.atoms
            .get(i)
            .and_then(|r| r.as_ref())
            .is_some_and(|r| r.is_match(name))
    }

    /// Whether rule `i` matches `name`.
    pub fn rule_matches(&self, i: usize, name: &str) -> bool {
        self.exprs
            .get(i)
            .is_some_and(|e| e.eval(&mut |a| self.atom_matches(a, name)))
    }

    /// The first rule that matches `name`. O(rules × len(name)).
    pub fn resolve(&self, name: &str) -> Option<usize> {
        (0..self.exprs.len()).find(|&i| self.rule_matches(i, name))
    }

    /// Every rule that matches `name`, in order (for `explain`).
    pub fn matching(&self, name: &str) -> Vec<usize> {
        (0..self.exprs.len())
            .filter(|&i| self.rule_matches(i, name))
            .collect()
    }
}
