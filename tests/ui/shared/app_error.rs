// The application error of most cases: it holds ryw's errors through `From`, as the macro
// requires of a marked method's error type. Each case is its own crate, so the cases
// `include!` this file instead of importing it.

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error(transparent)]
    Ryw(#[from] ryw::Error),
}
