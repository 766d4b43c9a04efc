//! Direct evaluator of legacy Hugging Face PEFT LoRA configs (`adapter_config.json` /
//! `LoraConfig(**kwargs)`), reproducing PEFT 0.21.2 (`LoraConfig.__post_init__`,
//! `BaseTuner.inject_adapter`, `check_target_module_exists`, `get_pattern_key`,
//! `_find_minimal_target_modules`, `_maybe_include_all_linear_layers`,
//! `LoraModel._create_and_replace`, `LoraLayer.update_layer`).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;

use serde_json::{Map, Number, Value};

use crate::peft::layers::{self, LayerIndex};
use crate::peft::pyregex::{Mode, PyRegex, PyRegexError, PyRegexErrorKind};

// ------------------------------------------------------------------------------------------
// Model description
// ------------------------------------------------------------------------------------------

/// One module of the model (a `named_modules()` entry that is not a bare container).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Dotted module name (`model.layers.0.self_attn.q_proj`).
    pub name: String,
    /// Python class name (`Linear`, `Embedding`, `LlamaRMSNorm`, ...), if known.
    pub class: Option<String>,
    /// `isinstance(module, (torch.nn.Linear, transformers.pytorch_utils.Conv1D))`, the test
    /// PEFT 0.21.2 `_maybe_include_all_linear_layers` uses for `"all-linear"`.
    pub linear_like: bool,
}

impl Module {
    /// A `torch.nn.Linear` leaf.
    pub fn linear(name: impl Into<String>) -> Self {
        Module {
            name: name.into(),
            class: Some("Linear".into()),
            linear_like: true,
        }
    }
}

/// The model the config is applied to.
///
/// Every proper prefix of a module name is a bare container module (`nn.Module`), as in
/// PEFT's `model.named_modules()`; containers are checked against the config too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelInfo {
    /// Modules in `named_modules()` order (parents are derived from the names; children of
    /// a container are visited in order of first appearance here).
    pub modules: Vec<Module>,
    /// Name of the module `get_output_embeddings()` returns (transformers models only);
    /// `"all-linear"` leaves it out (PEFT 0.21.2 `_maybe_include_all_linear_layers`).
    pub output_embedding: Option<String>,
    /// PEFT's per-architecture default `target_modules`
    /// (`TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING[model_type]`, e.g. `q_proj`,
    /// `v_proj` for llama and qwen2), used when `target_modules` is null or absent
    /// (PEFT 0.21.2 `LoraModel._prepare_adapter_config`). None: no default, error.
    pub default_targets: Option<Vec<String>>,
}

impl ModelInfo {
    /// The model as PEFT sees a module list: modules without a class (plain name lists)
    /// are `torch.nn.Linear` leaves (the conformance corpus's "modules" form); TSV classes
    /// are kept, and `Linear` / `Conv1D` count as linear for `"all-linear"`. O(modules).
    pub fn from_module_list(list: &crate::modules::ModuleList) -> ModelInfo {
        ModelInfo {
            modules: list
                .modules
                .iter()
                .map(|m| match &m.class {
                    None => Module::linear(m.name.clone()),
                    Some(c) => Module {
                        name: m.name.clone(),
                        class: Some(c.clone()),
                        linear_like: c == "Linear" || c == "Conv1D",
                    },
                })
                .collect(),
            output_embedding: list.output_embedding.clone(),
            default_targets: None,
        }
    }
}

/// PEFT 0.21.2 module classes LoRA can wrap (`LoraModel._create_new_module` dispatchers).
pub const SUPPORTED_CLASSES: &[&str] = &[
    "Linear",
    "Embedding",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "Conv1D",
    "MultiheadAttention",
];

// ------------------------------------------------------------------------------------------
// Errors and warnings
// ------------------------------------------------------------------------------------------

/// Python exception type PEFT 0.21.2 raises for a given failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeftErrorKind {
    /// `ValueError` (config errors, `r <= 0`, unsupported target module, no targets).
    ValueError,
    /// `peft.tuners.tuners_utils.NoMatchingPeftModuleError` (nothing targeted).
    NoMatchingPeftModuleError,
    /// Python `re.error` (invalid regular expression).
    ReError,
    /// Python `OverflowError` (regex repeat count too large).
    OverflowError,
    /// Python `TypeError` (wrong value type where PEFT would crash).
    TypeError,
    /// Not an exception PEFT raises: the input is valid for PEFT but outside what this
    /// evaluator reproduces (AdaLoRA rank masks, other PEFT types, `target_parameters`, ...).
    Unsupported,
}

impl PeftErrorKind {
    /// The Python exception class name (`type(e).__name__`), as in the conformance cases.
    pub fn python_type(self) -> &'static str {
        match self {
            PeftErrorKind::ValueError => "ValueError",
            PeftErrorKind::NoMatchingPeftModuleError => "NoMatchingPeftModuleError",
            PeftErrorKind::ReError => "error",
            PeftErrorKind::OverflowError => "OverflowError",
            PeftErrorKind::TypeError => "TypeError",
            PeftErrorKind::Unsupported => "Unsupported",
        }
    }
}

/// An error of the legacy evaluator: what, where (field, key, regex offset) and how to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.render())]
pub struct LegacyError {
    /// Python exception type PEFT raises here.
    pub kind: PeftErrorKind,
    /// Config field involved (`target_modules`, `rank_pattern`, ...), if any.
    pub field: Option<String>,
    /// Entry / key of that field involved, if any.
    pub key: Option<String>,
    /// Module name involved, if any.
    pub module: Option<String>,
    /// What went wrong (PEFT's message where PEFT has one).
    pub message: String,
    /// How to fix it.
    pub hint: String,
    /// The regex error, for `re.error`-type failures.
    pub regex: Option<Box<PyRegexError>>,
}

