//! The bridge to Hugging Face PEFT 0.21.2: a direct evaluator of legacy
//! `adapter_config.json` files / `LoraConfig` kwargs that reproduces what
//! real PEFT does, checked against the 400 cases PEFT itself answered
//! (`spec/peft-0.21.2/cases.json`).
//!
//! * [`legacy`]: config parsing ([`legacy::LegacyConfig`]) and evaluation
//!   ([`legacy::evaluate`]) over a model description ([`legacy::ModelInfo`]).
//! * [`pyregex`]: Python 3.11 `re` parsing, validation and translation to
//!   the `regex` / `fancy-regex` crates ([`pyregex::translate_python_regex`]).
//! * [`layers`]: layer-index extraction for `layers_to_transform`.
//! * [`convert`]: a legacy config → an equivalent `.lora` file (or JSON dictionary).
//! * [`export`]: rules → a PEFT config fragment with the same per-module table.
//! * [`inspect`]: a saved adapter directory (config + safetensors header) checked module by module.

pub mod convert;
pub mod export;
pub mod inspect;
pub mod layers;
pub mod legacy;
pub mod pyregex;

pub use legacy::{
    Decision, Evaluation, LegacyConfig, LegacyError, ModelInfo, Module, PeftErrorKind, Warning,
    evaluate,
};
pub use pyregex::{Engine, PyRegexError, Translated, non_dfa_construct, translate_python_regex};
