//! Postgres timelines: the leader's epoch, and the history file that says where each
//! ancestor timeline ended (the switch point of a promotion).

use ryw_core::EpochHistory;
use ryw_core::position::Lsn;

use crate::Error;

/// The timeline of a WAL file name (`000000020000000000000003` → 2): its first 8 hex digits.
pub(super) fn timeline_of_walfile(name: &str) -> Result<u32, Error> {
    name.get(..8)
        .and_then(|t| u32::from_str_radix(t, 16).ok())
        .filter(|t| *t > 0)
        .ok_or_else(|| Error::Unexpected {
            node: "leader".into(),
            what: "WAL file name",
            detail: format!("{name:?} does not start with a timeline"),
        })
}

/// The history file of `timeline` under `pg_wal/`.
pub(super) fn history_file(timeline: u32) -> String {
    format!("pg_wal/{timeline:08X}.history")
}

/// Parses a timeline history file (`parent-timeline <tab> switch-LSN <tab> reason` per line,
/// `#` comments and blank lines allowed) into the history of `current`.
///
/// ```text
/// 1<TAB>0/3000060<TAB>no recovery target specified
/// 2<TAB>0/5000110<TAB>no recovery target specified
/// ```
pub(super) fn parse_history(current: u32, text: &str) -> Result<EpochHistory, Error> {
    let mut history = EpochHistory::new(current);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let parsed = (|| {
            let parent: u32 = fields.next()?.parse().ok()?;
            let end: Lsn = fields.next()?.parse().ok()?;
            Some((parent, end))
        })();
        let Some((parent, end)) = parsed else {
            return Err(Error::Unexpected {
                node: "leader".into(),
                what: "timeline history",
                detail: format!("unreadable line {line:?}"),
            });
        };
        history = history.with_end(parent, end.into());
    }
    Ok(history)
}

#[cfg(test)]
mod tests {
    use ryw_core::Position;

    use super::*;

    #[test]
    fn walfile_names_give_their_timeline() {
        assert_eq!(
            timeline_of_walfile("000000020000000000000003").ok(),
            Some(2)
        );
        assert_eq!(
            timeline_of_walfile("0000001A0000000000000003").ok(),
            Some(26)
        );
        assert!(timeline_of_walfile("zz").is_err());
        assert!(timeline_of_walfile("000000000000000000000003").is_err());
        assert_eq!(history_file(26), "pg_wal/0000001A.history");
    }

    #[test]
    fn history_files_give_each_ancestor_its_end() {
        let text =
            "1\t0/3000060\tno recovery target specified\n\n# note\n2\t0/5000110\tbefore 2026\n";
        let h = parse_history(3, text).expect("parses");
        assert_eq!(h.current(), 3);
        assert_eq!(h.end_of(1), Some(&Position::Lsn(Lsn::new(0x300_0060))));
        assert_eq!(h.end_of(2), Some(&Position::Lsn(Lsn::new(0x500_0110))));
        assert_eq!(h.end_of(3), None);
        assert!(parse_history(3, "one\t0/1\tx").is_err());
        assert!(parse_history(3, "1\tnot-an-lsn\tx").is_err());
    }
}