impl LegacyError {
    fn new(kind: PeftErrorKind, message: impl Into<String>, hint: impl Into<String>) -> Self {
        LegacyError {
            kind,
            field: None,
            key: None,
            module: None,
            message: message.into(),
            hint: hint.into(),
            regex: None,
        }
    }
    fn field(mut self, f: &str) -> Self {
        self.field = Some(f.to_string());
        self
    }
    fn key(mut self, k: &str) -> Self {
        self.key = Some(k.to_string());
        self
    }
    fn module(mut self, m: &str) -> Self {
        self.module = Some(m.to_string());
        self
    }
    fn render(&self) -> String {
        let mut s = format!("{}: {}", self.kind.python_type(), self.message);
        if let Some(f) = &self.field {
            s.push_str(&format!(" [field `{f}`"));
            if let Some(k) = &self.key {
                s.push_str(&format!(", entry {k:?}"));
            }
            s.push(']');
        }
        if let Some(m) = &self.module {
            s.push_str(&format!(" [module `{m}`]"));
        }
        if !self.hint.is_empty() {
            s.push_str(&format!(". Fix: {}", self.hint));
        }
        s
    }
    /// The Python exception type name.
    pub fn python_type(&self) -> &'static str {
        self.kind.python_type()
    }
}

/// A warning PEFT 0.21.2 would emit (category as in `warnings.warn`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// `UserWarning` or `RuntimeWarning`.
    pub category: &'static str,
    /// Message text.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.category, self.message)
    }
}

// ------------------------------------------------------------------------------------------
// Config
// ------------------------------------------------------------------------------------------

/// `target_modules` as PEFT 0.21.2 `LoraConfig` holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetModules {
    /// A list (PEFT turns it into a set): each entry literal, exact name or `"." + entry` suffix.
    List(Vec<String>),
    /// A string: `re.fullmatch(pattern, name)`; `"all-linear"` (any case) is special.
    Regex(String),
}

/// `exclude_modules` as PEFT 0.21.2 `LoraConfig` holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum ExcludeModules {
    /// Literal entries (exact name or `"." + entry` suffix).
    List(Vec<String>),
    /// `re.fullmatch(pattern, name)`.
    Regex(String),
}

/// `layers_to_transform`.
#[derive(Debug, Clone, PartialEq)]
pub enum LayersToTransform {
    /// A single layer index.
    Int(i128),
    /// Layer indices; empty = no filter.
    List(Vec<i128>),
}

/// A parsed, typed legacy LoRA config; pattern key order is kept.
///
/// Reproduces the fields of PEFT 0.21.2 `LoraConfig` that decide which modules get LoRA
/// and with which `r` / `lora_alpha` / scaling.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyConfig {
    /// `target_modules` (None = null/absent: architecture default).
    pub target_modules: Option<TargetModules>,
    /// `exclude_modules`.
    pub exclude_modules: Option<ExcludeModules>,
    /// `modules_to_save` (used as a guard: these never get LoRA).
    pub modules_to_save: Option<Vec<String>>,
    /// `r` (default 8).
    pub r: i64,
    /// `lora_alpha` with its JSON type (default 8).
    pub lora_alpha: Number,
    /// `use_rslora`.
    pub use_rslora: bool,
    /// `lora_dropout` with its JSON type (default 0.0). Not part of which
    /// modules are adapted nor of scaling; carried so that `convert` keeps it.
    pub lora_dropout: Number,
    /// `use_dora` (default false); carried like `lora_dropout`.
    pub use_dora: bool,
    /// `init_lora_weights`: a boolean or a string such as `"pissa"` (default
    /// true); carried like `lora_dropout`.
    pub init_lora_weights: Value,
    /// `rank_pattern`, in key order.
    pub rank_pattern: Vec<(String, i64)>,
    /// `alpha_pattern`, in key order.
    pub alpha_pattern: Vec<(String, Number)>,
    /// `layers_to_transform`.
    pub layers_to_transform: Option<LayersToTransform>,
    /// `layers_pattern`: None, a string (`Some(vec![s])` with `layers_pattern_is_str`), or a list.
    pub layers_pattern: Option<Vec<String>>,
    /// Whether `layers_pattern` was a string (for PEFT's truthiness rules).
    pub layers_pattern_is_str: bool,
    /// `target_parameters` (only its presence matters here).
    pub target_parameters: Option<Vec<String>>,
    /// Top-level keys unknown to PEFT 0.21.2 (ignored with a warning).
    pub unknown_fields: Vec<String>,
}

/// Field names of PEFT 0.21.2 `LoraConfig` (`dataclasses.fields(LoraConfig)`).
pub const LORA_CONFIG_FIELDS: &[&str] = &[
    "task_type",
    "peft_type",
    "auto_mapping",
    "peft_version",
    "base_model_name_or_path",
    "revision",
    "inference_mode",
    "r",
    "target_modules",
    "exclude_modules",
    "lora_alpha",
    "lora_dropout",
    "fan_in_fan_out",
    "bias",
    "use_rslora",
    "modules_to_save",
    "init_lora_weights",
    "layers_to_transform",
    "layers_pattern",
    "rank_pattern",
    "alpha_pattern",
    "megatron_config",
    "megatron_core",
    "trainable_token_indices",
    "loftq_config",
    "eva_config",
    "corda_config",
    "lora_ga_config",
    "use_dora",
    "velora_config",
    "alora_invocation_tokens",
    "use_qalora",
    "qalora_group_size",
    "monteclora_config",
    "layer_replication",
    "runtime_config",
    "lora_bias",
    "target_parameters",
    "use_bdlora",
    "arrow_config",
    "kasa_config",
    "ensure_weight_tying",
];

/// A value of a type this evaluator does not model for `field` (PEFT may
/// accept it through Python truthiness or fail later, at layer creation).
fn unmodelled_type(field: &str, expected: &str, got: &Value) -> LegacyError {
    LegacyError::new(
        PeftErrorKind::Unsupported,
        format!(
            "`{field}` is {}; this evaluator reads it only as {expected}",
            short(got)
        ),
        format!("write `{field}` as {expected}"),
    )
    .field(field)
}

fn type_err(field: &str, expected: &str, got: &Value) -> LegacyError {
    LegacyError::new(
        PeftErrorKind::TypeError,
        format!("`{field}` must be {expected}, got {}", short(got)),
        format!("write `{field}` as {expected}"),
    )
    .field(field)
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        format!(
            "{}...",
            &s[..s
                .char_indices()
                .take_while(|(i, _)| *i < 77)
                .last()
                .map(|(i, c)| i + c.len_utf8())
                .unwrap_or(0)]
        )
    } else {
        s
    }
}

