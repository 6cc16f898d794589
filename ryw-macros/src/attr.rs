//! Parsing of the macro's arguments: `#[read_your_writes(…)]` and `#[read(…)]` / `#[write(…)]`.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::{Attribute, Ident, LitInt, LitStr, Path};

/// Collects every error so the user fixes them all in one compile.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }

    pub(crate) fn at(&mut self, span: Span, msg: impl std::fmt::Display) {
        self.push(syn::Error::new(span, msg));
    }

    pub(crate) fn into_tokens(self) -> TokenStream {
        self.0.map(|e| e.to_compile_error()).unwrap_or_default()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    pub(crate) fn append(&mut self, other: Self) {
        if let Some(e) = other.0 {
            self.push(e);
        }
    }
}

/// `#[read_your_writes(scope = "…", router = "…", crate = "…")]`.
#[derive(Default)]
pub(crate) struct ImplArgs {
    pub(crate) scope: Option<LitStr>,
    pub(crate) router: Option<Ident>,
    pub(crate) krate: Option<Path>,
}

/// The variant `lit` names among `all` (ryw-core's names), spelled as its `Debug` form for the
/// expansion; an error listing the names when there is none.
fn variant<T: std::fmt::Debug>(
    lit: &LitStr,
    all: &[(&str, T)],
    (key, what): (&str, &str),
    errors: &mut Errors,
) -> Option<Ident> {
    let Some((_, v)) = all.iter().find(|(n, _)| *n == lit.value()) else {
        let names: Vec<String> = all.iter().map(|(n, _)| format!("`\"{n}\"`")).collect();
        errors.at(
            lit.span(),
            format!(
                "unknown {what}; write `{key} = \"…\"` with one of {}",
                names.join(", ")
            ),
        );
        return None;
    };
    Some(Ident::new(&format!("{v:?}"), lit.span()))
}

fn set_once<T>(slot: &mut Option<T>, value: T, name: &Ident, errors: &mut Errors) {
    if slot.is_some() {
        errors.at(
            name.span(),
            format!("duplicate argument `{name}`: give `{name}` once"),
        );
    } else {
        *slot = Some(value);
    }
}

pub(crate) fn parse_impl_args(attr: TokenStream, errors: &mut Errors) -> ImplArgs {
    let mut args = ImplArgs::default();
    let parser = syn::meta::parser(|meta| {
        let Some(name) = meta.path.get_ident().cloned() else {
            return Err(meta.error(
                "unknown argument; expected `scope = \"param\"`, `router = \"field\"` or `crate = \"path\"`",
            ));
        };
        match name.to_string().as_str() {
            "scope" => {
                let lit: LitStr = meta.value()?.parse()?;
                set_once(&mut args.scope, lit, &name, errors);
            }
            "router" => {
                let lit: LitStr = meta.value()?.parse()?;
                match lit.parse::<Ident>() {
                    Ok(field) => set_once(&mut args.router, field, &name, errors),
                    Err(_) => errors.at(
                        lit.span(),
                        "`router` names a field of `self`, e.g. `router = \"router\"`",
                    ),
                }
            }
            "crate" => {
                let lit: LitStr = meta.value()?.parse()?;
                match lit.parse::<Path>() {
                    Ok(path) => set_once(&mut args.krate, path, &name, errors),
                    Err(_) => errors.at(
                        lit.span(),
                        "`crate` is a path to the `ryw` crate (or `ryw_diesel`), e.g. `crate = \"my_app::ryw\"`",
                    ),
                }
            }
            other => {
                return Err(meta.error(format!(
                    "unknown argument `{other}`; expected `scope = \"param\"`, `router = \"field\"` or `crate = \"path\"`"
                )));
            }
        }
        Ok(())
    });
    if let Err(e) = parser.parse2(attr) {
        errors.push(e);
    }
    args
}

/// Which routed path a method takes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Read,
    Write,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }
}

/// `#[read(…)]` / `#[write(…)]` on a method.
pub(crate) struct MethodArgs {
    pub(crate) kind: Kind,
    pub(crate) scope: Option<LitStr>,
    /// `#[write(scopes("user_id", "org_id"))]`: a write that changes several scopes.
    pub(crate) scopes: Vec<LitStr>,
    pub(crate) wait_ms: Option<LitInt>,
    pub(crate) fallback: Option<Ident>,
    /// `prefer = "replica" | "latency"`: where a read behind every replica goes.
    pub(crate) prefer: Option<Ident>,
    /// `policy = "name"`: a policy the router defines at run time.
    pub(crate) policy: Option<LitStr>,
    /// `#[write(autocommit)]`: one statement, committed on its own (no BEGIN / COMMIT).
    pub(crate) autocommit: bool,
}

