//! Methods with extra arguments, borrowed arguments, explicit lifetimes, a connection that is
//! not the first parameter and a `Result` alias.

use diesel_async::AsyncPgConnection;
use ryw::read_your_writes;

include!("../shared/app_error.rs");

type AppResult<T> = Result<T, AppError>;

include!("../shared/repo.rs");

#[read_your_writes(scope = "user_id", router = "router")]
impl Repo {
    #[read]
    async fn find<'a>(
        &self,
        conn: &mut AsyncPgConnection,
        user_id: i64,
        names: &'a [String],
    ) -> Result<Vec<i64>, AppError> {
        let _ = conn;
        Ok(names.iter().map(|n| user_id + n.len() as i64).collect())
    }

    #[write]
    async fn tag<'a, 'b>(
        &'a self,
        user_id: i64,
        conn: &'b mut AsyncPgConnection,
        tags: &'a [&'b str],
        mut count: usize,
    ) -> AppResult<usize> {
        let _ = (conn, user_id);
        count += tags.len();
        Ok(count)
    }

    #[read]
    async fn pair(
        &self,
        conn: &mut AsyncPgConnection,
        (a, b): (i64, i64),
        user_id: i64,
        _unused: Option<&str>,
    ) -> Result<(i64, i64), AppError> {
        let _ = conn;
        Ok((a + user_id, b))
    }

    /// Two `&mut` parameters: the connection is the one named `conn`.
    #[write]
    async fn append(
        &self,
        out: &mut Vec<i64>,
        conn: &mut AsyncPgConnection,
        user_id: i64,
    ) -> Result<(), AppError> {
        let _ = conn;
        out.push(user_id);
        Ok(())
    }
}

async fn use_it(repo: &Repo) -> Result<(), AppError> {
    let names = vec!["a".to_owned()];
    let _ = repo.find(1, &names).await?;
    let tags = ["x", "y"];
    let _ = repo.tag(1, &tags, 0).await?;
    let _ = repo.pair((1, 2), 3, None).await?;
    let mut out = Vec::new();
    repo.append(&mut out, 1).await?;
    Ok(())
}

fn main() {
    let _ = use_it;
}