fn str_list(field: &str, v: &Value) -> Result<Vec<String>, LegacyError> {
    let Value::Array(a) = v else {
        return Err(type_err(field, "a list of strings", v));
    };
    a.iter()
        .map(|x| {
            x.as_str()
                .map(str::to_string)
                .ok_or_else(|| type_err(field, "a list of strings", v))
        })
        .collect()
}

fn int_of(field: &str, v: &Value) -> Result<i128, LegacyError> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(i as i128)
            } else if let Some(u) = n.as_u64() {
                Ok(u as i128)
            } else {
                Err(type_err(field, "an integer", v))
            }
        }
        Value::Bool(b) => Ok(*b as i128), // Python bool is an int
        _ => Err(type_err(field, "an integer", v)),
    }
}

fn is_adalora_mask(v: &Value) -> bool {
    matches!(v, Value::Array(a) if a.iter().all(|x| x.is_boolean()))
}

impl LegacyConfig {
    /// Parse an `adapter_config.json` object / `LoraConfig` kwargs (key order kept).
    ///
    /// Reproduces PEFT 0.21.2 `LoraConfig.from_pretrained` / `LoraConfig(**kwargs)` for the
    /// matching-relevant fields: defaults `r = 8`, `lora_alpha = 8`; unknown top-level keys
    /// are dropped with a warning (as `from_pretrained` does for files from newer PEFT);
    /// AdaLoRA-style `rank_pattern` values (lists of booleans) and non-LoRA `peft_type`s are
    /// refused with a clear error.
    pub fn from_json_value(v: &Value) -> Result<(Self, Vec<Warning>), LegacyError> {
        let Value::Object(obj) = v else {
            return Err(LegacyError::new(
                PeftErrorKind::TypeError,
                format!("a LoRA config must be a JSON object, got {}", short(v)),
                "pass the content of adapter_config.json (a JSON object)",
            ));
        };
        let mut warnings = Vec::new();
        let mut cfg = LegacyConfig {
            target_modules: None,
            exclude_modules: None,
            modules_to_save: None,
            r: 8,
            lora_alpha: Number::from(8),
            use_rslora: false,
            lora_dropout: Number::from(0),
            use_dora: false,
            init_lora_weights: Value::Bool(true),
            rank_pattern: Vec::new(),
            alpha_pattern: Vec::new(),
            layers_to_transform: None,
            layers_pattern: None,
            layers_pattern_is_str: false,
            target_parameters: None,
            unknown_fields: Vec::new(),
        };
        for k in obj.keys() {
            if !LORA_CONFIG_FIELDS.contains(&k.as_str()) {
                cfg.unknown_fields.push(k.clone());
            }
        }
        if !cfg.unknown_fields.is_empty() {
            warnings.push(Warning {
                category: "UserWarning",
                message: format!(
                    "Unexpected keyword arguments [{}] for class LoraConfig, these are ignored. This probably means that you're loading a configuration file that was saved using a higher version of the library and additional parameters have been introduced since. It is highly recommended to upgrade the PEFT version before continuing (e.g. by running `pip install -U peft`).",
                    cfg.unknown_fields.iter().map(|k| py_str_repr(k)).collect::<Vec<_>>().join(", ")
                ),
            });
        }
        let get = |k: &str| obj.get(k).filter(|v| !v.is_null());

        if let Some(pt) = get("peft_type") {
            let s = pt.as_str().unwrap_or("");
            if s != "LORA" {
                return Err(LegacyError::new(
                    PeftErrorKind::Unsupported,
                    format!("peft_type {} is not LoRA; this evaluator reproduces LoraConfig only", short(pt)),
                    "convert only LoRA adapters (peft_type \"LORA\"); AdaLoRA/OSF/... configs have different semantics",
                )
                .field("peft_type"));
            }
        }
        if let Some(t) = get("target_modules") {
            cfg.target_modules = Some(match t {
                Value::String(s) => TargetModules::Regex(s.clone()),
                Value::Array(_) => TargetModules::List(str_list("target_modules", t)?),
                _ => {
                    return Err(type_err(
                        "target_modules",
                        "a string, a list of strings or null",
                        t,
                    ));
                }
            });
        }
        if let Some(t) = get("exclude_modules") {
            cfg.exclude_modules = Some(match t {
                Value::String(s) => ExcludeModules::Regex(s.clone()),
                Value::Array(_) => ExcludeModules::List(str_list("exclude_modules", t)?),
                _ => {
                    return Err(type_err(
                        "exclude_modules",
                        "a string, a list of strings or null",
                        t,
                    ));
                }
            });
        }
        if let Some(t) = get("modules_to_save") {
            cfg.modules_to_save = Some(str_list("modules_to_save", t)?);
        }
        if let Some(t) = get("target_parameters") {
            cfg.target_parameters = Some(str_list("target_parameters", t)?);
        }
        if let Some(r) = get("r") {
            let i = int_of("r", r)?;
            cfg.r = i64::try_from(i).map_err(|_| type_err("r", "an integer in i64 range", r))?;
        }
        if let Some(a) = get("lora_alpha") {
            match a {
                Value::Number(n) => cfg.lora_alpha = n.clone(),
                _ => return Err(type_err("lora_alpha", "a number", a)),
            }
        }
        if let Some(u) = get("use_rslora") {
            cfg.use_rslora = match u {
                Value::Bool(b) => *b,
                _ => return Err(type_err("use_rslora", "a boolean", u)),
            };
        }
        if let Some(d) = get("lora_dropout") {
            match d {
                Value::Number(n) => cfg.lora_dropout = n.clone(),
                _ => return Err(unmodelled_type("lora_dropout", "a number", d)),
            }
        }
        if let Some(u) = get("use_dora") {
            cfg.use_dora = match u {
                Value::Bool(b) => *b,
                _ => return Err(unmodelled_type("use_dora", "a boolean", u)),
            };
        }
        if let Some(i) = get("init_lora_weights") {
            match i {
                Value::Bool(_) | Value::String(_) => cfg.init_lora_weights = i.clone(),
                _ => {
                    return Err(unmodelled_type(
                        "init_lora_weights",
                        "a boolean or a string such as \"pissa\"",
                        i,
                    ));
                }
            }
        }
        if let Some(rp) = get("rank_pattern") {
            let Value::Object(m) = rp else {
                return Err(type_err("rank_pattern", "an object {key: int}", rp));
            };
            for (k, val) in m {
                if is_adalora_mask(val) {
                    return Err(LegacyError::new(
                        PeftErrorKind::Unsupported,
                        "rank_pattern values are lists of booleans: this is an AdaLoRA rank mask (effective rank = number of true), not a LoRA rank",
                        "convert AdaLoRA adapters with an AdaLoRA-aware tool, or replace each mask by its count of true values and drop the `.lora_E` suffix from the keys",
                    )
                    .field("rank_pattern")
                    .key(k));
                }
                let i = int_of("rank_pattern", val).map_err(|e| e.key(k))?;
                let i = i64::try_from(i)
                    .map_err(|_| type_err("rank_pattern", "an integer", val).key(k))?;
                cfg.rank_pattern.push((k.clone(), i));
            }
        }
        if let Some(ap) = get("alpha_pattern") {
            let Value::Object(m) = ap else {
                return Err(type_err("alpha_pattern", "an object {key: number}", ap));
            };
            for (k, val) in m {
                match val {
                    Value::Number(n) => cfg.alpha_pattern.push((k.clone(), n.clone())),
                    _ => {
                        return Err(
                            type_err("alpha_pattern", "an object {key: number}", val).key(k)
                        );
                    }
                }
            }
        }
        if let Some(l) = get("layers_to_transform") {
            cfg.layers_to_transform = Some(match l {
                Value::Array(a) => LayersToTransform::List(
                    a.iter()
                        .map(|x| int_of("layers_to_transform", x))
                        .collect::<Result<_, _>>()?,
                ),
                other => LayersToTransform::Int(int_of("layers_to_transform", other)?),
            });
        }
        if let Some(l) = get("layers_pattern") {
            match l {
                Value::String(s) => {
                    cfg.layers_pattern = Some(vec![s.clone()]);
                    cfg.layers_pattern_is_str = true;
                }
                Value::Array(_) => cfg.layers_pattern = Some(str_list("layers_pattern", l)?),
                _ => {
                    return Err(type_err(
                        "layers_pattern",
                        "a string or a list of strings",
                        l,
                    ));
                }
            }
        }
        Ok((cfg, warnings))
    }