/// Finds and removes the `#[read]` / `#[write]` markers of a method.
pub(crate) fn take_marker(attrs: &mut Vec<Attribute>, errors: &mut Errors) -> Option<MethodArgs> {
    let mut found: Option<MethodArgs> = None;
    let mut keep = Vec::with_capacity(attrs.len());
    for attr in attrs.drain(..) {
        let kind = if attr.path().is_ident("read") {
            Kind::Read
        } else if attr.path().is_ident("write") {
            Kind::Write
        } else {
            keep.push(attr);
            continue;
        };
        let span = attr
            .path()
            .get_ident()
            .map_or_else(Span::call_site, Ident::span);
        if let Some(prev) = &found {
            if prev.kind == kind {
                errors.at(
                    span,
                    format!("duplicate `#[{}]`: mark the method once", kind.name()),
                );
            } else {
                errors.at(
                    span,
                    "a method is either `#[read]` or `#[write]`, not both: keep `#[write]` if it writes (writes run on the leader) and move reads to their own method",
                );
            }
            continue;
        }
        let mut args = MethodArgs {
            kind,
            scope: None,
            scopes: Vec::new(),
            wait_ms: None,
            fallback: None,
            prefer: None,
            policy: None,
            autocommit: false,
        };
        if !matches!(attr.meta, syn::Meta::Path(_)) {
            let res = attr.parse_nested_meta(|meta| {
                let Some(name) = meta.path.get_ident().cloned() else {
                    return Err(meta.error("unknown argument"));
                };
                match (name.to_string().as_str(), kind) {
                    ("scope", _) => {
                        let lit: LitStr = meta.value()?.parse()?;
                        set_once(&mut args.scope, lit, &name, errors);
                    }
                    ("scopes", Kind::Write) => {
                        let content;
                        syn::parenthesized!(content in meta.input);
                        let list = syn::punctuated::Punctuated::<LitStr, syn::Token![,]>::parse_terminated(&content)?;
                        if !args.scopes.is_empty() {
                            errors.at(name.span(), "duplicate `scopes`: list every scope once, in one `scopes(…)`");
                        }
                        for lit in list {
                            if args.scopes.iter().any(|s| s.value() == lit.value()) {
                                errors.at(lit.span(), format!("`{}` is listed twice in `scopes`", lit.value()));
                            }
                            args.scopes.push(lit);
                        }
                        if args.scopes.is_empty() {
                            errors.at(name.span(), "`scopes(…)` names at least one parameter, e.g. `scopes(\"user_id\", \"org_id\")`");
                        }
                    }
                    ("autocommit", Kind::Write) => {
                        if args.autocommit {
                            errors.at(name.span(), "duplicate `autocommit`");
                        }
                        args.autocommit = true;
                    }
                    ("autocommit", Kind::Read) => {
                        return Err(meta.error("`autocommit` is a `#[write]` option: a write of one statement that commits on its own"));
                    }
                    ("scopes", Kind::Read) => {
                        return Err(meta.error("`#[read]` reads one scope: write `scope = \"param\"` (a read sees every write of that scope, whichever other scopes they changed)"));
                    }
                    ("wait_ms", Kind::Read) => {
                        let lit: LitInt = meta.value()?.parse()?;
                        if lit.base10_parse::<u64>().is_err() {
                            errors.at(lit.span(), "`wait_ms` is a whole number of milliseconds, e.g. `wait_ms = 250`");
                        }
                        set_once(&mut args.wait_ms, lit, &name, errors);
                    }
                    ("policy", Kind::Read) => {
                        let lit: LitStr = meta.value()?.parse()?;
                        if lit.value().is_empty() {
                            errors.at(lit.span(), "`policy` names a policy the router defines with `Router::define_policy`, e.g. `policy = \"reports\"`");
                        }
                        set_once(&mut args.policy, lit, &name, errors);
                    }
                    ("fallback", Kind::Read) => {
                        let lit: LitStr = meta.value()?.parse()?;
                        if let Some(v) = variant(&lit, &ryw_core::Fallback::ALL, ("fallback", "fallback"), errors) {
                            set_once(&mut args.fallback, v, &name, errors);
                        }
                    }
                    ("prefer", Kind::Read) => {
                        let lit: LitStr = meta.value()?.parse()?;
                        if let Some(v) = variant(&lit, &ryw_core::Prefer::ALL, ("prefer", "preference"), errors) {
                            set_once(&mut args.prefer, v, &name, errors);
                        }
                    }
                    (other, Kind::Read) => {
                        let fallbacks: Vec<String> = ryw_core::Fallback::ALL
                            .iter()
                            .map(|(n, _)| format!("\"{n}\""))
                            .collect();
                        return Err(meta.error(format!(
                            "unknown argument `{other}`; `#[read]` takes `scope = \"param\"`, `policy = \"name\"`, `wait_ms = 250`, `prefer = \"replica\" | \"latency\"` and `fallback = {}`",
                            fallbacks.join(" | ")
                        )));
                    }
                    (other, Kind::Write) => {
                        return Err(meta.error(format!(
                            "unknown argument `{other}`; `#[write]` takes only `scope = \"param\"` or `scopes(\"param\", …)`, and `autocommit` (writes always run on the leader)"
                        )));
                    }
                }
                Ok(())
            });
            if let Err(e) = res {
                errors.push(e);
            }
        }
        if args.scope.is_some() && !args.scopes.is_empty() {
            errors.at(
                span,
                "`scope` and `scopes` together: list every scope the write changes in `scopes(…)`",
            );
        }
        found = Some(args);
    }
    *attrs = keep;
    found
}
