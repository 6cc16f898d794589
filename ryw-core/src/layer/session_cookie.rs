//! The session cookie: its name, attributes and lifetime.

use std::time::Duration;

use cookie::{Cookie, SameSite};

use super::DEFAULT_COOKIE;

/// How long the session cookie lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MaxAge {
    /// The codec's [`TokenCodec::max_age`](crate::TokenCodec::max_age): the cookie goes when the token would expire.
    Codec,
    /// A session cookie: no `Max-Age`.
    Session,
    /// This many seconds.
    Fixed(Duration),
}

/// The session cookie: its name and attributes. Setting it is opt-in
/// ([`RywLayer::with_cookie`](super::RywLayer::with_cookie)); when enabled, the layer also reads the token from it.
///
/// Defaults: name `ryw`, `HttpOnly`, `SameSite=Lax`, `Secure`, `Path=/`, and `Max-Age` equal to
/// the codec's [`TokenCodec::max_age`](crate::TokenCodec::max_age).
///
/// Browsers drop `Secure` cookies set over plain HTTP (except on `localhost`): turn
/// [`secure`](Self::secure) off only for local development. `SameSite=None` needs `Secure`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieConfig {
    pub(super) name: String,
    http_only: bool,
    same_site: SameSite,
    secure: bool,
    max_age: MaxAge,
    path: String,
}

impl Default for CookieConfig {
    fn default() -> Self {
        Self {
            name: DEFAULT_COOKIE.to_owned(),
            http_only: true,
            same_site: SameSite::Lax,
            secure: true,
            max_age: MaxAge::Codec,
            path: "/".to_owned(),
        }
    }
}

impl CookieConfig {
    /// The default configuration (see the type's documentation).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The cookie's name (default `ryw`).
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The `HttpOnly` attribute (default on: scripts cannot read the token).
    #[must_use]
    pub fn http_only(mut self, on: bool) -> Self {
        self.http_only = on;
        self
    }

    /// The `SameSite` attribute (default [`SameSite::Lax`]).
    #[must_use]
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// The `Secure` attribute (default on: sent over HTTPS only).
    #[must_use]
    pub fn secure(mut self, on: bool) -> Self {
        self.secure = on;
        self
    }

    /// `Max-Age`, in whole seconds (default: the codec's [`TokenCodec::max_age`](crate::TokenCodec::max_age)).
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = MaxAge::Fixed(max_age);
        self
    }

    /// No `Max-Age`: a session cookie, dropped when the browser closes.
    #[must_use]
    pub fn session_cookie(mut self) -> Self {
        self.max_age = MaxAge::Session;
        self
    }

    /// The `Path` attribute (default `/`).
    #[must_use]
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// The cookie's name.
    #[must_use]
    pub fn cookie_name(&self) -> &str {
        &self.name
    }

    pub(super) fn set_cookie(&self, token: &str, codec_max_age: Duration) -> String {
        let mut builder = Cookie::build((self.name.as_str(), token))
            .http_only(self.http_only)
            .same_site(self.same_site)
            .secure(self.secure)
            .path(self.path.as_str());
        let max_age = match self.max_age {
            MaxAge::Codec => Some(codec_max_age),
            MaxAge::Session => None,
            MaxAge::Fixed(d) => Some(d),
        };
        if let Some(d) = max_age {
            let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            builder = builder.max_age(cookie::time::Duration::seconds(secs));
        }
        builder.build().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_attributes() {
        let c = CookieConfig::default().set_cookie("tok", Duration::from_secs(600));
        let parsed = Cookie::parse(c.as_str()).unwrap();
        assert_eq!(parsed.name(), "ryw");
        assert_eq!(parsed.value(), "tok");
        assert_eq!(parsed.http_only(), Some(true));
        assert_eq!(parsed.secure(), Some(true));
        assert_eq!(parsed.same_site(), Some(SameSite::Lax));
        assert_eq!(parsed.path(), Some("/"));
        assert_eq!(parsed.max_age(), Some(cookie::time::Duration::seconds(600)));
        let session = CookieConfig::default()
            .session_cookie()
            .set_cookie("tok", Duration::from_secs(600));
        assert!(!session.contains("Max-Age"), "{session}");
    }
}
