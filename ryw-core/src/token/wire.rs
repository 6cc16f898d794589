//! The token payload as it travels: postcard-encoded structs, converted to and from floors.

use serde::{Deserialize, Serialize};

use crate::RywError;
use crate::floors::{ClusterId, Floors, ScopeKey};
use crate::position::{GtidInterval, GtidList, GtidSet, Lsn, MariaGtid, Position, Uuid};

#[derive(Serialize, Deserialize)]
pub(super) struct WireToken {
    pub(super) issued_at: u64,
    clusters: Vec<WireCluster>,
}

#[derive(Serialize, Deserialize)]
struct WireCluster {
    id: String,
    session: Option<WirePosition>,
    scopes: Vec<(String, WirePosition)>,
}

/// `(uuid, tag, [(start, end)])` groups of a MySQL GTID set.
type WireGtidSet = Vec<([u8; 16], String, Vec<(u64, u64)>)>;

#[derive(Serialize, Deserialize)]
enum WirePosition {
    Lsn(u64),
    GtidSet(WireGtidSet),
    GtidList(Vec<(u32, u32, u64)>),
}

impl WirePosition {
    fn from_position(p: &Position) -> Self {
        match p {
            Position::Lsn(l) => Self::Lsn(l.as_u64()),
            Position::GtidSet(s) => Self::GtidSet(
                s.parts()
                    .map(|(u, t, ivs)| {
                        (
                            u.0,
                            t.to_owned(),
                            ivs.iter().map(|i| (i.start, i.end)).collect(),
                        )
                    })
                    .collect(),
            ),
            Position::GtidList(l) => Self::GtidList(
                l.gtids()
                    .iter()
                    .map(|g| (g.domain, g.server, g.seq))
                    .collect(),
            ),
        }
    }

    fn into_position(self) -> Result<Position, RywError> {
        Ok(match self {
            Self::Lsn(v) => Position::Lsn(Lsn::new(v)),
            Self::GtidSet(parts) => Position::GtidSet(
                GtidSet::from_parts(parts.into_iter().map(|(u, t, ivs)| {
                    let ivs = ivs
                        .into_iter()
                        .map(|(start, end)| GtidInterval { start, end })
                        .collect();
                    (Uuid(u), t, ivs)
                }))
                .map_err(|e| RywError::TokenMalformed {
                    reason: e.to_string(),
                })?,
            ),
            Self::GtidList(g) => Position::GtidList(GtidList::from_gtids(g.into_iter().map(
                |(domain, server, seq)| MariaGtid {
                    domain,
                    server,
                    seq,
                },
            ))),
        })
    }
}

impl WireToken {
    pub(super) fn from_floors(floors: &Floors, issued_at: u64) -> Self {
        Self {
            issued_at,
            clusters: floors
                .clusters()
                .map(|(id, f)| WireCluster {
                    id: id.as_str().to_owned(),
                    session: f.session().map(WirePosition::from_position),
                    scopes: f
                        .scopes()
                        .map(|(s, p)| (s.as_str().to_owned(), WirePosition::from_position(p)))
                        .collect(),
                })
                .collect(),
        }
    }

    pub(super) fn into_floors(self) -> Result<Floors, RywError> {
        let mut floors = Floors::default();
        let conflict = |e: RywError| RywError::TokenMalformed {
            reason: e.to_string(),
        };
        for c in self.clusters {
            let cluster = ClusterId::new(c.id);
            if let Some(s) = c.session {
                floors
                    .raise_session(&cluster, s.into_position()?)
                    .map_err(conflict)?;
            }
            for (scope, p) in c.scopes {
                floors
                    .raise(&cluster, &ScopeKey::new(scope), p.into_position()?)
                    .map_err(conflict)?;
            }
        }
        Ok(floors)
    }
}
