//! Stored values: a position's text form behind a one-letter kind tag, and the epoch it was
//! raised on after an `@` (`L:0/50013C8@2`). Values without an epoch (written before
//! epochs were stored, or by a backend without them) read as epoch `None`.

use std::fmt;

use super::STORE;
use crate::RywError;
use crate::floors::EpochHistory;
use crate::position::{Position, PositionKind};

pub(super) fn store_err(reason: impl fmt::Display) -> RywError {
    RywError::Store {
        store: STORE,
        reason: reason.to_string(),
    }
}

pub(super) fn tag_of(kind: PositionKind) -> &'static str {
    match kind {
        PositionKind::Lsn => "L",
        PositionKind::GtidSet => "G",
        PositionKind::GtidList => "M",
    }
}

fn kind_of(tag: &str) -> Option<PositionKind> {
    match tag {
        "L" => Some(PositionKind::Lsn),
        "G" => Some(PositionKind::GtidSet),
        "M" => Some(PositionKind::GtidList),
        _ => None,
    }
}

pub(super) fn encode(position: &Position, epoch: Option<u32>) -> String {
    match epoch {
        Some(e) => format!("{}:{position}@{e}", tag_of(position.kind())),
        None => format!("{}:{position}", tag_of(position.kind())),
    }
}

/// The kind, position text and epoch of a stored value.
pub(super) fn split(
    key: &str,
    value: &str,
) -> Result<(PositionKind, String, Option<u32>), RywError> {
    let bad = || {
        let shown: String = value.chars().take(60).collect();
        store_err(format!(
            "key {key:?} holds {shown:?}, not a tagged position"
        ))
    };
    let (tag, rest) = value.split_once(':').ok_or_else(bad)?;
    let kind = kind_of(tag).ok_or_else(bad)?;
    match rest.rsplit_once('@') {
        Some((text, epoch)) => {
            let epoch = epoch.parse::<u32>().map_err(|_| bad())?;
            Ok((kind, text.to_owned(), Some(epoch)))
        }
        None => Ok((kind, rest.to_owned(), None)),
    }
}

/// The position and epoch of a stored value.
pub(super) fn decode(key: &str, value: &str) -> Result<(Position, Option<u32>), RywError> {
    let (kind, text, epoch) = split(key, value)?;
    let position = Position::parse(kind, &text)
        .map_err(|e| store_err(format!("key {key:?} holds an unreadable floor: {e}")))?;
    Ok((position, epoch))
}

/// The ends of the epochs before `history`'s current one, as the merge script reads them:
/// `epoch=position` pairs joined by `,` (empty without a history).
pub(super) fn ends_arg(history: Option<&EpochHistory>) -> String {
    history.map_or_else(String::new, |h| {
        h.ends()
            .map(|(e, p)| format!("{e}={p}"))
            .collect::<Vec<_>>()
            .join(",")
    })
}

/// The epoch as the merge script reads it (empty when none).
pub(super) fn epoch_arg(epoch: Option<u32>) -> String {
    epoch.map_or_else(String::new, |e| e.to_string())
}
