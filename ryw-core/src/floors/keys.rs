//! Cluster identities, scope keys and the scope values they are made from.

use std::fmt;
use std::sync::Arc;

/// Identity of one replicated cluster (a leader and its replicas), as reported by its backend:
/// for example the Postgres system identifier (the same before and after a failover: positions
/// stay comparable across it). Positions are only meaningful
/// within one cluster: LSNs and GTIDs of unrelated clusters collide (every fresh MariaDB
/// cluster starts at `0-1-1`), so every floor is stored under the cluster it came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClusterId(Arc<str>);

impl ClusterId {
    /// A cluster identity from its text form.
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        Self(id.into())
    }

    /// The text form.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    #[doc(hidden)]
    /// The family of database it names, from its prefix.
    #[must_use]
    pub fn family(&self) -> Option<Family> {
        Family::ALL
            .into_iter()
            .find(|f| self.0.starts_with(f.prefix()))
    }
}

/// A family of databases whose positions compare with each other's: cluster ids start with
/// its prefix, so a floor of another cluster of the same family (a token of another
/// deployment) is recognised and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Family {
    /// PostgreSQL (`pg:`).
    Postgres,
    /// MySQL 8 and later (`mysql:`).
    Mysql,
    /// MariaDB (`mariadb:`).
    MariaDb,
}

impl Family {
    /// Every family.
    #[doc(hidden)]
    pub const ALL: [Self; 3] = [Self::Postgres, Self::Mysql, Self::MariaDb];

    /// The prefix of its cluster ids.
    #[must_use]
    pub const fn prefix(self) -> &'static str {
        match self {
            Self::Postgres => "pg:",
            Self::Mysql => "mysql:",
            Self::MariaDb => "mariadb:",
        }
    }

    /// The id of this family's cluster called `name`.
    #[must_use]
    pub fn cluster(self, name: impl fmt::Display) -> ClusterId {
        ClusterId::new(format!("{}{name}", self.prefix()))
    }
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The key a floor is kept under: one value of a scope, such as `user_id:42`.
///
/// ```
/// use ryw_core::ScopeKey;
/// assert_eq!(ScopeKey::of("user_id", 42).as_str(), "user_id:42");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopeKey(Arc<str>);

impl ScopeKey {
    /// A scope key from its full text.
    pub fn new(key: impl Into<Arc<str>>) -> Self {
        Self(key.into())
    }

    /// The key `name:value`.
    pub fn of(name: &str, value: impl fmt::Display) -> Self {
        Self(format!("{name}:{value}").into())
    }

    /// The key `name:value` for any [`ScopeValue`] — the form the repository macro uses.
    ///
    /// ```
    /// use ryw_core::ScopeKey;
    /// assert_eq!(ScopeKey::from_value("user_id", &42_i64), ScopeKey::of("user_id", 42));
    /// assert_eq!(ScopeKey::from_value("email", "a@b.c").as_str(), "email:a@b.c");
    /// ```
    pub fn from_value<V: ScopeValue + ?Sized>(name: &str, value: &V) -> Self {
        let mut key = String::with_capacity(name.len() + 24);
        key.push_str(name);
        key.push(':');
        value.write_scope_value(&mut key);
        Self(key.into())
    }

    /// The text form.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ScopeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A value that identifies one scope, such as a user id: integers, strings, `uuid::Uuid`
/// (feature `uuid`), references to those, and your own newtypes.
///
/// ```
/// use ryw_core::{ScopeKey, ScopeValue};
/// struct AccountId(u64);
/// impl ScopeValue for AccountId {
///     fn write_scope_value(&self, out: &mut String) {
///         self.0.write_scope_value(out);
///     }
/// }
/// assert_eq!(ScopeKey::from_value("account_id", &AccountId(9)).as_str(), "account_id:9");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used as a read-your-writes scope value",
    label = "this parameter is the scope",
    note = "scope values are integers, strings, `uuid::Uuid` (feature `uuid`) or types implementing `ryw::ScopeValue`; implement it for a newtype with `fn write_scope_value(&self, out: &mut String)`"
)]
pub trait ScopeValue {
    /// Appends the value's key text to `out`.
    fn write_scope_value(&self, out: &mut String);
}

macro_rules! scope_value_display {
    ($($t:ty),*) => {$(
        impl ScopeValue for $t {
            fn write_scope_value(&self, out: &mut String) {
                use std::fmt::Write as _;
                // Writing to a String cannot fail.
                let _ = write!(out, "{self}");
            }
        }
    )*};
}

scope_value_display!(
    i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, char, bool
);

impl ScopeValue for str {
    fn write_scope_value(&self, out: &mut String) {
        out.push_str(self);
    }
}

impl ScopeValue for String {
    fn write_scope_value(&self, out: &mut String) {
        out.push_str(self);
    }
}

impl<T: ScopeValue + ?Sized> ScopeValue for &T {
    fn write_scope_value(&self, out: &mut String) {
        (**self).write_scope_value(out);
    }
}

impl<T: ScopeValue + ?Sized> ScopeValue for Box<T> {
    fn write_scope_value(&self, out: &mut String) {
        (**self).write_scope_value(out);
    }
}

impl<T: ScopeValue + ?Sized> ScopeValue for Arc<T> {
    fn write_scope_value(&self, out: &mut String) {
        (**self).write_scope_value(out);
    }
}

#[cfg(feature = "uuid")]
impl ScopeValue for uuid::Uuid {
    fn write_scope_value(&self, out: &mut String) {
        out.push_str(
            self.hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer()),
        );
    }
}