    /// Parse a JSON string (see [`LegacyConfig::from_json_value`]).
    pub fn from_json_str(s: &str) -> Result<(Self, Vec<Warning>), LegacyError> {
        let v: Value = serde_json::from_str(s).map_err(|e| {
            LegacyError::new(
                PeftErrorKind::ValueError,
                format!("invalid JSON: {e}"),
                "fix the JSON syntax",
            )
        })?;
        Self::from_json_value(&v)
    }

    /// Reproduce PEFT 0.21.2 `save_pretrained` + `LoraConfig.from_pretrained`: the file is
    /// written with `json.dump(..., sort_keys=True)`, so `rank_pattern` / `alpha_pattern`
    /// keys come back in code-point order.
    pub fn sort_pattern_keys(&mut self) {
        self.rank_pattern.sort_by(|a, b| a.0.cmp(&b.0));
        self.alpha_pattern.sort_by(|a, b| a.0.cmp(&b.0));
    }

    fn layers_pattern_truthy(&self) -> bool {
        match &self.layers_pattern {
            None => false,
            Some(v) if self.layers_pattern_is_str => {
                v.first().map(|s| !s.is_empty()).unwrap_or(false)
            }
            Some(v) => !v.is_empty(),
        }
    }

    /// Reproduces the checks of PEFT 0.21.2 `LoraConfig.__post_init__`.
    pub fn validate(&self) -> Result<(), LegacyError> {
        if matches!(self.target_modules, Some(TargetModules::Regex(_)))
            && self.layers_to_transform.is_some()
        {
            return Err(LegacyError::new(
                PeftErrorKind::ValueError,
                "`layers_to_transform` cannot be used when `target_modules` is a str.",
                "give `target_modules` as a list of names, or encode the layers in the regex and drop `layers_to_transform`",
            )
            .field("layers_to_transform"));
        }
        if matches!(self.target_modules, Some(TargetModules::Regex(_)))
            && self.layers_pattern.is_some()
        {
            return Err(LegacyError::new(
                PeftErrorKind::ValueError,
                "`layers_pattern` cannot be used when `target_modules` is a str.",
                "give `target_modules` as a list of names, or drop `layers_pattern`",
            )
            .field("layers_pattern"));
        }
        if self.layers_pattern_truthy() && self.layers_to_transform.is_none() {
            return Err(LegacyError::new(
                PeftErrorKind::ValueError,
                "When `layers_pattern` is specified, `layers_to_transform` must also be specified. ",
                "add `layers_to_transform`, or remove `layers_pattern`",
            )
            .field("layers_pattern"));
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------
// Evaluation
// ------------------------------------------------------------------------------------------

/// Why a module was or was not targeted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Excluded by `exclude_modules` (the list entry, or the regex).
    Excluded(String),
    /// Excluded because it is (inside) a `modules_to_save` entry.
    ModulesToSave(String),
    /// Targeted by a list entry equal to the full name (layer filter bypassed).
    ExactName(String),
    /// Targeted by a list entry matching as a `"." + entry` suffix (the first such entry).
    Suffix(String),
    /// Targeted by the string target (full match).
    Regex(String),
    /// A suffix hit removed by `layers_to_transform` (layer index, if any was found).
    LayerFiltered(Option<i128>),
    /// Nothing matched.
    NotMatched,
}

/// PEFT's answer for one module.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Module name.
    pub name: String,
    /// Whether PEFT puts a LoRA adapter on it.
    pub targeted: bool,
    /// `r` used (from `rank_pattern` or the default), targeted modules only.
    pub r: Option<u32>,
    /// `lora_alpha` used, with its JSON type, targeted modules only.
    pub lora_alpha: Option<Number>,
    /// `lora_alpha / r` or `lora_alpha / sqrt(r)` (rsLoRA), targeted modules only.
    pub scaling: Option<f64>,
    /// Which rule decided.
    pub reason: Reason,
    /// The `rank_pattern` key that gave `r` (None: default `r`).
    pub rank_key: Option<String>,
    /// The `alpha_pattern` key that gave `lora_alpha` (None: default).
    pub alpha_key: Option<String>,
}

/// Result of [`evaluate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// One decision per module of [`ModelInfo::modules`], same order.
    pub decisions: Vec<Decision>,
    /// Warnings PEFT would emit.
    pub warnings: Vec<Warning>,
    /// `target_modules` as PEFT used it (after the architecture default, `"all-linear"`
    /// expansion and the 20+ entry condensation).
    pub effective_targets: TargetModules,
}

