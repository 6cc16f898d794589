// What a compile-fail case needs besides its mistake: the application error and an empty
// `main`. Included (`include!`) by the cases, so that each file shows only its mistake.

include!("app_error.rs");

fn main() {}
