//! The token a response will carry, for handlers that also put it in the body.

use std::sync::Arc;

use crate::context::RywContext;
use crate::token::TokenCodec;

/// Put in every request's extensions by [`RywLayer`](super::RywLayer): it encodes the
/// request's token as it stands (after the handler's writes) — the one the layer puts in the
/// response header when nothing else is written after. A client that renders from a write's
/// response ("instant UI") can keep it with the data and send it on its next request.
///
/// ```
/// # use std::sync::Arc;
/// # use ryw_core::{KeyRing, RywContext, TokenCodec};
/// # use ryw_core::layer::TokenIssuer;
/// # async fn demo() {
/// let issuer = TokenIssuer::new(Arc::new(TokenCodec::new(KeyRing::new(1, &[9; 32]).unwrap())));
/// let token = RywContext::new().run(async { issuer.token() }).await;
/// assert!(token.is_some());
/// assert_eq!(issuer.token(), None); // outside any request context
/// # }
/// ```
#[derive(Clone)]
pub struct TokenIssuer {
    codec: Arc<TokenCodec>,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenIssuer")
    }
}

impl TokenIssuer {
    /// An issuer encoding with `codec` (the layer's).
    #[must_use]
    pub fn new(codec: Arc<TokenCodec>) -> Self {
        Self { codec }
    }

    /// The current request's token now; `None` outside a request context, or when it cannot
    /// be encoded (logged at `warn`).
    #[must_use]
    pub fn token(&self) -> Option<String> {
        let ctx = RywContext::current()?;
        match ctx.export_token(&self.codec) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!(error = %e, "ryw: could not encode the session token for the body");
                None
            }
        }
    }
}
