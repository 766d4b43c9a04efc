//! The front end: `.lora` text and JSON dictionaries → [`ast::RuleFile`].
//!
//! Both surface syntaxes produce the same tree; [`crate::check`] is the only
//! way from the tree to the checked rule set.

pub mod ast;
pub mod json;
mod parser;

pub use parser::parse;
