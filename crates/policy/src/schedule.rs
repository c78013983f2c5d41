//! Time windows for profiles ("this feed applies 21:00–07:00 on school
//! nights"), evaluated in the profile's IANA time zone at a time the caller
//! passes. The engine has no clock of its own.
//!
//! A window belongs to the day it starts on: `Mon 21:00–07:00` covers Monday
//! 21:00 up to Tuesday 07:00. A window whose start equals its end covers the
//! whole day. Local time comes from the bundled IANA time-zone database
//! (through `jiff`), so daylight-saving changes shift the window with the
//! wall clock, as people expect.
//!
//! # Limitations
//! - Minute resolution. On the night clocks go back, the repeated hour is
//!   inside or outside a window by its wall-clock time both times.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use std::fmt;

/// Seconds since 1970-01-01T00:00:00Z, as the caller's clock reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(pub i64);

/// A set of weekdays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Weekdays(u8);

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Why a time window cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// An unknown weekday name.
    #[error("unknown weekday {0:?} (use mon, tue, … sun)")]
    Weekday(String),
    /// Not `HH:MM-HH:MM` or out of range.
    #[error("bad time range {0:?} (use HH:MM-HH:MM)")]
    Range(String),
}

impl Weekdays {
    /// Every day.
    pub const ALL: Weekdays = Weekdays(0x7f);
    /// Monday to Friday.
    pub const WORKDAYS: Weekdays = Weekdays(0x1f);

    /// Parses a comma-separated list of `mon`…`sun`, with ranges `mon-fri`.
    pub fn parse(text: &str) -> Result<Weekdays, ScheduleError> {
        let index = |name: &str| {
            DAY_NAMES
                .iter()
                .position(|day| day.eq_ignore_ascii_case(name.trim()))
                .ok_or_else(|| ScheduleError::Weekday(name.trim().to_owned()))
        };
        let mut bits = 0u8;
        for part in text.split(',').filter(|part| !part.trim().is_empty()) {
            match part.split_once('-') {
                Some((first, last)) => {
                    let (first, last) = (index(first)?, index(last)?);
                    let mut day = first;
                    loop {
                        bits |= 1 << day;
                        if day == last {
                            break;
                        }
                        day = (day + 1) % 7;
                    }
                }
                None => bits |= 1 << index(part)?,
            }
        }
        Ok(Weekdays(bits))
    }

    /// Whether the day with this Monday-based index (0–6) is in the set.
    pub fn contains(self, monday_based: u8) -> bool {
        monday_based < 7 && self.0 & (1 << monday_based) != 0
    }
}

impl fmt::Display for Weekdays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days: Vec<&str> = (0..7)
            .filter(|&day| self.contains(day))
            .map(|day| DAY_NAMES[usize::from(day)])
            .collect();
        f.write_str(&days.join(","))
    }
}

/// A daily window on some weekdays, in minutes after local midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeWindow {
    days: Weekdays,
    start: u16,
    end: u16,
}

fn minutes(text: &str) -> Option<u16> {
    let (hours, minutes) = text.trim().split_once(':')?;
    let hours: u16 = hours.parse().ok()?;
    let minutes: u16 = minutes.parse().ok()?;
    (hours < 24 && minutes < 60).then_some(hours * 60 + minutes)
}

impl TimeWindow {
    /// A window from `start` to `end` (`HH:MM-HH:MM`) on `days`.
    pub fn parse(days: Weekdays, range: &str) -> Result<TimeWindow, ScheduleError> {
        let bad = || ScheduleError::Range(range.to_owned());
        let (start, end) = range.split_once('-').ok_or_else(bad)?;
        Ok(TimeWindow {
            days,
            start: minutes(start).ok_or_else(bad)?,
            end: minutes(end).ok_or_else(bad)?,
        })
    }

    /// Whether local time `moment` falls inside the window.
    pub fn contains(&self, moment: LocalMoment) -> bool {
        let previous = (moment.weekday + 6) % 7;
        if self.start == self.end {
            return self.days.contains(moment.weekday);
        }
        if self.start < self.end {
            return self.days.contains(moment.weekday)
                && (self.start..self.end).contains(&moment.minute);
        }
        (self.days.contains(moment.weekday) && moment.minute >= self.start)
            || (self.days.contains(previous) && moment.minute < self.end)
    }
}

impl fmt::Display for TimeWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:02}:{:02}-{:02}:{:02}",
            self.days,
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

/// A local wall-clock moment: the weekday (Monday 0) and minute of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalMoment {
    /// Monday is 0, Sunday 6.
    pub weekday: u8,
    /// Minutes after midnight.
    pub minute: u16,
}

