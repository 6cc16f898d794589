//! Expansion snapshots of the macro's inner function, formatted with prettyplease.

use quote::quote;

use crate::expand::read_your_writes;

fn pretty(attr: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> String {
    let out = read_your_writes(attr, item);
    match syn::parse2::<syn::File>(out.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(e) => format!("unparsable expansion ({e}):\n{out}"),
    }
}

#[test]
fn inherent_impl() {
    insta::assert_snapshot!(pretty(
        quote!(scope = "user_id"),
        quote! {
            impl Accounts {
                /// Pays.
                #[write]
                pub async fn pay(&self, conn: &mut AsyncPgConnection, user_id: i64, cents: i64) -> Result<(), AppError> {
                    diesel::sql_query("UPDATE …").execute(conn).await?;
                    Ok(())
                }

                #[read]
                pub async fn balance(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
                    load_balance(conn, user_id).await
                }

                pub fn unmarked(&self) -> u32 { 7 }
            }
        }
    ));
}

#[test]
fn trait_impl_with_router_field_policy_and_crate_override() {
    insta::assert_snapshot!(pretty(
        quote!(scope = "user_id", router = "router", crate = "my_app::ryw"),
        quote! {
            impl Balances for Repo {
                #[read(scope = "account_id", wait_ms = 250, fallback = "error")]
                async fn account<'a>(&self, conn: &'a mut AsyncMysqlConnection, account_id: Uuid, names: &'a [String]) -> Result<Vec<i64>, Error> {
                    find(conn, account_id, names).await
                }
            }
        }
    ));
}

#[test]
fn all_errors_reported_together_and_item_still_emitted() {
    insta::assert_snapshot!(pretty(
        quote!(),
        quote! {
            impl Accounts {
                #[read]
                fn not_async(&self, conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> { todo() }

                #[write]
                async fn no_conn(&self, user_id: i64) -> i64 { 0 }
            }
        }
    ));
}

#[test]
fn not_on_an_impl() {
    insta::assert_snapshot!(pretty(
        quote!(scope = "user_id"),
        quote! { struct Accounts; }
    ));
}

#[test]
fn write_of_several_scopes() {
    insta::assert_snapshot!(pretty(
        quote!(router = "router"),
        quote! {
            impl Members {
                #[write(scopes("user_id", "org_id"))]
                pub async fn join(&self, conn: &mut AsyncPgConnection, user_id: i64, org_id: i64) -> Result<(), AppError> {
                    add_member(conn, user_id, org_id).await
                }
            }
        }
    ));
}
