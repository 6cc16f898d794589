//! What a new leader can never have of a floor (MySQL and MariaDB, whose GTIDs name the
//! server that wrote them): after a lossy failover, the GTIDs written on the old leader that
//! the new one neither executed nor received.

use super::{GtidInterval, GtidList, GtidSet, MariaGtid, Position, Uuid};

/// A leader as far as a floor's reachability goes: the server it is and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderHolds {
    /// The server's identity as its GTIDs name it: MySQL `@@server_uuid`, MariaDB
    /// `@@server_id`.
    pub server: String,
    /// Everything it has executed or received (MySQL: `gtid_executed` and the received
    /// sets of its replication channels; MariaDB: `gtid_current_pos`).
    pub holds: Position,
}

impl LeaderHolds {
    /// `floor` without what this leader can never have: GTIDs that name another server and
    /// that the leader does not hold. `None` when nothing of it is unreachable (GTIDs naming
    /// the leader itself are its own, maybe newer than `holds`, and always reachable).
    ///
    /// ```
    /// use ryw_core::position::{LeaderHolds, Position};
    /// let list = |s: &str| Position::GtidList(s.parse().unwrap());
    /// // MariaDB: server 2 leads since a failover and holds up to 0-1-100 of server 1.
    /// let leader = LeaderHolds { server: "2".into(), holds: list("0-1-100") };
    /// assert_eq!(leader.unreachable(&list("0-1-105")), Some(list("0-1-100")));
    /// assert_eq!(leader.unreachable(&list("0-1-90")), None);
    /// assert_eq!(leader.unreachable(&list("0-2-130")), None); // the leader's own write
    /// ```
    #[must_use]
    pub fn unreachable(&self, floor: &Position) -> Option<Position> {
        if self.holds.covers(floor).unwrap_or(true) {
            return None;
        }
        let kept = match (floor, &self.holds) {
            (Position::GtidSet(f), Position::GtidSet(h)) => {
                Position::GtidSet(reachable_set(f, h, &self.server)?)
            }
            (Position::GtidList(f), Position::GtidList(h)) => {
                Position::GtidList(reachable_list(f, h, &self.server))
            }
            _ => return None,
        };
        (kept != *floor).then_some(kept)
    }
}

fn reachable_set(floor: &GtidSet, holds: &GtidSet, leader: &str) -> Option<GtidSet> {
    let leader: Option<Uuid> = leader.parse().ok();
    let held: Vec<_> = holds.parts().collect();
    let parts = floor.parts().map(|(uuid, tag, ivs)| {
        let kept = if Some(*uuid) == leader {
            ivs.to_vec()
        } else {
            let theirs = held
                .iter()
                .find(|(u, t, _)| *u == uuid && *t == tag)
                .map_or(&[][..], |(_, _, h)| *h);
            intersect(ivs, theirs)
        };
        (*uuid, tag.to_owned(), kept)
    });
    GtidSet::from_parts(
        parts
            .filter(|(_, _, ivs)| !ivs.is_empty())
            .collect::<Vec<_>>(),
    )
    .ok()
}

/// The intersection of two sorted, coalesced interval lists.
fn intersect(a: &[GtidInterval], b: &[GtidInterval]) -> Vec<GtidInterval> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let (start, end) = (a[i].start.max(b[j].start), a[i].end.min(b[j].end));
        if start <= end {
            out.push(GtidInterval { start, end });
        }
        if a[i].end < b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

fn reachable_list(floor: &GtidList, holds: &GtidList, leader: &str) -> GtidList {
    let leader: Option<u32> = leader.parse().ok();
    let kept = floor.gtids().iter().filter_map(|g| {
        let held = holds.gtids().iter().find(|h| h.domain == g.domain);
        if Some(g.server) == leader || held.is_some_and(|h| h.seq >= g.seq) {
            return Some(*g);
        }
        // Past what the leader holds in this domain: lowered to that, or dropped.
        held.copied()
    });
    GtidList::from_gtids(kept.collect::<Vec<MariaGtid>>())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const A: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
    const B: &str = "4e11fa47-71ca-11e1-9e33-c80aa9429562";

    fn set(s: &str) -> Position {
        Position::GtidSet(s.parse().unwrap())
    }

    fn list(s: &str) -> Position {
        Position::GtidList(s.parse().unwrap())
    }

    #[test]
    fn mysql_gtids_of_the_old_leader_the_new_one_lacks_are_unreachable() {
        // B leads since a failover; it holds A:1-100 and its own B:1-3.
        let leader = LeaderHolds {
            server: B.into(),
            holds: set(&format!("{A}:1-100,{B}:1-3")),
        };
        // A floor from the old leader past what B holds.
        let floor = set(&format!("{A}:1-105,{B}:1-3"));
        assert_eq!(
            leader.unreachable(&floor),
            Some(set(&format!("{A}:1-100,{B}:1-3")))
        );
        // Inside what B holds, or B's own newer writes: nothing unreachable.
        assert_eq!(leader.unreachable(&set(&format!("{A}:1-90"))), None);
        assert_eq!(
            leader.unreachable(&set(&format!("{A}:1-100,{B}:1-9"))),
            None
        );
        // Both at once: the old leader's part is cut, the new leader's kept.
        assert_eq!(
            leader.unreachable(&set(&format!("{A}:1-105,{B}:1-9"))),
            Some(set(&format!("{A}:1-100,{B}:1-9")))
        );
        // Holes count: A:102 alone is unreachable; a server the leader never saw is too.
        let c = "5e11fa47-71ca-11e1-9e33-c80aa9429562";
        assert_eq!(
            leader.unreachable(&set(&format!("{A}:50:102,{c}:1-2"))),
            Some(set(&format!("{A}:50")))
        );
    }

    #[test]
    fn mariadb_sequences_past_the_new_leader_in_another_servers_name_are_unreachable() {
        let leader = LeaderHolds {
            server: "2".into(),
            holds: list("0-1-100,1-3-7"),
        };
        assert_eq!(leader.unreachable(&list("0-1-105")), Some(list("0-1-100")));
        assert_eq!(leader.unreachable(&list("0-1-100,1-3-7")), None);
        assert_eq!(leader.unreachable(&list("0-2-101")), None);
        // A domain the leader never saw, written by another server: dropped.
        assert_eq!(
            leader.unreachable(&list("0-1-50,5-1-3")),
            Some(list("0-1-50"))
        );
        // LSNs have no server names: never judged here.
        let lsn = Position::Lsn(crate::position::Lsn::new(5));
        let pg = LeaderHolds {
            server: "x".into(),
            holds: Position::Lsn(crate::position::Lsn::new(1)),
        };
        assert_eq!(pg.unreachable(&lsn), None);
    }

    /// Why a MariaDB floor cannot be judged once and the judgement kept: a lost GTID of the
    /// old leader outranks the new leader's later writes in a merged list, so the floor stays
    /// the same while writes merge into it, and only a view read after them keeps them.
    #[test]
    fn a_lost_gtid_masks_the_new_leaders_later_writes_in_a_merged_list() {
        let lost = list("0-1-6454");
        let written_later = list("0-2-6443");
        assert_eq!(lost.merge(&written_later).unwrap(), lost);
        let then = LeaderHolds {
            server: "2".into(),
            holds: list("0-2-6384"),
        };
        let now = LeaderHolds {
            server: "2".into(),
            holds: list("0-2-6443"),
        };
        assert_eq!(then.unreachable(&lost), Some(list("0-2-6384")));
        assert_eq!(now.unreachable(&lost), Some(written_later.clone()));
        assert!(!list("0-2-6384").covers(&written_later).unwrap());
    }
}
