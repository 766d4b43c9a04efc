//! A saved PEFT LoRA adapter (`adapter_config.json` + the header of
//! `adapter_model.safetensors`) checked module by module: what the config says
//! (PEFT 0.21.2 semantics, [`super::legacy::evaluate`]) against what the tensors hold.
//!
//! PEFT saves `base_model.model.<module>.lora_A.weight` with shape `[r, in_features]` and
//! `...lora_B.weight` with shape `[out_features, r]` (`lora_embedding_A` `[r, num_embeddings]`
//! and `lora_embedding_B` `[embedding_dim, r]` for embeddings); an adapter name other than
//! `default` sits before `.weight` (`lora_A.<name>.weight`). [`inspect`] strips the
//! `base_model.model.` prefix, groups A/B by module, and reports:
//!
//! * per module: the config's `r`, `lora_alpha`, scaling and the tensors' rank;
//! * [`Problem`]s (disagreements): rank mismatch, A/B rank or shape inconsistency, tensors
//!   on a module the config does not target ("no rule explains them"), targeted modules
//!   without tensors (only meaningful when the base model's module list is given);
//! * [`KeyNote`]s: `rank_pattern` / `alpha_pattern` keys that match no targeted module, or
//!   that match some but always lose to an earlier key (shadowed);
//! * the maximum rank (what vLLM's `--max-lora-rank` must allow).

use std::collections::BTreeMap;
use std::fmt;

use super::legacy::{self, LegacyConfig, LegacyError, ModelInfo, Module};
use super::pyregex::{Mode, PyRegex};
use crate::modules::{ModuleList, TensorInfo};

/// `(in_features, out_features)` of a base-model module, when the module list has them.
type Features = (Option<u64>, Option<u64>);

/// The prefix PEFT puts before module names in saved tensor names.
pub const SAVED_PREFIX: &str = "base_model.model.";

/// The LoRA tensors of one module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoraTensors {
    /// Shape of `lora_A` (`[r, in]`) or `lora_embedding_A` (`[r, num_embeddings]`).
    pub a: Option<Vec<usize>>,
    /// Shape of `lora_B` (`[out, r]`) or `lora_embedding_B` (`[embedding_dim, r]`).
    pub b: Option<Vec<usize>>,
    /// Whether the module has a DoRA `lora_magnitude_vector`.
    pub magnitude: bool,
}

impl LoraTensors {
    /// The rank the tensors hold: `A.shape[0]`, else `B.shape[last]`.
    pub fn rank(&self) -> Option<usize> {
        self.a
            .as_ref()
            .and_then(|s| s.first().copied())
            .or_else(|| self.b.as_ref().and_then(|s| s.last().copied()))
    }
}

/// One module of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleReport {
    /// Module name (prefix stripped).
    pub name: String,
    /// PEFT targets it according to the config.
    pub targeted: bool,
    /// The config's `r` for it (targeted only).
    pub r: Option<u32>,
    /// The config's `lora_alpha` (targeted only).
    pub lora_alpha: Option<serde_json::Number>,
    /// The config's scaling (targeted only).
    pub scaling: Option<f64>,
    /// Its LoRA tensors, if any.
    pub tensors: Option<LoraTensors>,
}

