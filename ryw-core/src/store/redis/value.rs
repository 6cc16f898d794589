//! Stored values: a position's text form behind a one-letter kind tag.

use std::fmt;

use super::STORE;
use crate::RywError;
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

pub(super) fn encode(position: &Position) -> String {
    format!("{}:{position}", tag_of(position.kind()))
}

/// The kind and position text of a stored value.
pub(super) fn split(key: &str, value: &str) -> Result<(PositionKind, String), RywError> {
    value
        .split_once(':')
        .and_then(|(tag, text)| Some((kind_of(tag)?, text.to_owned())))
        .ok_or_else(|| {
            let shown: String = value.chars().take(60).collect();
            store_err(format!(
                "key {key:?} holds {shown:?}, not a tagged position"
            ))
        })
}

pub(super) fn decode(key: &str, value: &str) -> Result<Position, RywError> {
    let (kind, text) = split(key, value)?;
    Position::parse(kind, &text)
        .map_err(|e| store_err(format!("key {key:?} holds an unreadable floor: {e}")))
}
