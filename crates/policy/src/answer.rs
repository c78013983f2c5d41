//! Turning a [`Verdict`] into the answer a client gets (draft-ietf-dnsop-dns-rpz
//! §5): NXDOMAIN and NODATA with the policy zone's SOA for negative caching
//! (RFC 2308), local data with `CNAME *.target` expanded, CNAME rewrites that
//! the resolver follows, the profile's block answer, REFUSED, DROP and
//! TCP-only.
//!
//! # Limitations
//! - A CNAME rewrite returns only the CNAME; the caller resolves the target
//!   and appends it (as BIND does), or sends it as is.
//! - A wildcard CNAME whose expansion is longer than 255 octets gives
//!   YXDOMAIN, by analogy with DNAME substitution (RFC 6672 §2.2).
//! - List feeds have no SOA, so their negative answers carry none.

use crate::policy::{Action, BlockAnswer, EdeCode, Verdict};
use hanse_wire::{Class, Name, RType, Rcode, Record};
use std::net::IpAddr;

/// What to send for a query after policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Synthesis {
    /// No change: resolve and answer normally.
    Resolve,
    /// Send no answer at all.
    Drop,
    /// Over UDP, answer with TC set and nothing else; over TCP, resolve.
    Truncate,
    /// Answer with these sections.
    Answer {
        /// The response code.
        rcode: Rcode,
        /// The answer section.
        answers: Vec<Record>,
        /// The authority section (an SOA for negative answers).
        authority: Vec<Record>,
        /// The Extended DNS Error and its EXTRA-TEXT.
        ede: Option<(EdeCode, String)>,
        /// A CNAME target the resolver should continue with, if any.
        follow: Option<Name>,
    },
}

fn record(owner: &Name, rtype: RType, ttl: u32, data: Box<[u8]>) -> Record {
    Record {
        name: owner.clone(),
        rtype,
        class: Class::IN,
        ttl,
        data,
    }
}

/// The answer for `qname`/`qtype` under `verdict`. `qname` is the name whose
/// answer is replaced: the query name, or for a hit on a CNAME target
/// ([`Hit::chain_position`](crate::Hit::chain_position)) that target.
pub fn synthesize(verdict: &Verdict<'_>, qname: &Name, qtype: RType) -> Synthesis {
    let hit = match verdict {
        Verdict::Pass | Verdict::Allowed(_) => return Synthesis::Resolve,
        Verdict::SafeSearch(rewrite) => {
            return Synthesis::Answer {
                rcode: Rcode::NOERROR,
                answers: vec![record(
                    qname,
                    RType::CNAME,
                    300,
                    rewrite.target.as_wire().into(),
                )],
                authority: Vec::new(),
                ede: Some((
                    EdeCode::ForgedAnswer,
                    format!("safe search: {}", rewrite.engine),
                )),
                follow: Some(rewrite.target.clone()),
            };
        }
        Verdict::Match(hit) => hit,
    };
    let ede = hit.ede.map(|code| (code, hit.extra_text()));
    let ttl = hit.rule.ttl;
    let soa = || {
        hit.feed
            .soa()
            .map(|soa| {
                let mut soa = soa.clone();
                soa.ttl = soa.ttl.min(soa.soa_minimum().unwrap_or(soa.ttl));
                vec![soa]
            })
            .unwrap_or_default()
    };
    let negative = |rcode: Rcode, ede: Option<(EdeCode, String)>| Synthesis::Answer {
        rcode,
        answers: Vec::new(),
        authority: soa(),
        ede,
        follow: None,
    };
    let positive = |answers: Vec<Record>, follow: Option<Name>, ede| Synthesis::Answer {
        rcode: Rcode::NOERROR,
        answers,
        authority: Vec::new(),
        ede,
        follow,
    };
    match hit.action {
        Action::Passthru => Synthesis::Resolve,
        Action::Drop => Synthesis::Drop,
        Action::TcpOnly => Synthesis::Truncate,
        Action::Nxdomain => negative(Rcode::NXDOMAIN, ede),
        Action::Nodata => negative(Rcode::NOERROR, ede),
        Action::Cname(target) => positive(
            vec![record(qname, RType::CNAME, ttl, target.as_wire().into())],
            Some(target.clone()),
            ede,
        ),
        Action::Block(answer) => match answer {
            BlockAnswer::Nxdomain => negative(Rcode::NXDOMAIN, ede),
            BlockAnswer::Refused => Synthesis::Answer {
                rcode: Rcode::REFUSED,
                answers: Vec::new(),
                authority: Vec::new(),
                ede,
                follow: None,
            },
            BlockAnswer::NullAddress => {
                let data: Option<Box<[u8]>> = match qtype {
                    RType::A => Some([0u8; 4].into()),
                    RType::AAAA => Some([0u8; 16].into()),
                    _ => None,
                };
                let answers = data
                    .map(|data| vec![record(qname, qtype, ttl, data)])
                    .unwrap_or_default();
                positive(answers, None, ede)
            }
            BlockAnswer::Addresses(addresses) => {
                let answers = addresses
                    .iter()
                    .filter_map(|address| match (address, qtype) {
                        (IpAddr::V4(v4), RType::A) => {
                            Some(record(qname, RType::A, ttl, v4.octets().into()))
                        }
                        (IpAddr::V6(v6), RType::AAAA) => {
                            Some(record(qname, RType::AAAA, ttl, v6.octets().into()))
                        }
                        _ => None,
                    })
                    .collect();
                positive(answers, None, ede)
            }
        },
        Action::LocalData(records) => {
            if let Some(cname) = records.iter().find(|local| local.rtype == RType::CNAME) {
                let target = match expand_target(&cname.data, qname) {
                    Some(Ok(target)) => target,
                    Some(Err(())) => return negative(Rcode(6), ede),
                    None => return negative(Rcode::SERVFAIL, ede),
                };
                return positive(
                    vec![record(
                        qname,
                        RType::CNAME,
                        cname.ttl,
                        target.as_wire().into(),
                    )],
                    Some(target),
                    ede,
                );
            }
            let answers = records
                .iter()
                .filter(|local| local.rtype == qtype || qtype == RType::ANY)
                .map(|local| record(qname, local.rtype, local.ttl, local.data.clone()))
                .collect();
            positive(answers, None, ede)
        }
    }
}

/// A CNAME target, with `*.suffix` replaced by `qname` + `suffix`.
/// `None` for bad data, `Some(Err)` if the result is too long.
fn expand_target(data: &[u8], qname: &Name) -> Option<Result<Name, ()>> {
    let target = Name::from_wire(data).ok()?;
    if !target.is_wildcard() {
        return Some(Ok(target));
    }
    let suffix = target.parent()?;
    let keep = &qname.as_wire()[..qname.as_wire().len() - 1];
    let mut wire = Vec::with_capacity(keep.len() + suffix.as_wire().len());
    wire.extend_from_slice(keep);
    wire.extend_from_slice(suffix.as_wire());
    Some(Name::from_wire(&wire).map_err(|_| ()))
}
