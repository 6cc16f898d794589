//! Integration tests of ryw live in `tests/`; this library only compiles the README's code
//! examples as doctests, so the README cannot drift from the API.
#![doc = include_str!("../../README.md")]
