//! The credibility ranking of cached data (RFC 2181 §5.4.1).
//!
//! # Limitations
//! - Only the five ranks a non-validating iterative resolver produces; zone
//!   data, glue of a primary zone and DNSSEC validation states are not ranked.

/// How far cached data can be trusted, by the section and message it came
/// from (RFC 2181 §5.4.1). Ordered from least to most trustworthy, so
/// `a < b` means `b` may replace `a` in the cache.
///
/// RFC 2181 §5.4.1 also says that data of the two lowest ranks should never be
/// returned as an answer to a client: the cache stores the rank with the RRset
/// ([`crate::CachedRrset::trust`]) so the resolver can follow that rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Trust {
    /// From the additional section of a response, e.g. glue addresses.
    Additional,
    /// NS records from the authority section of a non-authoritative
    /// response: a referral.
    AuthorityReferral,
    /// From the answer section of a response without the AA bit, e.g. from a
    /// forwarder.
    AnswerNonAuthoritative,
    /// From the authority section of an authoritative (AA) response.
    AuthorityAuthoritative,
    /// From the answer section of an authoritative (AA) response.
    AnswerAuthoritative,
}

#[cfg(test)]
mod tests {
    use super::Trust;

    #[test]
    fn ranks_follow_rfc_2181() {
        let ranks = [
            Trust::Additional,
            Trust::AuthorityReferral,
            Trust::AnswerNonAuthoritative,
            Trust::AuthorityAuthoritative,
            Trust::AnswerAuthoritative,
        ];
        for pair in ranks.windows(2) {
            assert!(pair[0] < pair[1], "{:?} < {:?}", pair[0], pair[1]);
        }
    }
}
