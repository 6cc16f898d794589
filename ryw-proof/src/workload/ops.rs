//! The operations of a session: ryw reads and writes through an app instance, plain ones on
//! the pools, each bounded by the operation deadline and recorded with how it ended.

use rand::Rng;
use ryw::{Error, Router, ServedBy};
use ryw::{RywContext, ScopeKey};

use super::{Session, Shared};
use crate::backends::{CaptureFault, ProofBackend};
use crate::history::{Mode, Op, OpKind, Outcome, Served};
use crate::repo::ProofRepo;

fn err_kind(e: &Error) -> String {
    match e {
        Error::Pool { node, .. } if node == "leader" => "pool_leader".into(),
        Error::Pool { .. } => "pool_replica".into(),
        Error::Query { what, .. } => format!("query:{what}"),
        Error::FenceTimeout { .. } => "fence_timeout".into(),
        Error::Core(_) => "core".into(),
        Error::Config(_) => "config".into(),
        _ => "other".into(),
    }
}

/// A write that failed before BEGIN succeeded wrote nothing; any later failure may have
/// committed.
fn write_outcome(e: &Error) -> Outcome {
    let kind = err_kind(e);
    match e {
        Error::Pool { .. } | Error::Query { what: "BEGIN", .. } => Outcome::Failed { kind },
        _ => Outcome::Unknown { kind },
    }
}

/// How an operation bounded by the session's deadline ended: its value, or the outcome to
/// record (a write that failed or overran may have committed; a read that did, did not).
fn settle<T>(
    res: Result<Result<T, Error>, tokio::time::error::Elapsed>,
    write: bool,
) -> Result<T, Outcome> {
    match res {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) if write => Err(write_outcome(&e)),
        Ok(Err(e)) => Err(Outcome::Failed { kind: err_kind(&e) }),
        Err(_) => {
            let kind = "timeout".to_owned();
            Err(if write {
                Outcome::Unknown { kind }
            } else {
                Outcome::Failed { kind }
            })
        }
    }
}

fn served(s: &ServedBy) -> Served {
    match s {
        ServedBy::Leader => Served::Leader,
        ServedBy::Replica(n) => Served::Replica(n.to_string()),
    }
}

/// The app instance the session is on: its router and its repository.
fn instance<'s, B: ProofBackend>(
    shared: &'s Shared<B>,
    s: &Session,
) -> (&'s Router<CaptureFault<B>>, &'s ProofRepo<B>) {
    let i = s.instance as usize;
    match (
        shared.routers.get(i),
        shared.repos.get(i),
        shared.late.get(),
    ) {
        (Some(router), Some(repo), _) => (router, repo),
        (_, _, Some((router, repo))) => (router, repo),
        // Instances only grow; an index the session holds always exists.
        _ => (&shared.routers[0], &shared.repos[0]),
    }
}

/// The device of a read made without the session's token (a second client of its user).
const TOKENLESS_DEVICE: u32 = u32::MAX;

/// The context a request of this session starts with: resumed from its token.
fn context<B: ProofBackend>(shared: &Shared<B>, s: &Session) -> RywContext {
    s.token
        .as_deref()
        .and_then(|t| RywContext::from_token(&shared.codec, t).ok())
        .unwrap_or_default()
}

pub(super) async fn ryw_write<B: ProofBackend>(shared: &Shared<B>, s: &mut Session) -> Op {
    s.next_version += 1;
    let (v, scope) = (s.next_version, s.scope);
    let mut op = s.op(OpKind::Write, shared.rec.now_ns());
    op.version = Some(v);
    let (router, repo) = instance(shared, s);
    let ctx = context(shared, s);
    let key = ScopeKey::of("user_id", scope);
    let via_macro = s.via_macro;
    let fut = ctx.clone().run(async move {
        let set = async move |conn: &mut B::Connection| B::set_version(conn, scope, v).await;
        if via_macro {
            repo.set_version(scope, v).await.map(|()| None)
        } else if v % 2 == 0 {
            // Every other direct write without a transaction: one statement, then the capture.
            let keys = std::slice::from_ref(&key);
            router
                .write_autocommit(keys, set)
                .await
                .map(|r| Some((r.served_by, r.position)))
        } else {
            router
                .write(&key, set)
                .await
                .map(|r| Some((r.served_by, r.position)))
        }
    });
    match settle(
        tokio::time::timeout(shared.config.op_timeout, fut).await,
        true,
    ) {
        Ok(by) => {
            op.served = by.as_ref().map_or(Served::Leader, |(b, _)| served(b));
            op.position = by.and_then(|(_, p)| p).map(|p| p.to_string());
        }
        Err(outcome) => op.outcome = outcome,
    }
    finish(shared, s, &ctx, op)
}