/// A disagreement between the config and the tensors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The tensors' rank is not the config's `r`.
    RankMismatch {
        /// Module.
        module: String,
        /// The config's `r`.
        config: u32,
        /// The tensors' rank.
        tensors: usize,
    },
    /// `A` and `B` disagree on the rank, one is missing, or a shape is not 2-D (conv
    /// layers: only the first / last dimension is compared).
    Inconsistent {
        /// Module.
        module: String,
        /// What is wrong.
        detail: String,
    },
    /// LoRA tensors on a module the config does not target: no rule explains them.
    Orphan {
        /// Module.
        module: String,
        /// Why the config does not target it (PEFT's reason).
        reason: String,
    },
    /// The config targets the module, but the file has no tensors for it.
    Missing {
        /// Module.
        module: String,
    },
    /// The tensors' input/output sizes do not match the base model's module.
    Features {
        /// Module.
        module: String,
        /// What is wrong.
        detail: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::RankMismatch {
                module,
                config,
                tensors,
            } => write!(
                f,
                "{module}: the config gives r = {config}, the tensors have rank {tensors}"
            ),
            Problem::Inconsistent { module, detail } => write!(f, "{module}: {detail}"),
            Problem::Orphan { module, reason } => write!(
                f,
                "{module}: has LoRA tensors, but the config does not target it ({reason}): no rule explains them"
            ),
            Problem::Missing { module } => write!(
                f,
                "{module}: the config targets it, but the file has no LoRA tensors for it"
            ),
            Problem::Features { module, detail } => write!(f, "{module}: {detail}"),
        }
    }
}

/// A note on a `rank_pattern` / `alpha_pattern` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyNote {
    /// `rank_pattern` or `alpha_pattern`.
    pub field: &'static str,
    /// The key.
    pub key: String,
    /// Targeted modules it matches.
    pub matches: usize,
    /// Targeted modules where it is the first matching key (it decides).
    pub wins: usize,
}

impl fmt::Display for KeyNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.matches == 0 {
            write!(
                f,
                "{}[{:?}] matches no targeted module",
                self.field, self.key
            )
        } else {
            write!(
                f,
                "{}[{:?}] matches {} targeted module(s) but an earlier key always wins (shadowed)",
                self.field, self.key, self.matches
            )
        }
    }
}

/// The result of [`inspect`].
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// One entry per module of the module list (base model's, or those with tensors).
    pub modules: Vec<ModuleReport>,
    /// Disagreements (non-empty: `inspect` exits 1).
    pub problems: Vec<Problem>,
    /// Keys that match nothing or are shadowed.
    pub keys: Vec<KeyNote>,
    /// Tensors that are not LoRA A/B/magnitude tensors (e.g. `modules_to_save` copies).
    pub other_tensors: Vec<String>,
    /// True when the module list is the set of modules having LoRA tensors (no base model
    /// given): targeted modules without tensors cannot be seen then.
    pub modules_from_tensors: bool,
    /// Maximum rank over the config's targeted modules and the tensors.
    pub max_rank: usize,
    /// Warnings PEFT would print for the config.
    pub warnings: Vec<String>,
}

/// Splits a saved tensor name into (module, role), role being `A`, `B` or `M`
/// (magnitude). `None` for other tensors.
fn split_tensor(name: &str) -> Option<(String, char)> {
    let n = name.strip_prefix(SAVED_PREFIX).unwrap_or(name);
    let segs: Vec<&str> = n.split('.').collect();
    // find the LoRA segment: module . lora_X [. adapter] . weight
    let pos = segs.iter().rposition(|s| {
        matches!(
            *s,
            "lora_A" | "lora_B" | "lora_embedding_A" | "lora_embedding_B" | "lora_magnitude_vector"
        )
    })?;
    if pos == 0 {
        return None;
    }
    let rest = &segs[pos + 1..];
    let ok = match segs[pos] {
        // `lora_embedding_*` are parameters: `.lora_embedding_A` or `.lora_embedding_A.<adapter>`
        "lora_embedding_A" | "lora_embedding_B" => rest.len() <= 1,
        // `lora_magnitude_vector` saved as `...lora_magnitude_vector` or `...lora_magnitude_vector.weight`
        "lora_magnitude_vector" => rest.len() <= 2,
        _ => matches!(rest, ["weight"] | [_, "weight"]),
    };
    if !ok {
        return None;
    }
    let role = match segs[pos] {
        "lora_A" | "lora_embedding_A" => 'A',
        "lora_B" | "lora_embedding_B" => 'B',
        _ => 'M',
    };
    Some((segs[..pos].join("."), role))
}

