#![allow(clippy::result_large_err)]
//! The single integration-test binary (ripgrep style: compiled once).

mod cli;
mod diagnostics;
mod model;
mod peft_cases;
mod peft_conformance;
mod peft_convert;
mod peft_export;
mod peft_inspect;
mod peft_props;
mod peft_pyregex_python;
mod peft_units;
mod regressions;
mod roundtrip;
mod snapshots;
mod spec;
mod util;
