//! Active windows, a feed file's `active` key: the hours a feed is worth
//! polling ("Sat,Sun 12:00-23:59").
//!
//! Outside every window the poller skips its tick, which saves an upstream's rate limit
//! for the hours games are played. A window that ends before it starts runs
//! past midnight and belongs to the day it starts on.

use chrono::{DateTime, Datelike, NaiveTime, TimeZone, Timelike, Weekday};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveWindow {
    /// Days the window starts on; all seven when the text names none.
    days: [bool; 7],
    start: NaiveTime,
    end: NaiveTime,
}

impl ActiveWindow {
    /// Parses `"HH:MM-HH:MM"` with an optional day list before it:
    /// `"Mon-Fri 18:00-23:30"`, `"Sat,Sun 11:00-02:00"`.
    pub fn parse(text: &str) -> Result<ActiveWindow, String> {
        let text = text.trim();
        let (days_text, hours_text) = match text.rsplit_once(' ') {
            Some((d, h)) => (Some(d.trim()), h),
            None => (None, text),
        };
        let days = match days_text {
            None => [true; 7],
            Some(d) => parse_days(d)?,
        };
        let (start, end) = hours_text
            .split_once('-')
            .ok_or_else(|| format!("`{text}` is not a window like \"Sat,Sun 12:00-23:30\""))?;
        let time = |t: &str| {
            NaiveTime::parse_from_str(t.trim(), "%H:%M")
                .map_err(|_| format!("`{t}` in `{text}` is not a time like 18:30"))
        };
        Ok(ActiveWindow { days, start: time(start)?, end: time(end)? })
    }

    /// Whether `now` (already in the feed's time zone) falls in this window.
    pub fn contains<Tz: TimeZone>(&self, now: &DateTime<Tz>) -> bool {
        let t = NaiveTime::from_hms_opt(now.hour(), now.minute(), now.second()).unwrap_or_default();
        let today = now.weekday().num_days_from_monday() as usize;
        if self.start <= self.end {
            self.days[today] && t >= self.start && t < self.end
        } else {
            let yesterday = (today + 6) % 7;
            (self.days[today] && t >= self.start) || (self.days[yesterday] && t < self.end)
        }
    }
}

fn parse_days(text: &str) -> Result<[bool; 7], String> {
    let mut days = [false; 7];
    for part in text.split(',') {
        let part = part.trim();
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (weekday(a)?, weekday(b)?);
                let mut d = a;
                loop {
                    days[d] = true;
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => days[weekday(part)?] = true,
        }
    }
    Ok(days)
}

fn weekday(name: &str) -> Result<usize, String> {
    name.trim()
        .parse::<Weekday>()
        .map(|d| d.num_days_from_monday() as usize)
        .map_err(|_| format!("`{name}` is not a day (Mon, Tue, … Sun)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn plain_hours_every_day() {
        let w = ActiveWindow::parse("12:00-18:00").unwrap();
        assert!(w.contains(&at("2026-11-25T12:00:00Z")));
        assert!(!w.contains(&at("2026-11-25T18:00:00Z")));
        assert!(!w.contains(&at("2026-11-25T03:00:00Z")));
    }

    #[test]
    fn past_midnight_belongs_to_the_start_day() {
        // 2026-11-28 is a Saturday.
        let w = ActiveWindow::parse("Sat 18:00-02:00").unwrap();
        assert!(w.contains(&at("2026-11-28T19:00:00Z")));
        assert!(w.contains(&at("2026-11-29T01:30:00Z")), "Sunday 01:30 is Saturday's night");
        assert!(!w.contains(&at("2026-11-29T19:00:00Z")), "not Sunday evening");
        assert!(!w.contains(&at("2026-11-28T01:30:00Z")), "not Friday's night");
    }

    #[test]
    fn day_ranges_and_lists() {
        let w = ActiveWindow::parse("Fri-Sun,Wed 10:00-11:00").unwrap();
        assert!(w.contains(&at("2026-11-25T10:30:00Z"))); // Wednesday
        assert!(!w.contains(&at("2026-11-26T10:30:00Z"))); // Thursday
        assert!(!w.contains(&at("2026-11-30T10:30:00Z"))); // Monday
        assert!(w.contains(&at("2026-11-29T10:30:00Z"))); // Sunday
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert!(ActiveWindow::parse("Funday 10:00-11:00").unwrap_err().contains("not a day"));
        assert!(ActiveWindow::parse("10:00").unwrap_err().contains("not a window"));
        assert!(ActiveWindow::parse("25:00-26:00").unwrap_err().contains("not a time"));
    }
}
