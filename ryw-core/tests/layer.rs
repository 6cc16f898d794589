//! `RywLayer` under axum: token in and out through header and cookie, round trips across
//! requests, bad tokens counted and treated as absent, header-over-cookie precedence.
#![cfg(feature = "tower")]
#![allow(missing_docs)]
// Helpers outside `#[test]` functions are test code too (clippy.toml only covers the latter).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::{get, post};
use cookie::{Cookie, SameSite};
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderName, HeaderValue, Request, StatusCode};
use ryw_core::layer::{CookieConfig, RywLayer};
use ryw_core::position::{Lsn, Position};
use ryw_core::{ClusterId, Floors, KeyRing, RywContext, ScopeKey, TokenCodec};
use tower::ServiceExt as _;

const HEADER: &str = "ryw-token";

fn codec() -> TokenCodec {
    TokenCodec::new(KeyRing::new(1, &[9u8; 32]).unwrap())
}

fn cluster() -> ClusterId {
    ClusterId::new("pg:1:1")
}

fn user() -> ScopeKey {
    ScopeKey::of("user_id", 1)
}

fn lsn(v: u64) -> Position {
    Lsn::new(v).into()
}

fn floors_at(v: u64) -> Floors {
    let mut f = Floors::default();
    f.raise(&cluster(), &user(), lsn(v)).unwrap();
    f
}

/// `GET /ctx`: whether a context is current. `POST /write`: raises `user_id:1` to 42.
/// `GET /read`: `<required floor>|<leader pin>,<leader pin again>`.
fn app(layer: RywLayer) -> Router {
    Router::new()
        .route(
            "/ctx",
            get(|| async { RywContext::current().is_some().to_string() }),
        )
        .route(
            "/write",
            post(|| async {
                let ctx = RywContext::current().unwrap();
                ctx.raise(&cluster(), &user(), lsn(42)).unwrap();
                "written"
            }),
        )
        .route(
            "/read",
            get(|| async {
                let ctx = RywContext::current().unwrap();
                let floor = ctx.required(&cluster(), &user()).unwrap();
                let first = ctx.take_leader_pin();
                let second = ctx.take_leader_pin();
                format!("{floor:?}|{first},{second}")
            }),
        )
        .layer(layer)
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, Response<Body>, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 16).await.unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    (status, Response::from_parts(parts, Body::empty()), text)
}

/// Sends `GET /read` with `headers` (name, value) and an empty body.
async fn read(app: &Router, headers: &[(&str, &str)]) -> (StatusCode, Response<Body>, String) {
    let mut req = get_req("/read");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    send(app, req.body(Body::empty()).unwrap()).await
}

fn get_req(uri: &str) -> http::request::Builder {
    Request::builder().method("GET").uri(uri)
}

fn response_token(res: &Response<Body>) -> String {
    res.headers()
        .get(HEADER)
        .expect("response carries the token header")
        .to_str()
        .unwrap()
        .to_owned()
}

fn set_cookies(res: &Response<Body>) -> Vec<Cookie<'static>> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| Cookie::parse(v.to_str().unwrap().to_owned()).unwrap())
        .collect()
}

fn seen_floor(v: u64) -> String {
    format!("{:?}", Some(lsn(v)))
}

#[tokio::test]
async fn request_without_token_runs_in_a_context_and_gets_a_token() {
    let codec = codec();
    let layer = RywLayer::new(codec.clone());
    let app = app(layer.clone());

    let (status, res, body) = send(&app, get_req("/ctx").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "true");
    let token = response_token(&res);
    assert_eq!(codec.decode(&token).unwrap().floors, Floors::default());
    // No cookie unless asked for.
    assert!(res.headers().get(SET_COOKIE).is_none());
    assert_eq!(layer.rejected_tokens(), 0);
}

