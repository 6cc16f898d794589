// The application error of repositories whose methods run diesel queries: it holds ryw's
// errors and diesel's through `From`. Included (`include!`) by the ui cases and by the
// macro's live tests (tests/macro_repository.rs, tests/named_policies.rs).

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error(transparent)]
    Ryw(#[from] ryw::Error),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}