/// The wall-clock moment at `time` in `zone`. Times outside the range the
/// calendar supports clamp to its ends.
pub(crate) fn local_moment(zone: &TimeZone, time: UnixTime) -> LocalMoment {
    let timestamp = Timestamp::from_second(time.0).unwrap_or(if time.0 < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    });
    let civil = zone.to_datetime(timestamp);
    LocalMoment {
        weekday: civil.weekday().to_monday_zero_offset() as u8,
        minute: civil.hour() as u16 * 60 + civil.minute() as u16,
    }
}

/// Formats `time` in `zone` for explanations (`2025-03-30T06:30:00+02:00[Europe/Berlin]`).
pub(crate) fn format_local(zone: &TimeZone, time: UnixTime) -> String {
    match Timestamp::from_second(time.0) {
        Ok(timestamp) => timestamp.to_zoned(zone.clone()).to_string(),
        Err(_) => format!("@{}", time.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(zone: &str, text: &str) -> LocalMoment {
        let zone = TimeZone::get(zone).unwrap();
        let timestamp: Timestamp = text.parse().unwrap();
        local_moment(&zone, UnixTime(timestamp.as_second()))
    }

    #[test]
    fn weekdays_parse_lists_and_ranges() {
        assert_eq!(Weekdays::parse("mon-fri").unwrap(), Weekdays::WORKDAYS);
        assert_eq!(
            Weekdays::parse("sun-tue").unwrap().to_string(),
            "mon,tue,sun"
        );
        assert!(Weekdays::parse("funday").is_err());
        assert!(TimeWindow::parse(Weekdays::ALL, "25:00-07:00").is_err());
    }

    #[test]
    fn window_across_midnight_belongs_to_its_start_day() {
        // School nights: Sunday to Thursday evenings.
        let window = TimeWindow::parse(Weekdays::parse("sun-thu").unwrap(), "21:00-07:00").unwrap();
        // Monday 2025-01-06.
        assert!(window.contains(at("UTC", "2025-01-06T22:30:00Z")));
        assert!(window.contains(at("UTC", "2025-01-07T06:59:00Z")));
        assert!(!window.contains(at("UTC", "2025-01-07T07:00:00Z")));
        assert!(!window.contains(at("UTC", "2025-01-06T20:59:00Z")));
        // Friday night is not a school night; Saturday morning is after Friday.
        assert!(!window.contains(at("UTC", "2025-01-10T22:00:00Z")));
        assert!(!window.contains(at("UTC", "2025-01-11T06:00:00Z")));
        // Friday morning still belongs to Thursday night.
        assert!(window.contains(at("UTC", "2025-01-10T06:00:00Z")));
        // Monday early morning belongs to Sunday night.
        assert!(window.contains(at("UTC", "2025-01-06T03:00:00Z")));
    }

    #[test]
    fn window_follows_the_wall_clock_across_a_dst_change() {
        let window = TimeWindow::parse(Weekdays::ALL, "21:00-07:00").unwrap();
        // Europe/Berlin moves from +01:00 to +02:00 at 2025-03-30T01:00Z.
        // 04:30Z is 06:30 local (inside); 05:30Z is 07:30 local (outside),
        // although a fixed +01:00 offset would put it at 06:30.
        assert!(window.contains(at("Europe/Berlin", "2025-03-30T04:30:00Z")));
        assert!(!window.contains(at("Europe/Berlin", "2025-03-30T05:30:00Z")));
        // And back in October: 2025-10-26, +02:00 to +01:00 at 01:00Z.
        // 05:30Z is 06:30 local (inside), where +02:00 would say 07:30.
        assert!(window.contains(at("Europe/Berlin", "2025-10-26T05:30:00Z")));
        assert!(!window.contains(at("Europe/Berlin", "2025-10-26T06:30:00Z")));
        // 19:30Z on the day before the spring change is 20:30 local: outside.
        assert!(!window.contains(at("Europe/Berlin", "2025-03-29T19:30:00Z")));
        assert!(window.contains(at("Europe/Berlin", "2025-03-29T20:30:00Z")));
    }

    #[test]
    fn equal_start_and_end_cover_the_whole_day() {
        let window = TimeWindow::parse(Weekdays::parse("sat").unwrap(), "00:00-00:00").unwrap();
        assert!(window.contains(at("UTC", "2025-01-11T23:59:00Z")));
        assert!(!window.contains(at("UTC", "2025-01-12T00:00:00Z")));
    }
}
