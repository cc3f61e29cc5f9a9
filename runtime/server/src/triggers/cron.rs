//! Schedule arithmetic: a trigger's cron expression in its time zone, as UTC instants.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// A parsed `schedule` trigger: five fields (seconds 0), or six with seconds first, evaluated
/// in `timezone` (so `0 3 * * *` in `Europe/Paris` is 03:00 Paris time, summer and winter).
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    timezone: Tz,
}

impl Schedule {
    /// The same rules the flow validation applies; `timezone` None is UTC.
    pub fn parse(cron: &str, timezone: Option<&str>) -> Result<Schedule, String> {
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(cron)
            .map_err(|e| format!("invalid cron expression `{cron}`: {e}"))?;
        let timezone = match timezone {
            Some(name) => Tz::from_str(name).map_err(|_| format!("unknown time zone `{name}`"))?,
            None => Tz::UTC,
        };
        Ok(Schedule { cron, timezone })
    }

    /// The first fire time strictly after `after`; None when the expression never fires again.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&self.timezone);
        self.cron.find_next_occurrence(&local, false).ok().map(|t| t.with_timezone(&Utc))
    }

    /// The newest fire times in `(after, until]`, at most `limit` of them, oldest first, and
    /// whether older ones were left out. Walks back from `until`, so the cost is `limit` steps
    /// however long the interval (a per-second schedule after weeks down).
    pub fn newest_between(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> (Vec<DateTime<Utc>>, bool) {
        let mut newest = Vec::new();
        let mut cursor = until.with_timezone(&self.timezone);
        let mut inclusive = true;
        while let Ok(found) = self.cron.find_previous_occurrence(&cursor, inclusive) {
            if found.with_timezone(&Utc) <= after {
                break;
            }
            if newest.len() == limit {
                newest.reverse();
                return (newest, true);
            }
            newest.push(found.with_timezone(&Utc));
            cursor = found;
            inclusive = false;
        }
        newest.reverse();
        (newest, false)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn five_fields_fire_on_the_minute_in_utc() {
        let s = Schedule::parse("*/15 * * * *", None).unwrap();
        assert_eq!(s.next_after(utc("2026-03-01T10:07:31Z")), Some(utc("2026-03-01T10:15:00Z")));
        // Strictly after: a time that is itself a fire time gives the next one.
        assert_eq!(s.next_after(utc("2026-03-01T10:15:00Z")), Some(utc("2026-03-01T10:30:00Z")));
    }

    #[test]
    fn six_fields_have_seconds_first() {
        let s = Schedule::parse("*/10 * * * * *", None).unwrap();
        assert_eq!(s.next_after(utc("2026-03-01T10:07:31.250Z")), Some(utc("2026-03-01T10:07:40Z")));
        let s = Schedule::parse("30 0 3 * * *", None).unwrap();
        assert_eq!(s.next_after(utc("2026-03-01T10:00:00Z")), Some(utc("2026-03-02T03:00:30Z")));
    }

    #[test]
    fn the_time_zone_moves_the_instant_and_follows_daylight_saving() {
        let s = Schedule::parse("0 3 * * *", Some("Europe/Paris")).unwrap();
        // Winter: Paris is UTC+1.
        assert_eq!(s.next_after(utc("2026-01-10T12:00:00Z")), Some(utc("2026-01-11T02:00:00Z")));
        // Summer: UTC+2.
        assert_eq!(s.next_after(utc("2026-07-10T12:00:00Z")), Some(utc("2026-07-11T01:00:00Z")));
        let ny = Schedule::parse("0 9 * * 1-5", Some("America/New_York")).unwrap();
        // Friday 2026-03-06 after 9:00 EST -> Monday 2026-03-09 09:00 EDT (DST began on the 8th).
        assert_eq!(ny.next_after(utc("2026-03-06T15:00:00Z")), Some(utc("2026-03-09T13:00:00Z")));
    }

    #[test]
    fn a_skipped_local_time_fires_once_on_the_spring_forward_day() {
        // 02:30 does not exist in Paris on 2026-03-29 (02:00 -> 03:00).
        let s = Schedule::parse("30 2 * * *", Some("Europe/Paris")).unwrap();
        // It runs at the first instant after the gap, 03:00 local (01:00 UTC), then as usual.
        let next = s.next_after(utc("2026-03-28T12:00:00Z")).unwrap();
        assert_eq!(next, utc("2026-03-29T01:00:00Z"));
        assert_eq!(s.next_after(next).unwrap(), utc("2026-03-30T00:30:00Z"));
    }

    #[test]
    fn newest_between_walks_back_from_the_end() {
        let s = Schedule::parse("0 * * * *", None).unwrap();
        let after = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        let until = Utc.with_ymd_and_hms(2026, 5, 1, 5, 0, 0).unwrap();
        let hour = |h| Utc.with_ymd_and_hms(2026, 5, 1, h, 0, 0).unwrap();
        // `after` is excluded, `until` included.
        assert_eq!(s.newest_between(after, until, 100), ((1..=5).map(hour).collect(), false));
        assert_eq!(s.newest_between(after, until, 5), ((1..=5).map(hour).collect(), false));
        assert_eq!(s.newest_between(after, until, 2), (vec![hour(4), hour(5)], true));
        assert_eq!(s.newest_between(after, until + chrono::Duration::minutes(59), 1), (vec![hour(5)], true));
        assert_eq!(s.newest_between(until, until, 10), (vec![], false));
        // A per-second schedule over a year costs `limit` steps.
        let every_second = Schedule::parse("* * * * * *", None).unwrap();
        let (last, more) = every_second.newest_between(after - chrono::Duration::days(365), until, 3);
        assert_eq!(
            (last, more),
            (vec![until - chrono::Duration::seconds(2), until - chrono::Duration::seconds(1), until], true)
        );
    }

    #[test]
    fn bad_expressions_and_zones_are_refused() {
        assert!(
            Schedule::parse("61 * * * *", None)
                .unwrap_err()
                .starts_with("invalid cron expression `61 * * * *`")
        );
        assert_eq!(
            Schedule::parse("* * * * *", Some("Mars/Base")).unwrap_err(),
            "unknown time zone `Mars/Base`"
        );
    }
}
