//! Legacy PEFT config → `.lora` rules (work in progress, see issue 3).
