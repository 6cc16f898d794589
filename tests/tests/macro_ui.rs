//! Compile-pass and compile-fail cases of `#[read_your_writes]`: what the macro accepts, and
//! the diagnostics it gives for each mistake (snapshots in `ui/fail/*.stderr`).
//!
//! Regenerate the snapshots with
//! `TRYBUILD=overwrite cargo test -p ryw-integration-tests --test macro_ui`.
#![allow(missing_docs)]

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("ui/pass/*.rs");
    t.compile_fail("ui/fail/*.rs");
}
