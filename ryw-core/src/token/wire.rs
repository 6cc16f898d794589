//! The token payload as it travels: postcard-encoded structs, converted to and from floors.
//!
//! Version 2 (written) carries, per floor, its age relative to the issue time and the leader
//! epoch it was captured on, plus the scopes written without a known position. Version 1
//! (still read, so tokens issued before an upgrade keep working) carries bare positions; its
//! floors are taken as raised at the token's issue time, on no known epoch.

use serde::{Deserialize, Serialize};

use crate::RywError;
use crate::floors::{ClusterId, Floor, Floors, ScopeKey};
use crate::position::{GtidInterval, GtidList, GtidSet, Lsn, MariaGtid, Position, Uuid};

/// A version 1 payload: issue time in seconds, bare positions.
#[derive(Serialize, Deserialize)]
pub(super) struct WireTokenV1 {
    pub(super) issued_at: u64,
    clusters: Vec<WireClusterV1>,
}

#[derive(Serialize, Deserialize)]
struct WireClusterV1 {
    id: String,
    session: Option<WirePosition>,
    scopes: Vec<(String, WirePosition)>,
}

/// A version 2 payload: issue time in milliseconds, floors with age and epoch, unfenced marks.
#[derive(Serialize, Deserialize)]
pub(super) struct WireTokenV2 {
    pub(super) issued_at_ms: u64,
    clusters: Vec<WireClusterV2>,
}

#[derive(Serialize, Deserialize)]
struct WireClusterV2 {
    id: String,
    session: Option<WireFloor>,
    scopes: Vec<(String, WireFloor)>,
    /// Age (ms before the issue time) of the folded scopes' latest unfenced write.
    session_unfenced: Option<u64>,
    /// Per scope, the age of its latest unfenced write.
    unfenced: Vec<(String, u64)>,
}

#[derive(Serialize, Deserialize)]
struct WireFloor {
    position: WirePosition,
    /// Milliseconds between the floor's raise and the token's issue time.
    age_ms: u64,
    epoch: Option<u32>,
}

impl WireFloor {
    fn from_floor(f: &Floor, issued_at_ms: u64) -> Self {
        Self {
            position: WirePosition::from_position(f.position()),
            age_ms: issued_at_ms.saturating_sub(f.raised_ms()),
            epoch: f.epoch(),
        }
    }

    fn into_floor(self, issued_at_ms: u64) -> Result<Floor, RywError> {
        Ok(Floor::from_parts(
            self.position.into_position()?,
            issued_at_ms.saturating_sub(self.age_ms),
            self.epoch,
        ))
    }
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

fn conflict(e: RywError) -> RywError {
    RywError::TokenMalformed {
        reason: e.to_string(),
    }
}

impl WireTokenV1 {
    pub(super) fn into_floors(self) -> Result<Floors, RywError> {
        let raised_ms = self.issued_at.saturating_mul(1000);
        let mut floors = Floors::default();
        for c in self.clusters {
            let cluster = ClusterId::new(c.id);
            if let Some(s) = c.session {
                let floor = Floor::from_parts(s.into_position()?, raised_ms, None);
                floors
                    .raise_session_floor(&cluster, floor)
                    .map_err(conflict)?;
            }
            for (scope, p) in c.scopes {
                let floor = Floor::from_parts(p.into_position()?, raised_ms, None);
                floors
                    .raise_floor(&cluster, &ScopeKey::new(scope), floor)
                    .map_err(conflict)?;
            }
        }
        Ok(floors)
    }
}

impl WireTokenV2 {
    pub(super) fn from_floors(floors: &Floors, issued_at_ms: u64) -> Self {
        let age =
            |at: std::time::SystemTime| issued_at_ms.saturating_sub(crate::floors::unix_ms(at));
        Self {
            issued_at_ms,
            clusters: floors
                .clusters()
                .map(|(id, f)| WireClusterV2 {
                    id: id.as_str().to_owned(),
                    session: f
                        .session_floor()
                        .map(|s| WireFloor::from_floor(s, issued_at_ms)),
                    scopes: f
                        .scope_floors()
                        .map(|(s, fl)| {
                            (
                                s.as_str().to_owned(),
                                WireFloor::from_floor(fl, issued_at_ms),
                            )
                        })
                        .collect(),
                    session_unfenced: f.session_unfenced().map(age),
                    unfenced: f
                        .unfenced()
                        .map(|(s, at)| (s.as_str().to_owned(), age(at)))
                        .collect(),
                })
                .collect(),
        }
    }

    pub(super) fn into_floors(self) -> Result<Floors, RywError> {
        let issued = self.issued_at_ms;
        let mut floors = Floors::default();
        for c in self.clusters {
            let cluster = ClusterId::new(c.id);
            if let Some(s) = c.session {
                floors
                    .raise_session_floor(&cluster, s.into_floor(issued)?)
                    .map_err(conflict)?;
            }
            for (scope, f) in c.scopes {
                floors
                    .raise_floor(&cluster, &ScopeKey::new(scope), f.into_floor(issued)?)
                    .map_err(conflict)?;
            }
            let target = floors.cluster_mut(&cluster);
            for (scope, age) in c.unfenced {
                target.insert_unfenced(ScopeKey::new(scope), issued.saturating_sub(age));
            }
            if let Some(age) = c.session_unfenced {
                target.set_session_unfenced(Some(issued.saturating_sub(age)));
            }
        }
        Ok(floors)
    }
}
