//! The `lora-rules` command line. See `lora-rules --help` and README.md.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
