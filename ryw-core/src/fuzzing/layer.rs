//! The layer's properties over arbitrary token-header and `Cookie`-header bytes.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use http::header::COOKIE;
use http::{HeaderValue, Request, Response};
use tower_layer::Layer as _;
use tower_service::Service;

use crate::layer::{CookieConfig, DEFAULT_COOKIE, DEFAULT_HEADER, RywLayer};
use crate::position::Lsn;
use crate::token::TokenCodec;
use crate::{ClusterId, Floors, RywContext, ScopeKey};

/// What the inner service saw: its context's floors and leader pin.
type Seen = Arc<Mutex<Option<(Floors, bool)>>>;

/// An inner service that records the context it runs in.
#[derive(Clone)]
struct Probe(Seen);

impl Service<Request<()>> for Probe {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<()>) -> Self::Future {
        let ctx = RywContext::current().expect("no context inside the layer");
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((ctx.floors(), ctx.take_leader_pin()));
        ready(Ok(Response::new(())))
    }
}

/// A token signed at the wall clock (the layer decodes at the wall clock) and its floors.
pub struct ValidToken {
    /// The codec that signed it.
    pub codec: TokenCodec,
    /// What it carries.
    pub floors: Floors,
    /// The token text.
    pub token: String,
}

impl ValidToken {
    /// Three `user_id` floors, signed now with [`super::codec`].
    #[must_use]
    pub fn new() -> Self {
        let codec = super::codec();
        let mut floors = Floors::default();
        for i in 0..3_u64 {
            let pos = Lsn::new(0x1_0000 * i + 0x28).into();
            floors
                .raise(&ClusterId::new("pg:7:1"), &ScopeKey::of("user_id", i), pos)
                .expect("one kind of position");
        }
        let token = codec.encode(&floors).expect("encodes");
        Self {
            codec,
            floors,
            token,
        }
    }

    /// `part` with every `0x01` byte (never valid in a header value) replaced by the token, so
    /// fuzzed requests reach the accepting path as often as the rejecting one.
    fn expand(&self, part: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(part.len());
        for &b in part {
            match b {
                1 => out.extend_from_slice(self.token.as_bytes()),
                _ => out.push(b),
            }
        }
        out
    }
}

impl Default for ValidToken {
    fn default() -> Self {
        Self::new()
    }
}

/// One request through [`RywLayer`] with these header and cookie bytes (`0x01` stands for the
/// valid token). Properties: the layer never panics or fails; the inner service runs in a
/// context; a rejected token is counted once, treated as absent and pins the next read;
/// otherwise the floors are empty or exactly the valid token's; an exact valid header, or a
/// lone cookie when the header is missing or blank, is accepted; the response token decodes
/// to the floors the inner service saw. Returns those floors.
pub fn layer_case(valid: &ValidToken, header: &[u8], cookie: &[u8]) -> Floors {
    let (header, cookie) = (valid.expand(header), valid.expand(cookie));
    let layer = RywLayer::new(valid.codec.clone())
        .with_cookie(CookieConfig::default())
        .pin_leader_on_rejected_token(true);
    let seen = Seen::default();
    let mut service = layer.layer(Probe(Arc::clone(&seen)));
    let mut req = Request::new(());
    let header_sent = HeaderValue::from_bytes(&header)
        .map(|v| req.headers_mut().insert(DEFAULT_HEADER, v))
        .is_ok();
    let cookie_read = !header_sent || header.trim_ascii().is_empty();
    if let Ok(v) = HeaderValue::from_bytes(&cookie) {
        req.headers_mut().insert(COOKIE, v);
    }

    let mut fut = service.call(req);
    let Poll::Ready(res) = fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) else {
        panic!("the layer did not complete over a ready service");
    };
    let response = res.unwrap_or_else(|e| match e {});
    let (floors, pinned) = seen
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .expect("the inner service ran");
    let case = || {
        format!(
            "header {:?}, cookie {:?}",
            String::from_utf8_lossy(&header),
            String::from_utf8_lossy(&cookie)
        )
    };
    match layer.rejected_tokens() {
        0 => {
            assert!(!pinned, "pinned without a rejection: {}", case());
            assert!(
                floors.is_empty() || floors == valid.floors,
                "accepted floors no valid token carried: {}",
                case()
            );
        }
        1 => {
            assert!(floors.is_empty(), "rejected token not absent: {}", case());
            assert!(pinned, "rejected token did not pin: {}", case());
        }
        n => panic!("{n} rejections for one request: {}", case()),
    }
    let lone_cookie = format!("{DEFAULT_COOKIE}={}", valid.token);
    if header == valid.token.as_bytes() || (cookie_read && cookie == lone_cookie.as_bytes()) {
        assert!(
            floors == valid.floors,
            "valid token not accepted: {}",
            case()
        );
    }
    let token = response
        .headers()
        .get(DEFAULT_HEADER)
        .expect("the response carries a token")
        .to_str()
        .expect("the token is visible ASCII");
    let out = valid
        .codec
        .decode(token)
        .expect("the outgoing token decodes");
    assert!(out.floors == floors, "outgoing token differs: {}", case());
    floors
}