#[tokio::test]
async fn header_round_trip_across_requests() {
    let codec = codec();
    let app = app(RywLayer::new(codec.clone()));

    let (status, res, _) = send(&app, Request::post("/write").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let token = response_token(&res);
    assert_eq!(codec.decode(&token).unwrap().floors, floors_at(42));

    // Sent back: the next request's handler sees the floor, and the response carries it on.
    let (status, res, body) = read(&app, &[(HEADER, &token)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, format!("{}|false,false", seen_floor(42)));
    assert_eq!(
        codec.decode(&response_token(&res)).unwrap().floors,
        floors_at(42)
    );
}

#[tokio::test]
async fn cookie_round_trip_with_configured_attributes() {
    let codec = codec();
    let layer = RywLayer::new(codec.clone()).with_cookie(
        CookieConfig::default()
            .name("sess")
            .same_site(SameSite::Strict)
            .max_age(Duration::from_secs(600))
            .path("/app"),
    );
    let app = app(layer);

    let (_, res, _) = send(&app, Request::post("/write").body(Body::empty()).unwrap()).await;
    let cookies = set_cookies(&res);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let c = &cookies[0];
    assert_eq!(c.name(), "sess");
    assert_eq!(c.http_only(), Some(true));
    assert_eq!(c.secure(), Some(true));
    assert_eq!(c.same_site(), Some(SameSite::Strict));
    assert_eq!(c.max_age(), Some(cookie::time::Duration::seconds(600)));
    assert_eq!(c.path(), Some("/app"));
    assert_eq!(codec.decode(c.value()).unwrap().floors, floors_at(42));
    // The header is set in cookie mode too, with the same token.
    assert_eq!(response_token(&res), c.value());

    // The cookie alone carries the floor to the next request, among other cookies.
    let cookie = format!("theme=dark; sess={}; lang=en", c.value());
    let (status, res, body) = read(&app, &[(COOKIE.as_str(), &cookie)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, format!("{}|false,false", seen_floor(42)));
    assert_eq!(set_cookies(&res).len(), 1);
}

#[tokio::test]
async fn default_cookie_attributes_follow_the_codec() {
    let codec = codec().with_max_age(Duration::from_secs(900));
    let app = app(RywLayer::new(codec).with_cookie(CookieConfig::default()));
    let (_, res, _) = send(&app, get_req("/ctx").body(Body::empty()).unwrap()).await;
    let cookies = set_cookies(&res);
    let c = &cookies[0];
    assert_eq!(c.name(), "ryw");
    assert_eq!(c.http_only(), Some(true));
    assert_eq!(c.secure(), Some(true));
    assert_eq!(c.same_site(), Some(SameSite::Lax));
    assert_eq!(c.path(), Some("/"));
    assert_eq!(c.max_age(), Some(cookie::time::Duration::seconds(900)));
}

#[tokio::test]
async fn cookie_found_across_several_cookie_headers() {
    let codec = codec();
    let token = codec.encode(&floors_at(7)).unwrap();
    let app = app(RywLayer::new(codec).with_cookie(CookieConfig::default()));
    let (_, _, body) = read(
        &app,
        &[
            (COOKIE.as_str(), "a=1; b=2"),
            (COOKIE.as_str(), &format!("ryw={token}")),
        ],
    )
    .await;
    assert_eq!(body, format!("{}|false,false", seen_floor(7)));
}

#[tokio::test]
async fn quoted_cookie_value_is_accepted() {
    let codec = codec();
    let token = codec.encode(&floors_at(8)).unwrap();
    let layer = RywLayer::new(codec).with_cookie(CookieConfig::default());
    let app = app(layer.clone());
    let (_, _, body) = read(&app, &[(COOKIE.as_str(), &format!("ryw=\"{token}\""))]).await;
    assert_eq!(body, format!("{}|false,false", seen_floor(8)));
    assert_eq!(layer.rejected_tokens(), 0);
}

#[tokio::test]
async fn cookie_is_ignored_unless_enabled() {
    let codec = codec();
    let token = codec.encode(&floors_at(7)).unwrap();
    let app = app(RywLayer::new(codec));
    let (_, _, body) = read(&app, &[(COOKIE.as_str(), &format!("ryw={token}"))]).await;
    assert_eq!(body, "None|false,false");
}

/// Tokens that must be rejected: `(what, token)`.
fn bad_tokens() -> Vec<(&'static str, String)> {
    let codec = codec();
    let floors = floors_at(42);
    let other_key = TokenCodec::new(KeyRing::new(1, &[0xEEu8; 32]).unwrap());
    let unknown_key = TokenCodec::new(KeyRing::new(2, &[9u8; 32]).unwrap());
    let expired = codec
        .encode_at(&floors, SystemTime::now() - Duration::from_secs(2 * 3600))
        .unwrap();
    let from_future = codec
        .encode_at(&floors, SystemTime::now() + Duration::from_secs(3600))
        .unwrap();
    let mut tampered = codec.encode(&floors).unwrap().into_bytes();
    let mid = tampered.len() / 2;
    tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
    vec![
        ("garbage", "not a token!".to_owned()),
        ("empty-ish base64", "AAAA".to_owned()),
        ("other key", other_key.encode(&floors).unwrap()),
        ("unknown key id", unknown_key.encode(&floors).unwrap()),
        ("expired", expired),
        ("from the future", from_future),
        ("tampered", String::from_utf8(tampered).unwrap()),
        ("too long", "A".repeat(10_000)),
    ]
}

async fn check_bad_tokens(pin: bool, via_cookie: bool) {
    let codec = codec();
    let mut layer = RywLayer::new(codec.clone()).pin_leader_on_rejected_token(pin);
    if via_cookie {
        layer = layer.with_cookie(CookieConfig::default());
    }
    let stats = layer.stats();
    let app = app(layer);
    let bad = bad_tokens();
    for (i, (what, token)) in bad.iter().enumerate() {
        let (name, value) = if via_cookie {
            (COOKIE.as_str(), format!("ryw={token}"))
        } else {
            (HEADER, token.clone())
        };
        let (status, res, body) = read(&app, &[(name, &value)]).await;
        assert_eq!(status, StatusCode::OK, "{what}");
        // Treated as absent, pinned exactly once when asked for.
        assert_eq!(body, format!("None|{pin},false"), "{what}");
        assert_eq!(stats.rejected_tokens(), i as u64 + 1, "{what}");
        // The response replaces it with a valid (empty) token.
        assert_eq!(
            codec.decode(&response_token(&res)).unwrap().floors,
            Floors::default(),
            "{what}"
        );
        if via_cookie {
            assert_eq!(set_cookies(&res).len(), 1, "{what}");
        }
    }
    // A good token afterwards is not counted and not pinned.
    let good = codec.encode(&floors_at(42)).unwrap();
    let (_, _, body) = read(&app, &[(HEADER, &good)]).await;
    assert_eq!(body, format!("{}|false,false", seen_floor(42)));
    assert_eq!(stats.rejected_tokens(), bad.len() as u64);
    // Per reason: garbage, too long and the two-character base64 are malformed; another
    // key's token fails its signature; one from an unknown key id, one expired, one from the
    // future, and the tampered one.
    let by_reason: std::collections::HashMap<_, _> =
        stats.rejected_by_reason().into_iter().collect();
    assert_eq!(by_reason.values().sum::<u64>(), bad.len() as u64);
    for reason in ["unknown_key", "expired", "from_future"] {
        assert_eq!(by_reason[reason], 1, "{reason}: {by_reason:?}");
    }
    assert_eq!(by_reason["other"], 0, "{by_reason:?}");
}

#[tokio::test]
async fn bad_tokens_are_counted_and_treated_as_absent() {
    check_bad_tokens(false, false).await;
}

#[tokio::test]
async fn bad_tokens_pin_the_first_read_when_asked() {
    check_bad_tokens(true, false).await;
}

#[tokio::test]
async fn bad_cookie_tokens_are_counted_and_treated_as_absent() {
    check_bad_tokens(false, true).await;
    check_bad_tokens(true, true).await;
}

#[tokio::test]
async fn non_ascii_header_is_a_rejection_not_a_failure() {
    let layer = RywLayer::new(codec()).pin_leader_on_rejected_token(true);
    let app = app(layer.clone());
    let value = HeaderValue::from_bytes(b"tok\xE9n").unwrap();
    let (status, _, body) = send(
        &app,
        get_req("/read")
            .header(HEADER, value)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "None|true,false");
    assert_eq!(layer.rejected_tokens(), 1);
}

#[tokio::test]
async fn no_token_is_not_a_rejection() {
    let layer = RywLayer::new(codec())
        .with_cookie(CookieConfig::default())
        .pin_leader_on_rejected_token(true);
    let app = app(layer.clone());
    for headers in [&[][..], &[(HEADER, "")], &[(COOKIE.as_str(), "other=1")]] {
        let (_, _, body) = read(&app, headers).await;
        assert_eq!(body, "None|false,false");
    }
    assert_eq!(layer.rejected_tokens(), 0);
}

#[tokio::test]
async fn header_takes_precedence_over_cookie() {
    let codec = codec();
    let header_token = codec.encode(&floors_at(42)).unwrap();
    let cookie_token = codec.encode(&floors_at(99)).unwrap();
    let layer = RywLayer::new(codec).with_cookie(CookieConfig::default());
    let app = app(layer.clone());

    let (_, _, body) = read(
        &app,
        &[
            (HEADER, &header_token),
            (COOKIE.as_str(), &format!("ryw={cookie_token}")),
        ],
    )
    .await;
    assert_eq!(body, format!("{}|false,false", seen_floor(42)));

    // A header that is present but rejected still wins: the cookie is not consulted.
    let (status, _, body) = read(
        &app,
        &[
            (HEADER, "garbage"),
            (COOKIE.as_str(), &format!("ryw={cookie_token}")),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "None|false,false");
    assert_eq!(layer.rejected_tokens(), 1);
}

#[tokio::test]
async fn custom_header_name() {
    let codec = codec();
    let token = codec.encode(&floors_at(5)).unwrap();
    let app = app(RywLayer::new(codec).with_header(HeaderName::from_static("x-session-floors")));
    let (_, res, body) = read(&app, &[("x-session-floors", &token)]).await;
    assert_eq!(body, format!("{}|false,false", seen_floor(5)));
    assert!(res.headers().get("x-session-floors").is_some());
    assert!(res.headers().get(HEADER).is_none());
}

#[tokio::test]
async fn handler_status_is_kept_and_token_still_set() {
    let codec = codec();
    let app = Router::new()
        .route(
            "/teapot",
            get(|| async {
                RywContext::current()
                    .unwrap()
                    .raise(&cluster(), &user(), lsn(3))
                    .unwrap();
                (StatusCode::IM_A_TEAPOT, "short and stout")
            }),
        )
        .layer(RywLayer::new(codec.clone()));
    let (status, res, _) = send(&app, get_req("/teapot").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::IM_A_TEAPOT);
    assert_eq!(
        codec.decode(&response_token(&res)).unwrap().floors,
        floors_at(3)
    );
}

#[tokio::test]
async fn concurrent_requests_get_separate_contexts() {
    let codec = codec();
    let app = app(RywLayer::new(codec.clone()));
    let a = codec.encode(&floors_at(10)).unwrap();
    let b = codec.encode(&floors_at(20)).unwrap();
    let reqs = (0..16).map(|i| {
        let token = if i % 2 == 0 { a.clone() } else { b.clone() };
        let app = app.clone();
        tokio::spawn(async move {
            let (_, _, body) = read(&app, &[(HEADER, &token)]).await;
            (i, body)
        })
    });
    for h in reqs.collect::<Vec<_>>() {
        let (i, body) = h.await.unwrap();
        let want = if i % 2 == 0 { 10 } else { 20 };
        assert_eq!(body, format!("{}|false,false", seen_floor(want)));
    }
}
