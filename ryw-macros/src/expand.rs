//! Code generation for `#[read_your_writes]`.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, ImplItem, ImplItemFn, Item, ItemImpl, LitStr, ReturnType};

use crate::attr::{Errors, ImplArgs, Kind, MethodArgs, parse_impl_args, take_marker};
use crate::signature::{check_return, find_connection, find_scope, typed_inputs, without_lifetime};

/// The whole expansion: parse, check everything (collecting every error), generate. On
/// errors the item is still emitted (markers removed) next to the `compile_error!`s, so one
/// mistake does not cascade into unrelated errors.
pub(crate) fn read_your_writes(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = parse_impl_args(attr, &mut errors);
    let mut imp = match syn::parse2::<ItemImpl>(item.clone()) {
        Ok(imp) => imp,
        Err(_) => {
            let what = match syn::parse2::<Item>(item.clone()) {
                Ok(Item::Trait(_)) => "a trait definition",
                Ok(Item::Struct(_)) => "a struct",
                Ok(Item::Fn(_)) => "a function",
                Ok(Item::Enum(_)) => "an enum",
                Ok(Item::Mod(_)) => "a module",
                _ => "this item",
            };
            errors.at(
                Span::call_site(),
                format!(
                    "#[read_your_writes] goes on an `impl` block, not on {what}: put it on `impl Repo {{ … }}` or on `impl RepoTrait for Repo {{ … }}` (the trait itself stays plain and mockable)"
                ),
            );
            let errs = errors.into_tokens();
            return quote! { #item #errs };
        }
    };
    let krate = args
        .krate
        .clone()
        .map_or_else(crate::krate::runtime_path, ToTokens::into_token_stream);

    let mut needs_impl_scope = false;
    for item in &mut imp.items {
        let ImplItem::Fn(method) = item else { continue };
        let Some(marker) = take_marker(&mut method.attrs, &mut errors) else {
            continue;
        };
        needs_impl_scope |= marker.scope.is_none() && marker.scopes.is_empty();
        let mut local = Errors::default();
        let generated = expand_method(method, &marker, &args, &krate, &mut local);
        match generated {
            Some(g) if local.is_empty() => *method = g,
            _ => {
                errors.append(local);
                disarm(method);
            }
        }
    }
    if needs_impl_scope && args.scope.is_none() {
        errors.at(
            Span::call_site(),
            "missing `scope`: write `#[read_your_writes(scope = \"user_id\")]`, naming the parameter that says whose writes a read must see",
        );
    }
    let errs = errors.into_tokens();
    quote! { #imp #errs }
}

/// A marked method that could not be expanded is still emitted with the signature the user
/// meant (the connection parameter removed, as the expansion would), its body type-checked
/// against a connection that is never produced. Callers and the trait it implements then see
/// the routed signature, so the only error is the macro's own: no "wrong number of
/// parameters" against the trait, no errors at call sites.
fn disarm(method: &mut ImplItemFn) {
    let typed = typed_inputs(&method.sig);
    let Some((index, conn)) = find_connection(&typed, &method.sig, "", &mut Errors::default())
    else {
        return;
    };
    let conn_pat = &conn.pat;
    let conn_ty = without_lifetime(&conn.ty);
    let block = &method.block;
    let ret = match &method.sig.output {
        ReturnType::Type(arrow, ty) => quote!(#arrow #ty),
        ReturnType::Default => TokenStream::new(),
    };
    let body_fn = format_ident!("__ryw_body", span = Span::mixed_site());
    method.block = syn::parse_quote! {{
        let #body_fn = async move |#conn_pat: #conn_ty| #ret #block;
        let _ = #body_fn;
        ::core::unreachable!()
    }};
    method.sig.inputs = method
        .sig
        .inputs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != index)
        .map(|(_, a)| a.clone())
        .collect();
}

/// Checks one marked method and, when it is well-formed, returns its routed replacement.
fn expand_method(
    method: &ImplItemFn,
    marker: &MethodArgs,
    args: &ImplArgs,
    krate: &TokenStream,
    errors: &mut Errors,
) -> Option<ImplItemFn> {
    let sig = &method.sig;
    let kind = marker.kind.name();
    let name = &sig.ident;

    if sig.asyncness.is_none() {
        errors.at(
            sig.fn_token.span,
            format!("`#[{kind}]` methods must be `async`: write `async fn {name}(…)`"),
        );
    }
    match sig.receiver() {
        None => errors.at(
            name.span(),
            format!(
                "`#[{kind}]` method `{name}` has no `self`: the router comes from the repository, so take `&self` first: `async fn {name}(&self, …)`"
            ),
        ),
        Some(r) if r.reference.is_none() || r.mutability.is_some() || r.colon_token.is_some() => {
            errors.at(
                r.span(),
                format!("`#[{kind}]` methods take `&self` (the router is borrowed from the repository while the method runs)"),
            );
        }
        Some(_) => {}
    }

    let typed = typed_inputs(sig);
    let conn = find_connection(&typed, sig, kind, errors);
    // The scope parameters: `scopes(…)`, else the method's or the impl's `scope`.
    let lits: Vec<&LitStr> = if marker.scopes.is_empty() {
        marker
            .scope
            .as_ref()
            .or(args.scope.as_ref())
            .into_iter()
            .collect()
    } else {
        marker.scopes.iter().collect()
    };
    let method_level = marker.scope.is_some() || !marker.scopes.is_empty();
    let found: Vec<Option<Ident>> = lits
        .iter()
        .map(|lit| {
            find_scope(
                &typed,
                conn.map(|c| c.0),
                lit,
                method_level,
                name,
                kind,
                errors,
            )
        })
        .collect();
    let (ret_ty, err_ty) = check_return(&sig.output, sig, kind, errors);

    let (conn, ret_ty) = (conn?, ret_ty?);
    let scopes: Vec<Ident> = found.into_iter().collect::<Option<_>>()?;
    if scopes.is_empty() || !errors.is_empty() {
        return None;
    }

    let mut new_sig = sig.clone();
    new_sig.inputs = sig
        .inputs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != conn.0)
        .map(|(_, a)| a.clone())
        .collect();
    let conn_pat = &conn.1.pat;
    let conn_ty = without_lifetime(&conn.1.ty);
    let block = &method.block;

    let router = format_ident!("__ryw_router", span = Span::mixed_site());
    let scope_key = format_ident!("__ryw_scope", span = Span::mixed_site());
    let body_fn = format_ident!("__ryw_body", span = Span::mixed_site());
    let router_expr = match &args.router {
        Some(field) => quote!(#krate::__private::AsRouter::as_router(&self.#field)),
        None => quote!(#krate::__private::RywRepository::ryw_router(self)),
    };
    let keys: Vec<TokenStream> = lits
        .iter()
        .zip(&scopes)
        .map(|(lit, scope)| {
            let (s, arg) = (lit.value(), quote_spanned!(scope.span()=> &#scope));
            quote!(#krate::__private::scope_key(#s, #arg))
        })
        .collect();
    let many = !marker.scopes.is_empty();
    let scope_init = if many {
        quote!([#(#keys),*])
    } else {
        quote!(#(#keys)*)
    };
    // ryw's own errors come back as `RoutedError::Ryw` and are converted into the method's
    // error type by one call spanned at that type (or at the return type when it is a
    // `Result` alias): a type without `From<ryw::Error>` is then one error, at that
    // type, with `RywErrorTarget`'s message.
    let err_span = err_ty.map_or_else(|| ret_ty.span(), Spanned::span);
    let ryw_err = format_ident!("__ryw_error", span = Span::mixed_site());
    let value = format_ident!("__ryw_value", span = Span::mixed_site());
    // The conversion takes ryw's error (not a type that carries `E`), so rustc reports a
    // missing `From<ryw::Error>` at the call's path, spanned at the error type, with
    // `RywErrorTarget`'s message.
    let krate_at_err = respan(krate.clone(), err_span);
    let user_arm = quote! {
        ::core::result::Result::Err(#krate::__private::RoutedError::User(#ryw_err)) => {
            ::core::result::Result::Err(#ryw_err)
        }
    };
    let ryw_arm = quote_spanned! {err_span=>
        ::core::result::Result::Err(#krate_at_err::__private::RoutedError::Ryw(#ryw_err)) => {
            ::core::result::Result::Err(#krate_at_err::__private::convert_ryw_error(#ryw_err))
        }
    };
    let call = match marker.kind {
        Kind::Write if marker.autocommit => {
            let scopes = if many {
                quote!(&#scope_key)
            } else {
                quote!(::core::slice::from_ref(&#scope_key))
            };
            quote! {
                #krate::__private::write_autocommit(#router, #scopes, #body_fn).await
            }
        }
        Kind::Write if many => quote! {
            #krate::__private::write_scopes(#router, &#scope_key, #body_fn).await
        },
        Kind::Write => quote! {
            #krate::__private::write(#router, &#scope_key, #body_fn).await
        },
        Kind::Read => {
            let policy = if marker.wait_ms.is_some()
                || marker.fallback.is_some()
                || marker.prefer.is_some()
                || marker.policy.is_some()
            {
                let name = marker.policy.as_ref().map_or_else(
                    || quote!(::core::option::Option::None),
                    |n| quote!(::core::option::Option::Some(#n)),
                );
                let wait = marker.wait_ms.as_ref().map_or_else(
                    || quote!(::core::option::Option::None),
                    |w| quote!(::core::option::Option::Some(#w)),
                );
                let fallback = marker.fallback.as_ref().map_or_else(
                    || quote!(::core::option::Option::None),
                    |f| quote!(::core::option::Option::Some(#krate::__private::Fallback::#f)),
                );
                let policy = quote!(#krate::__private::policy(#router, #name, #wait, #fallback));
                let policy = match &marker.prefer {
                    Some(p) => {
                        quote!(#krate::__private::preferring(#policy, #krate::__private::Prefer::#p))
                    }
                    None => policy,
                };
                quote!(::core::option::Option::Some(#policy))
            } else {
                quote!(::core::option::Option::None)
            };
            quote! {
                #krate::__private::read(#router, &#scope_key, #policy, #body_fn).await
            }
        }
    };
    // A read's closure borrows the parameters it only reads, so it is `Clone` (the router runs
    // a read again on the leader when a replica overran its deadline); a write's takes them.
    let body = match marker.kind {
        Kind::Write => quote!(async move |#conn_pat: #conn_ty| -> #ret_ty #block),
        Kind::Read => quote!(async |#conn_pat: #conn_ty| -> #ret_ty #block),
    };
    let new_block = syn::parse_quote! {{
        let #router = #router_expr;
        let #scope_key = #scope_init;
        let #body_fn = #body;
        match #call {
            ::core::result::Result::Ok(#value) => ::core::result::Result::Ok(#value),
            #user_arm
            #ryw_arm
        }
    }};
    Some(ImplItemFn {
        attrs: method.attrs.clone(),
        vis: method.vis.clone(),
        defaultness: method.defaultness,
        sig: new_sig,
        block: new_block,
    })
}

/// `tokens` with every span set to `span`, so a diagnostic about them points there.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tt| {
            if let proc_macro2::TokenTree::Group(g) = &tt {
                let mut group = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(span);
                tt = proc_macro2::TokenTree::Group(group);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}