#[derive(Default)]
struct ReCache {
    map: HashMap<(String, bool), Result<PyRegex, PyRegexError>>,
}

impl ReCache {
    fn get(&mut self, pattern: &str, mode: Mode) -> Result<PyRegex, PyRegexError> {
        let k = (pattern.to_string(), mode == Mode::FullMatch);
        self.map
            .entry(k)
            .or_insert_with(|| PyRegex::new(pattern, mode))
            .clone()
    }
}

fn regex_error(e: PyRegexError, field: &str, key: &str, wrapper_prefix: usize) -> LegacyError {
    let kind = match e.kind {
        PyRegexErrorKind::ReError => PeftErrorKind::ReError,
        PyRegexErrorKind::OverflowError => PeftErrorKind::OverflowError,
        PyRegexErrorKind::ValueError => PeftErrorKind::ValueError,
        PyRegexErrorKind::Unsupported => PeftErrorKind::Unsupported,
    };
    let mut msg = e.python_message();
    if let Some(b) = e.byte_offset {
        if wrapper_prefix > 0 {
            if b >= wrapper_prefix && b - wrapper_prefix <= key.len() {
                msg.push_str(&format!(
                    " (PEFT matches with the regex {:?}; that is byte {} of the entry)",
                    e.pattern,
                    b - wrapper_prefix
                ));
            } else {
                msg.push_str(&format!(
                    " (in the regex PEFT builds: {:?}, byte {b})",
                    e.pattern
                ));
            }
        } else {
            msg.push_str(&format!(" (byte {b} of the pattern)"));
        }
    }
    if let Some(c) = e.construct {
        msg.push_str(&format!(" [{c}]"));
    }
    let hint = match kind {
        PeftErrorKind::Unsupported => "rewrite the pattern without this construct",
        _ if field == "rank_pattern" || field == "alpha_pattern" => {
            "fix the key so that Python accepts `(.*\\.)?(KEY)$` (inline flags like (?i) must be scoped: (?i:...))"
        }
        _ => "fix the regular expression so that Python's `re` module accepts it",
    };
    let mut err = LegacyError::new(kind, msg, hint).field(field).key(key);
    err.regex = Some(Box::new(e));
    err
}

const KEY_WRAPPER_PREFIX: &str = r"(.*\.)?(";

/// Python regex PEFT 0.21.2 `get_pattern_key` builds for a `rank_pattern` / `alpha_pattern` key.
pub fn pattern_key_regex(key: &str) -> String {
    format!(r"(.*\.)?({key})$")
}

/// Python regex PEFT 0.21.2 `check_target_module_exists` builds for a `modules_to_save` entry.
pub fn modules_to_save_regex(entry: &str) -> String {
    format!(r"(^|.*\.){entry}($|\..*)")
}

/// Reproduces PEFT 0.21.2 `get_pattern_key`: the first key (in order) with
/// `re.match(rf"(.*\.)?({key})$", name)`.
pub fn get_pattern_key<'a>(
    keys: impl IntoIterator<Item = &'a str>,
    name: &str,
    field: &str,
) -> Result<Option<&'a str>, LegacyError> {
    let mut cache = ReCache::default();
    for k in keys {
        let re = cache
            .get(&pattern_key_regex(k), Mode::Match)
            .map_err(|e| regex_error(e, field, k, KEY_WRAPPER_PREFIX.len()))?;
        if re
            .is_match(name)
            .map_err(|e| regex_error(e, field, k, KEY_WRAPPER_PREFIX.len()))?
        {
            return Ok(Some(k));
        }
    }
    Ok(None)
}

fn generate_suffixes(s: &str) -> Vec<String> {
    let parts: Vec<&str> = s.split('.').collect();
    let mut v: Vec<String> = (0..parts.len()).map(|i| parts[i..].join(".")).collect();
    v.reverse();
    v
}

/// Reproduces PEFT 0.21.2 `_find_minimal_target_modules(target_modules, other_module_names)`:
/// the shortest dotted suffixes that still separate the targets from the other modules.
/// Returns a sorted set.
pub fn find_minimal_target_modules(
    target_modules: &[String],
    other_module_names: &[String],
) -> Result<BTreeSet<String>, LegacyError> {
    let targets: BTreeSet<String> = target_modules.iter().cloned().collect();
    if targets.is_empty() {
        return Err(LegacyError::new(
            PeftErrorKind::ValueError,
            "target_modules should be a list or set of strings.",
            "give a non-empty list",
        )
        .field("target_modules"));
    }
    if targets.contains("") {
        return Err(LegacyError::new(
            PeftErrorKind::ValueError,
            "target_modules should not contain an empty string.",
            "remove the empty entry from `target_modules`",
        )
        .field("target_modules")
        .key(""));
    }
    let others: HashSet<&String> = other_module_names.iter().collect();
    if targets.iter().any(|t| others.contains(t)) {
        return Err(LegacyError::new(
            PeftErrorKind::ValueError,
            "target_modules and other_module_names contain common elements, this should not happen",
            "report this as a bug",
        )
        .field("target_modules"));
    }
    let other_suffixes: HashSet<String> =
        others.iter().flat_map(|o| generate_suffixes(o)).collect();
    let mut items: Vec<(String, Vec<String>)> = targets
        .iter()
        .map(|t| (t.clone(), generate_suffixes(t)))
        .collect();
    items.sort_by(|a, b| a.1.cmp(&b.1));
    let mut required: BTreeSet<String> = BTreeSet::new();
    for (item, suffixes) in &items {
        for suffix in suffixes {
            if required.contains(suffix) || other_suffixes.contains(suffix) {
                continue;
            }
            if !required
                .iter()
                .any(|req| item.ends_with(&format!(".{req}")))
            {
                required.insert(suffix.clone());
                break;
            }
        }
    }
    if required.is_empty() {
        return Ok(targets);
    }
    Ok(required)
}

