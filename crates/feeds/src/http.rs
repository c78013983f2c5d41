//! Fetching a list over HTTP(S) (RFC 9110, RFC 9111 conditional requests)
//! with a blocking client (`ureq`, TLS by rustls with the ring provider,
//! trust anchors from the system store via `rustls-native-certs`).
//!
//! A GET carries `If-None-Match` (the stored ETag) and `If-Modified-Since`
//! (the stored Last-Modified, as received). 304 means unchanged; 200 carries
//! the new list; anything else, a timeout or a body above the size cap is an
//! error and the caller keeps its copy.
//!
//! # Limitations
//! - The system trust store is read once per [`Fetcher`]; an https URL
//!   fails with a clear error when it holds no certificates.
//! - No proxy support, no client certificates, no compression.
//! - Redirects are followed by the client (at most 5).

use crate::error::FetchError;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use ureq::Agent;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

/// What a conditional GET gave.
#[derive(Debug)]
pub enum Fetched {
    /// 304: the copy held is current.
    NotModified,
    /// 200: a new body with its validators.
    Body {
        /// The list's bytes.
        bytes: Vec<u8>,
        /// The ETag header, if any.
        etag: Option<String>,
        /// The Last-Modified header, as received.
        last_modified: Option<String>,
    },
}

/// An HTTP(S) client with the supply's timeouts.
pub struct Fetcher {
    agent: Agent,
    max_bytes: u64,
}

impl Fetcher {
    /// A client whose requests complete within `timeout` and whose bodies
    /// are at most `max_bytes`. `with_tls` loads the system's roots (only
    /// needed for https URLs).
    pub fn new(timeout: Duration, max_bytes: u64, with_tls: bool) -> Fetcher {
        let roots: Vec<Certificate<'static>> = if with_tls {
            rustls_native_certs::load_native_certs()
                .certs
                .iter()
                .map(|der| Certificate::from_der(der.as_ref()).to_owned())
                .collect()
        } else {
            Vec::new()
        };
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::new_with_certs(&roots))
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .build();
        let agent: Agent = Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(5)
            .tls_config(tls)
            .build()
            .into();
        Fetcher { agent, max_bytes }
    }

    /// A conditional GET of `url`.
    pub fn fetch(
        &self,
        url: &str,
        etag: Option<&str>,
        last_modified: Option<&str>,
    ) -> Result<Fetched, FetchError> {
        let mut request = self.agent.get(url);
        if let Some(etag) = etag {
            request = request.header("If-None-Match", etag);
        }
        if let Some(last_modified) = last_modified {
            request = request.header("If-Modified-Since", last_modified);
        }
        let mut response = request.call().map_err(|source| FetchError::Request {
            url: url.to_owned(),
            source,
        })?;
        let status = response.status().as_u16();
        if status == 304 {
            return Ok(Fetched::NotModified);
        }
        if status != 200 {
            return Err(FetchError::Status {
                url: url.to_owned(),
                status,
            });
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let etag = header("etag");
        let last_modified = header("last-modified");
        let bytes = response
            .body_mut()
            .with_config()
            .limit(self.max_bytes)
            .read_to_vec()
            .map_err(|error| match error {
                ureq::Error::BodyExceedsLimit(limit) => FetchError::TooLarge {
                    url: url.to_owned(),
                    limit,
                },
                source => FetchError::Request {
                    url: url.to_owned(),
                    source,
                },
            })?;
        Ok(Fetched::Body {
            bytes,
            etag,
            last_modified,
        })
    }
}

/// Reads an HTTP date (RFC 9110 §5.6.7, the preferred IMF-fixdate form
/// `Sun, 06 Nov 1994 08:49:37 GMT`) as Unix seconds. Other forms: `None`.
pub fn parse_http_date(text: &str) -> Option<u64> {
    let mut parts = text.split_ascii_whitespace();
    let _weekday = parts.next()?.strip_suffix(',')?;
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut clock = parts.next()?.split(':');
    let hour: u64 = clock.next()?.parse().ok()?;
    let minute: u64 = clock.next()?.parse().ok()?;
    let second: u64 = clock.next()?.parse().ok()?;
    if parts.next()? != "GMT" || parts.next().is_some() || clock.next().is_some() {
        return None;
    }
    if !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 || year < 1970 {
        return None;
    }
    let days = days_from_civil(year, month, day as i64);
    u64::try_from(days)
        .ok()
        .map(|days| days * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the well-known
/// era-based computation).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Now, in Unix seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2000 12:00:00 GMT"),
            Some(951_825_600)
        );
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 CET"), None);
        assert_eq!(parse_http_date(""), None);
        assert_eq!(parse_http_date("Sun, 99 Nov 1994 08:49:37 GMT"), None);
    }
}