/// Checks an adapter: `cfg` (PEFT 0.21.2 semantics) against the `tensors` of its
/// safetensors header, over the base model's module list `model` if given (with
/// `in_features` / `out_features` checked when the list has them), else over the modules
/// having LoRA tensors.
///
/// Complexity: O(tensors + modules × pattern keys) regex tests.
///
/// # Errors
/// PEFT's own error when it rejects the config on this module list (e.g. nothing targeted).
pub fn inspect(
    cfg: &LegacyConfig,
    tensors: &[(String, TensorInfo)],
    model: Option<&ModuleList>,
) -> Result<Report, LegacyError> {
    let mut lora: BTreeMap<String, LoraTensors> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut other_tensors = Vec::new();
    for (name, info) in tensors {
        match split_tensor(name) {
            Some((module, role)) => {
                let e = lora.entry(module.clone()).or_insert_with(|| {
                    order.push(module.clone());
                    LoraTensors::default()
                });
                match role {
                    'A' => e.a = Some(info.shape.clone()),
                    'B' => e.b = Some(info.shape.clone()),
                    _ => e.magnitude = true,
                }
            }
            None => other_tensors.push(name.clone()),
        }
    }
    let (info, features): (ModelInfo, BTreeMap<String, Features>) = match model {
        Some(list) => (
            ModelInfo::from_module_list(list),
            list.modules
                .iter()
                .map(|m| (m.name.clone(), (m.in_features, m.out_features)))
                .collect(),
        ),
        None => (
            ModelInfo {
                modules: order.iter().map(Module::linear).collect(),
                output_embedding: None,
                default_targets: None,
            },
            BTreeMap::new(),
        ),
    };
    let ev = legacy::evaluate(cfg, &info)?;
    let mut problems = Vec::new();
    let mut modules = Vec::new();
    let mut max_rank = 0usize;
    let mut in_list = std::collections::HashSet::new();
    for d in &ev.decisions {
        in_list.insert(d.name.as_str());
        let t = lora.get(&d.name).cloned();
        if let Some(r) = d.r {
            max_rank = max_rank.max(r as usize);
        }
        if let Some(t) = &t {
            check_tensors(&d.name, t, d.r, features.get(&d.name), &mut problems);
            if let Some(r) = t.rank() {
                max_rank = max_rank.max(r);
            }
            if !d.targeted {
                problems.push(Problem::Orphan {
                    module: d.name.clone(),
                    reason: reason_text(&d.reason),
                });
            }
        } else if d.targeted {
            problems.push(Problem::Missing {
                module: d.name.clone(),
            });
        }
        modules.push(ModuleReport {
            name: d.name.clone(),
            targeted: d.targeted,
            r: d.r,
            lora_alpha: d.lora_alpha.clone(),
            scaling: d.scaling,
            tensors: t,
        });
    }
    // tensors on modules that are not in the base model's list
    for m in &order {
        if !in_list.contains(m.as_str()) {
            let t = &lora[m];
            if let Some(r) = t.rank() {
                max_rank = max_rank.max(r);
            }
            problems.push(Problem::Orphan {
                module: m.clone(),
                reason: "not a module of the base model".into(),
            });
        }
    }
    let keys = key_notes(cfg, &ev)?;
    Ok(Report {
        modules,
        problems,
        keys,
        other_tensors,
        modules_from_tensors: model.is_none(),
        max_rank,
        warnings: ev.warnings.iter().map(|w| w.to_string()).collect(),
    })
}

fn reason_text(r: &legacy::Reason) -> String {
    match r {
        legacy::Reason::Excluded(e) => format!("excluded by exclude_modules {e:?}"),
        legacy::Reason::ModulesToSave(e) => format!("inside modules_to_save entry {e:?}"),
        legacy::Reason::LayerFiltered(Some(i)) => {
            format!("layer {i} is not in layers_to_transform")
        }
        legacy::Reason::LayerFiltered(None) => "no layer index for layers_to_transform".into(),
        _ => "no target_modules entry matches".into(),
    }
}