/// All modules in `named_modules()` order: (name, index into `model.modules` or None for a
/// bare container). The root (empty name) is not included.
fn named_modules(model: &ModelInfo) -> Vec<(String, Option<usize>)> {
    #[derive(Default)]
    struct Node {
        children: Vec<(String, usize)>,
        listed: Option<usize>,
    }
    let mut nodes: Vec<Node> = vec![Node::default()];
    let mut index: HashMap<String, usize> = HashMap::new();
    for (mi, m) in model.modules.iter().enumerate() {
        let mut cur = 0usize;
        let mut prefix = String::new();
        for part in m.name.split('.') {
            if !prefix.is_empty() {
                prefix.push('.');
            }
            prefix.push_str(part);
            let next = match index.get(&prefix) {
                Some(&n) => n,
                None => {
                    nodes.push(Node::default());
                    let n = nodes.len() - 1;
                    nodes[cur].children.push((prefix.clone(), n));
                    index.insert(prefix.clone(), n);
                    n
                }
            };
            cur = next;
        }
        if nodes[cur].listed.is_none() {
            nodes[cur].listed = Some(mi);
        }
    }
    let mut out = Vec::new();
    let mut stack: Vec<(String, usize)> = nodes[0].children.iter().rev().cloned().collect();
    while let Some((name, n)) = stack.pop() {
        out.push((name, nodes[n].listed));
        for c in nodes[n].children.iter().rev() {
            stack.push(c.clone());
        }
    }
    out
}

