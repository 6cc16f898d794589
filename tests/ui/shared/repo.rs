// A Postgres repository that holds its router in a field, for cases annotated with
// `#[read_your_writes(router = "router", …)]`. Included (`include!`) by the cases.

struct Repo {
    router: ryw::Router<ryw::Postgres>,
}
