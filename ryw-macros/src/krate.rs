//! Where the runtime API lives for the crate being compiled: `ryw` (the facade users depend
//! on) if it is a dependency, else `ryw-diesel`, found in the caller's `Cargo.toml` with
//! `proc-macro-crate` (so a renamed dependency works too). `crate = "path"` overrides both.

use proc_macro_crate::{FoundCrate, crate_name};
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Ident;

/// The path the expansion prefixes every runtime item with.
pub(crate) fn runtime_path() -> TokenStream {
    for (package, own) in [("ryw", "ryw"), ("ryw-diesel", "ryw_diesel")] {
        match crate_name(package) {
            // The package's own tests and doctests are separate crates linking it by name.
            Ok(FoundCrate::Itself) => {
                let ident = Ident::new(own, Span::call_site());
                return quote!(::#ident);
            }
            Ok(FoundCrate::Name(name)) => {
                let ident = Ident::new(&name, Span::call_site());
                return quote!(::#ident);
            }
            Err(_) => {}
        }
    }
    // Neither found (no manifest to read, e.g. some build tools): the facade's name, so the
    // error, if any, names the crate to add.
    quote!(::ryw)
}
