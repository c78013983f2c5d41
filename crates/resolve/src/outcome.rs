//! The outcome of a resolution: a value, not an error.

use hanse_cache::Security;
use hanse_wire::{RType, Rcode, Record};

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
    /// 0: Other, too many upstream queries outstanding for the zone or
    /// its servers (the caps of [`crate::Limits`]).
    pub const UPSTREAM_BUSY: ExtendedError = ExtendedError {
        code: 0,
        text: "too many upstream queries outstanding",
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
    /// 3: Stale Answer (RFC 8914 §4.4, RFC 8767): the answer comes from
    /// expired data because resolution failed or was slow.
    pub const STALE_ANSWER: ExtendedError = ExtendedError {
        code: 3,
        text: "stale answer",
    };
    /// 0: Other, an invalid response.
    pub const INVALID_DATA: ExtendedError = ExtendedError {
        code: 0,
        text: "upstream answer unusable",
    };
    /// 6: DNSSEC Bogus.
    pub const DNSSEC_BOGUS: ExtendedError = ExtendedError {
        code: 6,
        text: "DNSSEC bogus",
    };
    /// 6: DNSSEC Bogus, the proof of nonexistence fails.
    pub const DENIAL_BOGUS: ExtendedError = ExtendedError {
        code: 6,
        text: "proof of nonexistence fails",
    };
    /// 6: DNSSEC Bogus, the validation budget (KeyTrap caps) ran out.
    pub const VALIDATION_BUDGET: ExtendedError = ExtendedError {
        code: 6,
        text: "validation budget exhausted",
    };
    /// 7: Signature Expired.
    pub const SIGNATURE_EXPIRED: ExtendedError = ExtendedError {
        code: 7,
        text: "signature expired",
    };
    /// 8: Signature Not Yet Valid.
    pub const SIGNATURE_NOT_YET_VALID: ExtendedError = ExtendedError {
        code: 8,
        text: "signature not yet valid",
    };
    /// 9: DNSKEY Missing.
    pub const DNSKEY_MISSING: ExtendedError = ExtendedError {
        code: 9,
        text: "no DNSKEY matches the DS or trust anchor",
    };
    /// 10: RRSIGs Missing.
    pub const RRSIGS_MISSING: ExtendedError = ExtendedError {
        code: 10,
        text: "RRSIGs missing",
    };

    /// The Extended DNS Error of a failed signature check.
    pub fn of_verify_error(error: &hanse_dnssec::VerifyError) -> ExtendedError {
        if matches!(error, hanse_dnssec::VerifyError::Budget(_)) {
            return ExtendedError::VALIDATION_BUDGET;
        }
        match error.extended_error_code() {
            7 => ExtendedError::SIGNATURE_EXPIRED,
            8 => ExtendedError::SIGNATURE_NOT_YET_VALID,
            9 => ExtendedError::DNSKEY_MISSING,
            10 => ExtendedError::RRSIGS_MISSING,
            _ => ExtendedError::DNSSEC_BOGUS,
        }
    }

    /// The constant of a DNSSEC failure's INFO-CODE, as the cache keeps it
    /// with bogus data: 7, 8, 9 and 10 by name, any other with its code and
    /// the text of 6 (DNSSEC Bogus).
    pub fn of_bogus_code(code: u16) -> ExtendedError {
        match code {
            7 => ExtendedError::SIGNATURE_EXPIRED,
            8 => ExtendedError::SIGNATURE_NOT_YET_VALID,
            9 => ExtendedError::DNSKEY_MISSING,
            10 => ExtendedError::RRSIGS_MISSING,
            code => ExtendedError {
                code,
                text: ExtendedError::DNSSEC_BOGUS.text,
            },
        }
    }

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
    /// What DNSSEC validation said of the whole answer: the weakest status
    /// of its parts. With [`Security::Bogus`] the records are the bogus data
    /// and `extended_error` says why; [`Resolution::for_client`] turns it
    /// into SERVFAIL unless the client set CD.
    pub security: Security,
}

/// What a client is sent: the resolution as adjusted to its DO, AD and CD
/// bits, and the AD bit of the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAnswer {
    /// The records and codes to send.
    pub resolution: Resolution,
    /// The AD bit of the response.
    pub authentic_data: bool,
}

impl Resolution {
    /// SERVFAIL with an Extended DNS Error.
    pub fn failure(extended_error: ExtendedError) -> Resolution {
        Resolution {
            rcode: Rcode::SERVFAIL,
            answers: Vec::new(),
            authorities: Vec::new(),
            extended_error: Some(extended_error),
            security: Security::Indeterminate,
        }
    }

    /// The answer for a client that asked `question_type` with the DO, AD
    /// and CD bits given (RFC 4035 §3.2, RFC 6840 §5.7–5.9):
    /// - bogus data without CD becomes SERVFAIL with its Extended DNS Error;
    ///   with CD it is sent as it is, without AD;
    /// - AD is set when everything is secure and the client set DO or AD;
    /// - RRSIG, NSEC and NSEC3 records are left out unless the client set DO
    ///   (or asked for that type).
    pub fn for_client(
        &self,
        question_type: RType,
        dnssec_ok: bool,
        authentic_data: bool,
        checking_disabled: bool,
    ) -> ClientAnswer {
        if self.security == Security::Bogus && !checking_disabled {
            let error = self
                .extended_error
                .clone()
                .unwrap_or(ExtendedError::DNSSEC_BOGUS);
            return ClientAnswer {
                resolution: Resolution::failure(error),
                authentic_data: false,
            };
        }
        let mut resolution = self.clone();
        if self.security == Security::Bogus {
            // Checking disabled: the data goes out, the reason stays ours.
            resolution.extended_error = None;
        }
        if !dnssec_ok {
            let keep = |record: &Record| {
                !matches!(record.rtype, RType::RRSIG | RType::NSEC | RType::NSEC3)
                    || record.rtype == question_type
            };
            resolution.answers.retain(keep);
            resolution.authorities.retain(keep);
        }
        ClientAnswer {
            authentic_data: self.security == Security::Secure
                && (dnssec_ok || authentic_data)
                && self.rcode != Rcode::SERVFAIL,
            resolution,
        }
    }

    /// Whether this is a stale answer (RFC 8767): it must not be cached.
    pub fn is_stale(&self) -> bool {
        self.extended_error
            .as_ref()
            .is_some_and(|error| error.code == ExtendedError::STALE_ANSWER.code)
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
