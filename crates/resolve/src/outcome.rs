//! The outcome of a resolution: a value, not an error.

use hanse_wire::{Rcode, Record};

/// An Extended DNS Error (RFC 8914) to attach to the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendedError {
    /// INFO-CODE.
    pub code: u16,
    /// EXTRA-TEXT for operators.
    pub text: &'static str,
}

impl ExtendedError {
    /// 22: No Reachable Authority.
    pub const NO_REACHABLE_AUTHORITY: ExtendedError = ExtendedError {
        code: 22,
        text: "no reachable authority",
    };
    /// 23: Network Error.
    pub const NETWORK_ERROR: ExtendedError = ExtendedError {
        code: 23,
        text: "network error",
    };
    /// 0: Other, a resolution limit was reached.
    pub const LIMIT_REACHED: ExtendedError = ExtendedError {
        code: 0,
        text: "resolution limit reached",
    };
    /// 0: Other, a CNAME or delegation loop.
    pub const LOOP: ExtendedError = ExtendedError {
        code: 0,
        text: "CNAME or delegation loop",
    };
    /// 0: Other, the total time for the query ran out.
    pub const TIMEOUT: ExtendedError = ExtendedError {
        code: 0,
        text: "resolution timed out",
    };
    /// 3: Stale Answer is not used yet; 0 with text for an invalid response.
    pub const INVALID_DATA: ExtendedError = ExtendedError {
        code: 0,
        text: "upstream answer unusable",
    };
    /// 0: Other, recently failed; answered from the SERVFAIL cache.
    pub const CACHED_FAILURE: ExtendedError = ExtendedError {
        code: 0,
        text: "recent failure cached",
    };
}

/// The result of resolving one question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The response code for the client.
    pub rcode: Rcode,
    /// The answer section: the CNAME/DNAME chain and the final RRset, TTLs already aged.
    pub answers: Vec<Record>,
    /// The authority section: the SOA of a negative answer.
    pub authorities: Vec<Record>,
    /// An Extended DNS Error, if any.
    pub extended_error: Option<ExtendedError>,
}

impl Resolution {
    /// SERVFAIL with an Extended DNS Error.
    pub fn failure(extended_error: ExtendedError) -> Resolution {
        Resolution {
            rcode: Rcode::SERVFAIL,
            answers: Vec::new(),
            authorities: Vec::new(),
            extended_error: Some(extended_error),
        }
    }

    /// The number of seconds this resolution may be cached as a whole: the
    /// smallest TTL in it (the negative TTL for NXDOMAIN and NODATA).
    pub fn ttl(&self) -> u32 {
        self.answers
            .iter()
            .chain(&self.authorities)
            .map(|record| record.ttl)
            .min()
            .unwrap_or(0)
    }
}