/// Python `repr()` of a str (quote choice and escapes as CPython does for printable text).
pub fn py_str_repr(s: &str) -> String {
    let q = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::new();
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

fn py_set_repr(items: &[String]) -> String {
    let v: BTreeSet<&String> = items.iter().collect();
    let inner: Vec<String> = v.iter().map(|s| py_str_repr(s)).collect();
    format!("{{{}}}", inner.join(", "))
}

fn num_to_f64(n: &Number) -> f64 {
    n.as_f64().unwrap_or(f64::NAN)
}

/// Evaluate a legacy LoRA config on a model, exactly as PEFT 0.21.2 `get_peft_model` /
/// `inject_adapter_in_model` would: `LoraConfig.__post_init__` checks,
/// `LoraModel._prepare_adapter_config` (architecture default targets),
/// `_maybe_include_all_linear_layers`, the 20+ entry condensation with
/// `_find_minimal_target_modules`, then for every module in `named_modules()` order
/// `check_target_module_exists` (exclude, `modules_to_save` guard, targets, layer filter),
/// `get_pattern_key` for `rank_pattern` / `alpha_pattern`, the "Target module ... is not
/// supported" check, `LoraLayer.update_layer`'s `r > 0` check, and finally the
/// `NoMatchingPeftModuleError` checks and warnings of `BaseTuner.inject_adapter`.
pub fn evaluate(cfg: &LegacyConfig, model: &ModelInfo) -> Result<Evaluation, LegacyError> {
    cfg.validate()?;
    if let Some(tp) = &cfg.target_parameters
        && !tp.is_empty()
    {
        return Err(LegacyError::new(
            PeftErrorKind::Unsupported,
            "`target_parameters` (LoRA on raw nn.Parameters) is not reproduced by this evaluator",
            "remove `target_parameters` or handle those parameters separately",
        )
        .field("target_parameters"));
    }
    let mut warnings = Vec::new();
    let mut cache = ReCache::default();

    // _prepare_adapter_config
    let mut targets: TargetModules = match &cfg.target_modules {
        Some(t) => t.clone(),
        None => match &model.default_targets {
            Some(d) => TargetModules::List(d.clone()),
            None => {
                return Err(LegacyError::new(
                    PeftErrorKind::ValueError,
                    "Please specify `target_modules` or `target_parameters`in `peft_config`",
                    "set `target_modules`, or tell the evaluator the architecture's default targets (ModelInfo::default_targets)",
                )
                .field("target_modules"));
            }
        },
    };

    let all = named_modules(model);
    let module_of = |i: Option<usize>| i.and_then(|i| model.modules.get(i));

    // _maybe_include_all_linear_layers
    if let TargetModules::Regex(s) = &targets
        && s.to_lowercase() == "all-linear"
    {
        let mut names: Vec<String> = Vec::new();
        for (name, idx) in &all {
            if let Some(m) = module_of(*idx)
                && m.linear_like
                && Some(name) != model.output_embedding.as_ref()
                && !names.contains(name)
            {
                names.push(name.clone());
            }
        }
        targets = TargetModules::List(names);
    }

    // dedupe (PEFT holds a set) and condense 20+ entries
    if let TargetModules::List(list) = &targets {
        let set: BTreeSet<String> = list.iter().cloned().collect();
        let mut uniq: Vec<String> = Vec::new();
        for t in list {
            if !uniq.contains(t) {
                uniq.push(t.clone());
            }
        }
        if set.len() >= 20 {
            let mut key_list: Vec<String> = vec![String::new()];
            key_list.extend(all.iter().map(|(n, _)| n.clone()));
            let no_target: Vec<String> = key_list
                .into_iter()
                .filter(|n| !set.contains(n) && !set.iter().any(|s| n.ends_with(&format!(".{s}"))))
                .collect();
            let new = find_minimal_target_modules(&uniq, &no_target)?;
            if new.len() < set.len() {
                uniq = new.into_iter().collect();
            }
        }
        targets = TargetModules::List(uniq);
    }

    let layer_filter: Option<&LayersToTransform> = match &cfg.layers_to_transform {
        Some(LayersToTransform::List(v)) if v.is_empty() => None,
        other => other.as_ref(),
    };
    let layer_patterns: Vec<String> = if cfg.layers_pattern_truthy() {
        cfg.layers_pattern.clone().unwrap_or_default()
    } else {
        Vec::new()
    };

    let mut decisions: Vec<Option<Decision>> = vec![None; model.modules.len()];
    let mut excluded: Vec<String> = Vec::new();
    let mut unmatched: Vec<String> = Vec::new();
    let mut targeted: Vec<String> = Vec::new();

    for (name, idx) in &all {
        // check_target_module_exists
        let mut reason: Option<Reason> = None;
        match &cfg.exclude_modules {
            Some(ExcludeModules::Regex(p)) if !p.is_empty() => {
                let re = cache
                    .get(p, Mode::FullMatch)
                    .map_err(|e| regex_error(e, "exclude_modules", p, 0))?;
                if re
                    .is_match(name)
                    .map_err(|e| regex_error(e, "exclude_modules", p, 0))?
                {
                    reason = Some(Reason::Excluded(p.clone()));
                }
            }
            Some(ExcludeModules::List(l)) if !l.is_empty() => {
                if let Some(e) = l
                    .iter()
                    .find(|e| *e == name)
                    .or_else(|| l.iter().find(|e| name.ends_with(&format!(".{e}"))))
                {
                    reason = Some(Reason::Excluded(e.clone()));
                }
            }
            _ => {}
        }
        if reason.is_none()
            && let Some(mts) = &cfg.modules_to_save
        {
            for m in mts {
                let rx = modules_to_save_regex(m);
                let re = cache
                    .get(&rx, Mode::Match)
                    .map_err(|e| regex_error(e, "modules_to_save", m, 0))?;
                if re
                    .is_match(name)
                    .map_err(|e| regex_error(e, "modules_to_save", m, 0))?
                {
                    reason = Some(Reason::ModulesToSave(m.clone()));
                    break;
                }
            }
        }
        let reason = match reason {
            Some(r) => r,
            None => match &targets {
                TargetModules::Regex(p) => {
                    let re = cache
                        .get(p, Mode::FullMatch)
                        .map_err(|e| regex_error(e, "target_modules", p, 0))?;
                    if re
                        .is_match(name)
                        .map_err(|e| regex_error(e, "target_modules", p, 0))?
                    {
                        Reason::Regex(p.clone())
                    } else {
                        Reason::NotMatched
                    }
                }
                TargetModules::List(l) => {
                    if let Some(e) = l.iter().find(|e| *e == name) {
                        Reason::ExactName(e.clone())
                    } else if let Some(e) = l.iter().find(|e| name.ends_with(&format!(".{e}"))) {
                        match layer_filter {
                            None => Reason::Suffix(e.clone()),
                            Some(f) => {
                                let li = layers::layer_index_with(name, &layer_patterns, |rx| {
                                    cache.get(rx, Mode::Match)
                                })
                                .map_err(|err| {
                                    regex_error(err, "layers_pattern", &layer_patterns.join("|"), 0)
                                })?;
                                match li {
                                    LayerIndex::Found(Some(i)) => {
                                        let ok = match f {
                                            LayersToTransform::Int(n) => *n == i,
                                            LayersToTransform::List(v) => v.contains(&i),
                                        };
                                        if ok {
                                            Reason::Suffix(e.clone())
                                        } else {
                                            Reason::LayerFiltered(Some(i))
                                        }
                                    }
                                    LayerIndex::Found(None) => Reason::LayerFiltered(None),
                                    LayerIndex::None => Reason::LayerFiltered(None),
                                }
                            }
                        }
                    } else {
                        Reason::NotMatched
                    }
                }
            },
        };
        let is_target = matches!(
            reason,
            Reason::ExactName(_) | Reason::Suffix(_) | Reason::Regex(_)
        );
        match &reason {
            Reason::Excluded(_) | Reason::ModulesToSave(_) => excluded.push(name.clone()),
            r if !is_target => {
                let _ = r;
                unmatched.push(name.clone())
            }
            _ => {}
        }
        let mut decision = Decision {
            name: name.clone(),
            targeted: false,
            r: None,
            lora_alpha: None,
            scaling: None,
            reason,
            rank_key: None,
            alpha_key: None,
        };
        if is_target {
            targeted.push(name.clone());
            // _create_and_replace: get_pattern_key for rank then alpha
            let mut rank_key = None;
            for (k, _) in &cfg.rank_pattern {
                let re = cache
                    .get(&pattern_key_regex(k), Mode::Match)
                    .map_err(|e| regex_error(e, "rank_pattern", k, KEY_WRAPPER_PREFIX.len()))?;
                if re
                    .is_match(name)
                    .map_err(|e| regex_error(e, "rank_pattern", k, KEY_WRAPPER_PREFIX.len()))?
                {
                    rank_key = Some(k.clone());
                    break;
                }
            }
            let mut alpha_key = None;
            for (k, _) in &cfg.alpha_pattern {
                let re = cache
                    .get(&pattern_key_regex(k), Mode::Match)
                    .map_err(|e| regex_error(e, "alpha_pattern", k, KEY_WRAPPER_PREFIX.len()))?;
                if re
                    .is_match(name)
                    .map_err(|e| regex_error(e, "alpha_pattern", k, KEY_WRAPPER_PREFIX.len()))?
                {
                    alpha_key = Some(k.clone());
                    break;
                }
            }
            // rank_pattern.get(r_key or name, r)
            let r_lookup = rank_key.clone().unwrap_or_else(|| name.clone());
            let r_entry = cfg.rank_pattern.iter().find(|(k, _)| *k == r_lookup);
            let r = r_entry.map(|(_, v)| *v).unwrap_or(cfg.r);
            let a_lookup = alpha_key.clone().unwrap_or_else(|| name.clone());
            let a_entry = cfg.alpha_pattern.iter().find(|(k, _)| *k == a_lookup);
            let alpha = a_entry
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| cfg.lora_alpha.clone());
            // _create_new_module: is the module type supported?
            let m = module_of(*idx);
            let supported = m
                .map(|m| {
                    m.linear_like
                        || m.class
                            .as_deref()
                            .map(|c| SUPPORTED_CLASSES.contains(&c))
                            .unwrap_or(false)
                })
                .unwrap_or(false);
            if !supported {
                let what = match m.and_then(|m| m.class.clone()) {
                    Some(c) => format!("of class {c}"),
                    None => "(a container of other modules)".to_string(),
                };
                return Err(LegacyError::new(
                    PeftErrorKind::ValueError,
                    format!(
                        "Target module `{name}` {what} is not supported. Currently, only the following modules are supported: `torch.nn.Linear`, `torch.nn.Embedding`, `torch.nn.Conv1d`, `torch.nn.Conv2d`, `torch.nn.Conv3d`, `transformers.pytorch_utils.Conv1D`, `torch.nn.MultiheadAttention.`."
                    ),
                    "make the target select only leaf layers (anchor a regex at the layer name, or use a more specific list entry)",
                )
                .field("target_modules")
                .module(name));
            }
            // LoraLayer.update_layer
            if r <= 0 {
                let mut e = LegacyError::new(
                    PeftErrorKind::ValueError,
                    format!("`r` should be a positive integer value but the value passed is {r}"),
                    "use a positive rank",
                )
                .module(name);
                e = match r_entry {
                    Some((k, _)) => e.field("rank_pattern").key(k),
                    None => e.field("r"),
                };
                return Err(e);
            }
            let rf = r as f64;
            let scaling = if cfg.use_rslora {
                num_to_f64(&alpha) / rf.sqrt()
            } else {
                num_to_f64(&alpha) / rf
            };
            decision.targeted = true;
            decision.r = u32::try_from(r).ok();
            decision.lora_alpha = Some(alpha);
            decision.scaling = Some(scaling);
            decision.rank_key = r_entry.map(|(k, _)| k.clone());
            decision.alpha_key = a_entry.map(|(k, _)| k.clone());
        }
        if let Some(i) = idx
            && let Some(slot) = decisions.get_mut(*i)
        {
            *slot = Some(decision);
        }
    }

    // CHECK FOR ERRORS
    let targets_truthy = match &targets {
        TargetModules::List(l) => !l.is_empty(),
        TargetModules::Regex(s) => !s.is_empty(),
    };
    let layers_note = || {
        let mut s = String::new();
        if let Some(l) = &cfg.layers_to_transform {
            let v = match l {
                LayersToTransform::Int(i) => i.to_string(),
                LayersToTransform::List(v) => format!(
                    "[{}]",
                    v.iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            s.push_str(&format!(" Note: You specified 'layers_to_transform': {v}."));
        }
        if let Some(p) = &cfg.layers_pattern {
            let v = if cfg.layers_pattern_is_str {
                p.first().cloned().unwrap_or_default()
            } else {
                format!(
                    "[{}]",
                    p.iter()
                        .map(|x| format!("'{x}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            s.push_str(&format!(" You also specified 'layers_pattern': {v}."));
        }
        s
    };
    if targeted.is_empty() {
        let err = if !excluded.is_empty() && unmatched.is_empty() {
            LegacyError::new(
                PeftErrorKind::NoMatchingPeftModuleError,
                "All modules were excluded. This is likely unintended. Check your `target_modules`, `exclude_modules` and `modules_to_save` configuration.",
                "narrow `exclude_modules` / `modules_to_save`",
            )
            .field("exclude_modules")
        } else if excluded.is_empty() && !unmatched.is_empty() && !targets_truthy {
            LegacyError::new(
                PeftErrorKind::NoMatchingPeftModuleError,
                "No `target_modules` passed but also no `target_parameters` found. Please check the values for these arguments.",
                "give a non-empty `target_modules`",
            )
            .field("target_modules")
        } else if excluded.is_empty() && !unmatched.is_empty() {
            let shown = match &targets {
                TargetModules::List(l) => py_set_repr(l),
                TargetModules::Regex(s) => s.clone(),
            };
            LegacyError::new(
                PeftErrorKind::NoMatchingPeftModuleError,
                format!("Target modules {shown} not found in the base model. Please check the target modules and try again.{}", layers_note()),
                "list entries are literal dotted suffixes and a string is a full-match regex; check them against the model's module names (and the layer filter)",
            )
            .field("target_modules")
        } else {
            LegacyError::new(
                PeftErrorKind::NoMatchingPeftModuleError,
                format!("No modules were targeted for adaptation. This might be caused by a combination of mismatched target modules and excluded modules. Please check your `target_modules` and `exclude_modules` configuration. You may also have only targeted modules that are marked to be saved (`modules_to_save`).{}", layers_note()),
                "check `target_modules` against `exclude_modules` / `modules_to_save`",
            )
            .field("target_modules")
        };
        return Err(err);
    }
    let exclude_truthy = match &cfg.exclude_modules {
        Some(ExcludeModules::List(l)) => !l.is_empty(),
        Some(ExcludeModules::Regex(s)) => !s.is_empty(),
        None => false,
    };
    if exclude_truthy && excluded.is_empty() {
        warnings.push(Warning {
            category: "UserWarning",
            message: format!(
                "You have passed exclude_modules={} but no modules were excluded. Please check that exclude_modules was set correctly.",
                match &cfg.exclude_modules {
                    Some(ExcludeModules::List(l)) => py_set_repr(l),
                    Some(ExcludeModules::Regex(s)) => s.clone(),
                    None => String::new(),
                }
            ),
        });
    }
    // unmatched pattern keys (compiles every key: an invalid one raises here)
    for (field, keys) in [
        (
            "rank_pattern",
            cfg.rank_pattern
                .iter()
                .map(|(k, _)| k.clone())
                .collect::<Vec<_>>(),
        ),
        (
            "alpha_pattern",
            cfg.alpha_pattern
                .iter()
                .map(|(k, _)| k.clone())
                .collect::<Vec<_>>(),
        ),
    ] {
        let mut unmatched_keys: BTreeSet<String> = BTreeSet::new();
        for k in &keys {
            let re = cache
                .get(&pattern_key_regex(k), Mode::Match)
                .map_err(|e| regex_error(e, field, k, KEY_WRAPPER_PREFIX.len()))?;
            let mut hit = false;
            for t in &targeted {
                if re
                    .is_match(t)
                    .map_err(|e| regex_error(e, field, k, KEY_WRAPPER_PREFIX.len()))?
                {
                    hit = true;
                    break;
                }
            }
            if !hit {
                unmatched_keys.insert(k.clone());
            }
        }
        if !unmatched_keys.is_empty() {
            let list: Vec<String> = unmatched_keys.iter().map(|k| py_str_repr(k)).collect();
            warnings.push(Warning {
                category: "RuntimeWarning",
                message: format!("The following {field} keys did not match any targeted module and were ignored: [{}].", list.join(", ")),
            });
        }
    }

    let decisions: Vec<Decision> = decisions
        .into_iter()
        .zip(&model.modules)
        .map(|(d, m)| {
            d.unwrap_or(Decision {
                name: m.name.clone(),
                targeted: false,
                r: None,
                lora_alpha: None,
                scaling: None,
                reason: Reason::NotMatched,
                rank_key: None,
                alpha_key: None,
            })
        })
        .collect();
    Ok(Evaluation {
        decisions,
        warnings,
        effective_targets: targets,
    })
}

/// Keep `Map` in the public signature space (serde_json with `preserve_order`).
pub type JsonObject = Map<String, Value>;