/// Completes a ryw operation: its end time, and the token the response would carry.
fn finish<B: ProofBackend>(
    shared: &Shared<B>,
    s: &mut Session,
    ctx: &RywContext,
    mut op: Op,
) -> Op {
    op.complete_ns = shared.rec.now_ns();
    if let Ok(t) = ctx.export_token(&shared.codec) {
        s.token = Some(t);
    }
    op
}

pub(super) async fn ryw_read<B: ProofBackend>(shared: &Shared<B>, s: &mut Session) -> Op {
    let cfg = shared.config;
    // Now and then another ryw session's scope (scopes 1..=ryw_sessions).
    let scope = if cfg.ryw_sessions > 1 && s.rng.random_bool(cfg.cross_read_ratio) {
        i64::from(s.rng.random_range(1..=cfg.ryw_sessions))
    } else {
        s.scope
    };
    let mut op = s.op(OpKind::Read, shared.rec.now_ns());
    op.scope = scope;
    let (router, repo) = instance(shared, s);
    // Now and then from a device of the same user that has no token.
    let tokenless =
        scope == s.scope && s.mode == Mode::Ryw && s.rng.random_bool(cfg.tokenless_read_ratio);
    let ctx = if tokenless {
        op.device = TOKENLESS_DEVICE;
        RywContext::new()
    } else {
        context(shared, s)
    };
    let key = ScopeKey::of("user_id", scope);
    let via_macro = s.via_macro;
    let policy = router.policy().with_monotonic(s.mode == Mode::RywMonotonic);
    let fut = ctx.clone().run(async move {
        if via_macro {
            repo.version(scope).await.map(|v| (v, None))
        } else {
            let r = router.read_with(&key, &policy, async move |conn| {
                B::version(conn, scope).await
            });
            r.await.map(|r| (r.value, Some((r.served_by, r.position))))
        }
    });
    match settle(
        tokio::time::timeout(shared.config.op_timeout, fut).await,
        false,
    ) {
        Ok((v, by)) => {
            op.version = Some(v);
            op.served = by.as_ref().map_or(Served::Unknown, |(b, _)| served(b));
            op.position = by.and_then(|(_, p)| p).map(|p| p.to_string());
        }
        Err(outcome) => op.outcome = outcome,
    }
    if tokenless {
        // That device's token is not the session's.
        op.complete_ns = shared.rec.now_ns();
        return op;
    }
    finish(shared, s, &ctx, op)
}

pub(super) async fn plain_write<B: ProofBackend>(shared: &Shared<B>, s: &mut Session) -> Op {
    s.next_version += 1;
    let (v, scope) = (s.next_version, s.scope);
    let mut op = s.op(OpKind::Write, shared.rec.now_ns());
    op.version = Some(v);
    op.served = Served::Leader;
    let pool = instance(shared, s).0.pool();
    let fut = async {
        let mut conn = pool.leader().await?;
        B::set_version(&mut conn, scope, v).await
    };
    if let Err(outcome) = settle(
        tokio::time::timeout(shared.config.op_timeout, fut).await,
        true,
    ) {
        op.outcome = outcome;
    }
    op.complete_ns = shared.rec.now_ns();
    op
}

pub(super) async fn plain_read<B: ProofBackend>(shared: &Shared<B>, s: &mut Session) -> Op {
    let scope = s.scope;
    let mut op = s.op(OpKind::Read, shared.rec.now_ns());
    let pool = instance(shared, s).0.pool();
    let n = pool.replicas().len().max(1);
    s.rr = s.rr.wrapping_add(1);
    let i = s.rr % n;
    let name = pool.replicas().get(i).map(|r| r.name().to_owned());
    let fut = async {
        let mut conn = pool.replica(i).await?;
        B::version(&mut conn, scope).await
    };
    match settle(
        tokio::time::timeout(shared.config.op_timeout, fut).await,
        false,
    ) {
        Ok(v) => {
            op.version = Some(v);
            op.served = name.map_or(Served::Unknown, Served::Replica);
        }
        Err(outcome) => op.outcome = outcome,
    }
    op.complete_ns = shared.rec.now_ns();
    op
}