fn check_tensors(
    name: &str,
    t: &LoraTensors,
    r: Option<u32>,
    features: Option<&Features>,
    problems: &mut Vec<Problem>,
) {
    let bad = |detail: String| Problem::Inconsistent {
        module: name.into(),
        detail,
    };
    let (ra, rb) = (
        t.a.as_ref().and_then(|s| s.first().copied()),
        t.b.as_ref().and_then(|s| s.last().copied()),
    );
    match (&t.a, &t.b) {
        (None, _) => problems.push(bad("lora_B without lora_A".into())),
        (_, None) => problems.push(bad("lora_A without lora_B".into())),
        (Some(a), Some(b)) => {
            if a.len() < 2 || b.len() < 2 {
                problems.push(bad(format!(
                    "lora_A shape {a:?} / lora_B shape {b:?}: expected [r, in] and [out, r]"
                )));
            } else if ra != rb {
                problems.push(bad(format!(
                    "lora_A {a:?} has rank {}, lora_B {b:?} has rank {}",
                    a[0],
                    b[b.len() - 1]
                )));
            }
        }
    }
    if let (Some(cfg_r), Some(tr)) = (r, t.rank())
        && cfg_r as usize != tr
    {
        problems.push(Problem::RankMismatch {
            module: name.into(),
            config: cfg_r,
            tensors: tr,
        });
    }
    if let Some((fin, fout)) = features {
        let tin = t.a.as_ref().filter(|s| s.len() == 2).map(|s| s[1] as u64);
        let tout = t.b.as_ref().filter(|s| s.len() == 2).map(|s| s[0] as u64);
        if let (Some(x), Some(y)) = (fin, tin)
            && x != &y
        {
            problems.push(Problem::Features {
                module: name.into(),
                detail: format!("lora_A takes {y} inputs, the module has in_features = {x}"),
            });
        }
        if let (Some(x), Some(y)) = (fout, tout)
            && x != &y
        {
            problems.push(Problem::Features {
                module: name.into(),
                detail: format!("lora_B gives {y} outputs, the module has out_features = {x}"),
            });
        }
    }
}

/// Keys that match no targeted module, or match some but never decide.
fn key_notes(cfg: &LegacyConfig, ev: &legacy::Evaluation) -> Result<Vec<KeyNote>, LegacyError> {
    let targeted: Vec<&legacy::Decision> = ev.decisions.iter().filter(|d| d.targeted).collect();
    let mut out = Vec::new();
    for (field, keys) in [
        (
            "rank_pattern",
            cfg.rank_pattern
                .iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>(),
        ),
        (
            "alpha_pattern",
            cfg.alpha_pattern.iter().map(|(k, _)| k.as_str()).collect(),
        ),
    ] {
        for k in keys {
            let re = PyRegex::new(&legacy::pattern_key_regex(k), Mode::Match).map_err(|e| {
                LegacyError {
                    kind: legacy::PeftErrorKind::ReError,
                    field: Some(field.into()),
                    key: Some(k.into()),
                    module: None,
                    message: e.python_message(),
                    hint: "fix the key".into(),
                    regex: Some(Box::new(e)),
                }
            })?;
            let mut matches = 0;
            for d in &targeted {
                if re.is_match(&d.name).unwrap_or(false) {
                    matches += 1;
                }
            }
            let wins = targeted
                .iter()
                .filter(|d| {
                    let won = if field == "rank_pattern" {
                        &d.rank_key
                    } else {
                        &d.alpha_key
                    };
                    won.as_deref() == Some(k)
                })
                .count();
            if wins == 0 {
                out.push(KeyNote {
                    field,
                    key: k.to_string(),
                    matches,
                    wins,
                });
            }
        }
    }
    Ok(out)
}
