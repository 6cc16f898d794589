//! A [tower] layer that carries the session token across requests (works with axum).
//!
//! [`RywLayer`] wraps a service so that every request
//!
//! 1. gets a fresh [`RywContext`];
//! 2. has its incoming token — from the `ryw-token` header, or else (when cookies are enabled)
//!    from the session cookie — verified and imported into that context;
//! 3. runs the inner service inside [`RywContext::run`], so handlers and the router see
//!    [`RywContext::current`];
//! 4. returns with the updated token: in the `ryw-token` response header **always** (even when
//!    the context holds no floor: the token is small and lets the client just carry it), and, when
//!    enabled with [`RywLayer::with_cookie`], in a `Set-Cookie` header too.
//!
//! # Where the incoming token is read from
//! The header takes precedence: if the request carries the token header (first value; an empty
//! value counts as absent), the cookie is **not** looked at, even if the header's token is then
//! rejected. Only when there is no header is the cookie read, and only when cookies are enabled;
//! with several `Cookie` headers, or several cookies of that name, the first one wins.
//!
//! # Bad tokens never fail a request
//! A token that is malformed, of another format version, signed with an unknown key, forged or
//! tampered with, expired, or issued in the future is *rejected*: it is counted (the
//! `ryw_tokens_rejected_total{reason}` series of [`crate::metrics`] and
//! [`LayerStats::rejected_tokens`], per reason [`LayerStats::rejected_by_reason`]), logged at
//! `warn` (at most one line per 10 s, with the count it stands for), and treated as absent.
//! The request then goes on with an empty context. As the session's floors are unknown then, the layer can
//! optionally ask that the request's first read go to the leader
//! ([`RywLayer::pin_leader_on_rejected_token`], off by default): the fallback for state that
//! could not be carried.
//!
//! A *foreign* token — validly signed, but carrying floors of another cluster (say, a token
//! minted by a staging deployment sharing the key) — decodes fine and is **not** a rejection
//! here: its floors are imported, and the router ignores floors of clusters it does not serve
//! (counting them in `ryw_foreign_floors_total`). This layer only handles tokens that do not
//! decode.
//!
//! # Example
//! ```no_run
//! use std::time::Duration;
//!
//! use axum::{Router, routing::get};
//! use ryw_core::layer::{CookieConfig, RywLayer, SameSite};
//! use ryw_core::{KeyRing, RywContext, TokenCodec};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let codec = TokenCodec::new(KeyRing::new(1, &[7u8; 32])?);
//! let layer = RywLayer::new(codec)
//!     .with_cookie(
//!         CookieConfig::default()
//!             .same_site(SameSite::Strict)
//!             .max_age(Duration::from_secs(600)),
//!     )
//!     .pin_leader_on_rejected_token(true);
//! let stats = layer.stats();
//!
//! let app = Router::new()
//!     .route(
//!         "/",
//!         get(|| async {
//!             // Reads and writes routed by ryw see (and raise) this request's floors.
//!             let ctx = RywContext::current().expect("inside RywLayer");
//!             format!("{} floors", ctx.floors().clusters().count())
//!         }),
//!     )
//!     .layer(layer);
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # let _ = stats.rejected_tokens();
//! # Ok(())
//! # }
//! ```
//!
//! [tower]: https://docs.rs/tower

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use cookie::Cookie;
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};

/// The `SameSite` attribute of the session cookie (re-exported from the `cookie` crate).
pub use cookie::SameSite;

use crate::warn::RateLimited;
use crate::{RywContext, RywError, TokenCodec};

mod issuer;
mod session_cookie;
mod stats;

pub use issuer::TokenIssuer;
pub use session_cookie::CookieConfig;

use stats::rejection_reason;
pub use stats::{LayerStats, REJECTION_REASONS};

/// The default name of the request and response header carrying the token.
pub const DEFAULT_HEADER: &str = "ryw-token";
/// The default name of the session cookie.
pub const DEFAULT_COOKIE: &str = "ryw";

/// What the layer and its services share.
struct Shared {
    codec: Arc<TokenCodec>,
    header: HeaderName,
    cookie: Option<CookieConfig>,
    pin_leader_on_rejected_token: bool,
    stats: LayerStats,
    warn_rejected: Arc<RateLimited>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `TokenCodec`'s own `Debug` never prints secrets.
        f.debug_struct("RywLayer")
            .field("codec", &self.codec)
            .field("header", &self.header)
            .field("cookie", &self.cookie)
            .field(
                "pin_leader_on_rejected_token",
                &self.pin_leader_on_rejected_token,
            )
            .field("rejected_tokens", &self.stats.rejected_tokens())
            .finish()
    }
}

/// A tower [`Layer`](tower_layer::Layer) running each request inside a [`RywContext`] loaded
/// from, and saved back to, the session token. See the [module documentation](self).
///
/// Cheap to clone; clones share configuration and [`stats`](Self::stats).
#[derive(Debug, Clone)]
pub struct RywLayer {
    shared: Arc<Shared>,
}

impl RywLayer {
    /// A layer verifying and signing tokens with `codec`, using the `ryw-token` header, no
    /// cookie, and not pinning reads on rejected tokens.
    #[must_use]
    pub fn new(codec: impl Into<Arc<TokenCodec>>) -> Self {
        Self {
            shared: Arc::new(Shared {
                codec: codec.into(),
                header: HeaderName::from_static(DEFAULT_HEADER),
                cookie: None,
                pin_leader_on_rejected_token: false,
                stats: LayerStats::default(),
                warn_rejected: Arc::new(RateLimited::default()),
            }),
        }
    }

