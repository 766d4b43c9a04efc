//! convert tests (in progress)
