//! Reading a marked method's signature: its typed parameters, the connection parameter, the
//! scope parameter and the return type.

use proc_macro2::Span;
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{FnArg, GenericArgument, Ident, LitStr, Pat, PatType, PathArguments, ReturnType, Type};

use crate::attr::Errors;

/// The typed (non-`self`) parameters with their positions in the signature.
pub(crate) fn typed_inputs(sig: &syn::Signature) -> Vec<(usize, &PatType)> {
    sig.inputs
        .iter()
        .enumerate()
        .filter_map(|(i, a)| match a {
            FnArg::Typed(t) => Some((i, t)),
            FnArg::Receiver(_) => None,
        })
        .collect()
}

/// The connection parameter: the one `&mut` parameter, or the `&mut` one named `conn`.
pub(crate) fn find_connection<'a>(
    typed: &[(usize, &'a PatType)],
    sig: &syn::Signature,
    kind: &str,
    errors: &mut Errors,
) -> Option<(usize, &'a PatType)> {
    let muts: Vec<(usize, &PatType)> = typed
        .iter()
        .copied()
        .filter(|(_, t)| matches!(&*t.ty, Type::Reference(r) if r.mutability.is_some()))
        .collect();
    match muts.as_slice() {
        [one] => Some(*one),
        [] => {
            errors.at(
                sig.paren_token.span.join(),
                format!(
                    "`#[{kind}]` method `{}` has no connection parameter: add `conn: &mut AsyncPgConnection` (or `conn: &mut ryw::ConnectionOf<Self>`); the macro supplies it and removes it from the public signature",
                    sig.ident
                ),
            );
            None
        }
        many => {
            let named = many
                .iter()
                .find(|(_, t)| matches!(&*t.pat, Pat::Ident(p) if p.ident == "conn"));
            if named.is_none() {
                errors.at(
                    sig.paren_token.span.join(),
                    format!(
                        "`{}` has several `&mut` parameters: name the connection parameter `conn`",
                        sig.ident
                    ),
                );
            }
            named.copied()
        }
    }
}

/// Finds an identifier anywhere inside a pattern.
struct FindIdent<'a>(&'a str, Option<Span>);

impl<'ast> Visit<'ast> for FindIdent<'_> {
    fn visit_ident(&mut self, i: &'ast Ident) {
        if i == self.0 && self.1.is_none() {
            self.1 = Some(i.span());
        }
    }
}

/// The scope parameter named by `lit`, bound as a plain identifier.
pub(crate) fn find_scope(
    typed: &[(usize, &PatType)],
    conn: Option<usize>,
    lit: &LitStr,
    method_level: bool,
    name: &Ident,
    kind: &str,
    errors: &mut Errors,
) -> Option<Ident> {
    let wanted = lit.value();
    for (i, t) in typed {
        if let Pat::Ident(p) = &*t.pat
            && p.ident == wanted
        {
            if Some(*i) == conn {
                errors.at(
                    p.ident.span(),
                    format!("`{wanted}` is the connection parameter; the scope must name the parameter that identifies the scope, e.g. `user_id`"),
                );
                return None;
            }
            return Some(p.ident.clone());
        }
    }
    for (_, t) in typed {
        let mut finder = FindIdent(&wanted, None);
        finder.visit_pat(&t.pat);
        if let Some(span) = finder.1 {
            errors.at(
                span,
                format!(
                    "the scope parameter `{wanted}` is bound by a pattern; bind it as a plain parameter (`{wanted}: …`) and destructure inside the method"
                ),
            );
            return None;
        }
    }
    let params: Vec<String> = typed
        .iter()
        .filter(|(i, _)| Some(*i) != conn)
        .map(|(_, t)| t.pat.to_token_stream().to_string())
        .collect();
    let span = if method_level {
        lit.span()
    } else {
        name.span()
    };
    errors.at(
        span,
        format!(
            "`#[{kind}]` method `{name}` has no parameter named `{wanted}` to use as the scope; its parameters are: {}. Rename the parameter, or set `#[{kind}(scope = \"…\")]` on this method",
            if params.is_empty() { "(none)".to_owned() } else { params.join(", ") }
        ),
    );
    None
}

/// The return type, which must be a `Result`, and its error type when it is spelled out.
pub(crate) fn check_return<'a>(
    output: &'a ReturnType,
    sig: &syn::Signature,
    kind: &str,
    errors: &mut Errors,
) -> (Option<&'a Type>, Option<&'a Type>) {
    let ReturnType::Type(_, ty) = output else {
        errors.at(
            sig.paren_token.span.join(),
            format!(
                "`#[{kind}]` method `{}` returns nothing: write `-> Result<(), E>` with an error type `E: From<ryw::Error>` (ryw's pool, fence and transaction errors go there)",
                sig.ident
            ),
        );
        return (None, None);
    };
    let msg = format!(
        "`#[{kind}]` methods return a `Result`: write `-> Result<{}, E>` with an error type `E: From<ryw::Error>` (ryw's pool, fence and transaction errors go there)",
        tidy(&ty.to_token_stream().to_string())
    );
    let Type::Path(path) = &**ty else {
        errors.at(ty.span(), msg);
        return (None, None);
    };
    let Some(last) = path.path.segments.last() else {
        errors.at(ty.span(), msg);
        return (None, None);
    };
    if !last.ident.to_string().ends_with("Result") {
        errors.at(ty.span(), msg);
        return (None, None);
    }
    let err = match &last.arguments {
        PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .filter_map(|g| match g {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .nth(1),
        _ => None,
    };
    (Some(ty), err)
}

/// `&'a mut T` -> `&mut T`, so the generated closure is generic over the borrow.
pub(crate) fn without_lifetime(ty: &Type) -> Type {
    match ty {
        Type::Reference(r) => {
            let mut r = r.clone();
            r.lifetime = None;
            Type::Reference(r)
        }
        other => other.clone(),
    }
}

/// A type's token text as written by hand: `Option < i64 >` -> `Option<i64>`.
pub(crate) fn tidy(tokens: &str) -> String {
    tokens
        .replace(" < ", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace(" :: ", "::")
        .replace(" ,", ",")
        .replace("& ", "&")
}