    fn update(mut self, f: impl FnOnce(&mut Shared)) -> Self {
        match Arc::get_mut(&mut self.shared) {
            Some(shared) => f(shared),
            None => {
                // Configured after cloning: copy, keeping the shared counters.
                let mut shared = Shared {
                    codec: Arc::clone(&self.shared.codec),
                    header: self.shared.header.clone(),
                    cookie: self.shared.cookie.clone(),
                    pin_leader_on_rejected_token: self.shared.pin_leader_on_rejected_token,
                    stats: self.shared.stats.clone(),
                    warn_rejected: Arc::clone(&self.shared.warn_rejected),
                };
                f(&mut shared);
                self.shared = Arc::new(shared);
            }
        }
        self
    }

    /// The request and response header carrying the token (default `ryw-token`).
    #[must_use]
    pub fn with_header(self, name: HeaderName) -> Self {
        self.update(|s| s.header = name)
    }

    /// Also reads the token from, and writes it back to, a cookie (opt-in).
    #[must_use]
    pub fn with_cookie(self, cookie: CookieConfig) -> Self {
        self.update(|s| s.cookie = Some(cookie))
    }

    /// When an incoming token is rejected, asks that the request's first read go to the leader
    /// ([`RywContext::pin_next_read_to_leader`]). Default off.
    #[must_use]
    pub fn pin_leader_on_rejected_token(self, on: bool) -> Self {
        self.update(|s| s.pin_leader_on_rejected_token = on)
    }

    /// The codec verifying and signing tokens.
    #[must_use]
    pub fn codec(&self) -> &Arc<TokenCodec> {
        &self.shared.codec
    }

    /// A handle on this layer's counters.
    #[must_use]
    pub fn stats(&self) -> LayerStats {
        self.shared.stats.clone()
    }

    /// How many incoming tokens were rejected so far (shorthand for
    /// `self.stats().rejected_tokens()`).
    #[must_use]
    pub fn rejected_tokens(&self) -> u64 {
        self.shared.stats.rejected_tokens()
    }
}

impl<S> tower_layer::Layer<S> for RywLayer {
    type Service = RywService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RywService {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service made by [`RywLayer`].
#[derive(Debug, Clone)]
pub struct RywService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> RywService<S> {
    /// The wrapped service.
    #[must_use]
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// A handle on the layer's counters.
    #[must_use]
    pub fn stats(&self) -> LayerStats {
        self.shared.stats.clone()
    }
}

impl<S, B, ResBody> tower_service::Service<Request<B>> for RywService<S>
where
    S: tower_service::Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // The clone may not be ready: keep the ready service for this call (tower convention).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = Arc::clone(&self.shared);

        let ctx = RywContext::new();
        shared.import(&ctx, req.headers());
        req.extensions_mut()
            .insert(TokenIssuer::new(Arc::clone(&shared.codec)));

        Box::pin(async move {
            // `call` itself runs inside the context too: a service doing work synchronously in
            // `call` sees it.
            let mut response = ctx
                .clone()
                .run(async move { inner.call(req).await })
                .await?;
            shared.export(&ctx, response.headers_mut());
            Ok(response)
        })
    }
}

impl Shared {
    /// The incoming token: the header's, else the cookie's (if enabled).
    fn incoming_token<'h>(&self, headers: &'h HeaderMap) -> Option<Result<&'h str, RywError>> {
        if let Some(value) = headers.get(&self.header) {
            match value.to_str() {
                // A blank header counts as no header: the cookie is read next.
                Ok(s) if s.trim().is_empty() => {}
                Ok(s) => return Some(Ok(s)),
                Err(_) => {
                    return Some(Err(RywError::TokenMalformed {
                        reason: format!("the {} header is not visible ASCII", self.header),
                    }));
                }
            }
        }
        let name = self.cookie.as_ref()?.name.as_str();
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .find(|c| c.name() == name)
            .and_then(|c| {
                let raw = c.value_raw()?;
                // RFC 6265 allows a quoted value.
                let v = raw
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(raw);
                (!v.trim().is_empty()).then_some(Ok(v))
            })
    }

    fn import(&self, ctx: &RywContext, headers: &HeaderMap) {
        let Some(token) = self.incoming_token(headers) else {
            return;
        };
        let Err(err) = token.and_then(|t| ctx.import_token(&self.codec, t)) else {
            return;
        };
        let reason = rejection_reason(&err);
        crate::metrics::token_rejected(reason);
        self.stats.count_rejection(reason);
        if let Some(folded) = self.warn_rejected.check() {
            tracing::warn!(
                reason,
                error = %err,
                folded,
                pin_leader = self.pin_leader_on_rejected_token,
                "ryw: incoming session token rejected; treating it as absent"
            );
        }
        if self.pin_leader_on_rejected_token {
            ctx.pin_next_read_to_leader();
        }
    }

    fn export(&self, ctx: &RywContext, headers: &mut HeaderMap) {
        let token = match ctx.export_token(&self.codec) {
            Ok(t) => t,
            Err(err) => {
                tracing::warn!(error = %err, "ryw: could not encode the outgoing session token");
                return;
            }
        };
        match HeaderValue::from_str(&token) {
            Ok(v) => {
                headers.insert(self.header.clone(), v);
            }
            Err(err) => {
                tracing::warn!(error = %err, "ryw: outgoing session token is not a header value");
            }
        }
        if let Some(cookie) = &self.cookie {
            let set_cookie = cookie.set_cookie(&token, self.codec.max_age());
            match HeaderValue::from_str(&set_cookie) {
                Ok(v) => {
                    headers.append(SET_COOKIE, v);
                }
                Err(err) => {
                    tracing::warn!(
                        error = %err,
                        cookie = cookie.name,
                        "ryw: session cookie is not a header value (check the cookie's name and path)"
                    );
                }
            }
        }
    }
}
