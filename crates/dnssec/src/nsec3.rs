//! Proofs of nonexistence with NSEC3 (RFC 5155 §7.2 hashing, §8 validator
//! rules), with the iteration limit of RFC 9276 §3.2.
//!
//! - [`hash_name`]: the iterated, salted SHA-1 hash of a name.
//! - [`prove_nxdomain`]: closest encloser proof (§8.3) plus a covered
//!   wildcard (§8.4).
//! - [`prove_nodata`]: a matching NSEC3 without the type and CNAME (§8.5);
//!   for DS, an opt-out span covering the next closer name (§8.6); a
//!   matching wildcard NSEC3 without the type (§8.7).
//! - [`prove_wildcard_answer`]: the next closer name is covered (§8.8).
//!
//! Rules applied to the records given:
//! - only NSEC3 records one label below `zone` with hash algorithm 1 and
//!   flags 0 or 1 are used (§8.2); the parameters (iterations, salt) of the
//!   first one define the chain and records with others are ignored;
//! - more than [`MAX_ITERATIONS`] iterations → [`Denial::Insecure`], before
//!   any hashing (RFC 9276 §3.2);
//! - every hash is charged to the [`Budget`]; when it runs out the proof is
//!   [`Denial::Bogus`] with [`BogusReason::BudgetExhausted`];
//! - an opt-out span covering the next closer name makes an NXDOMAIN or a
//!   wildcard answer insecure ([`Denial::OptOut`]): an unsigned delegation
//!   may exist there (RFC 5155 §9.2).
//!
//! # Limitations
//! - One NSEC3 chain per proof (one parameter set), which is all a zone
//!   publishes outside of a parameter rollover.

use crate::budget::Budget;
use crate::denial::{BogusReason, Denial, DenialKind, InsecureReason};
use crate::rdata::{NSEC3_HASH_SHA1, Nsec3, OPT_OUT_FLAG};
use hanse_wire::{Name, RType, Record};
use ring::digest;

/// The most iterations accepted (RFC 9276 §3.2 lets validators treat
/// more as insecure; 150 is the figure most validators use).
pub const MAX_ITERATIONS: u16 = 150;

/// The length of a SHA-1 NSEC3 hash.
pub const HASH_LENGTH: usize = 20;

/// The NSEC3 hash of `name` (RFC 5155 §5): SHA-1 over the canonical name and
/// the salt, then `iterations` more times over the previous hash and the salt.
pub fn hash_name(name: &Name, salt: &[u8], iterations: u16) -> [u8; HASH_LENGTH] {
    let algorithm = &digest::SHA1_FOR_LEGACY_USE_ONLY;
    let mut context = digest::Context::new(algorithm);
    context.update(name.to_lowercase().as_wire());
    context.update(salt);
    let mut hash = [0u8; HASH_LENGTH];
    hash.copy_from_slice(context.finish().as_ref());
    for _ in 0..iterations {
        let mut context = digest::Context::new(algorithm);
        context.update(&hash);
        context.update(salt);
        hash.copy_from_slice(context.finish().as_ref());
    }
    hash
}

const BASE32HEX: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

/// Base32hex without padding (RFC 4648 §7), lower case, as in NSEC3 owner names.
pub fn encode_base32hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32HEX[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(
            BASE32HEX[((buffer << (5 - bits)) & 31) as usize],
        ));
    }
    out
}

/// Decodes unpadded base32hex, either case. `None` for other characters or
/// non-zero leftover bits.
pub fn decode_base32hex(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &character in text {
        let value = match character.to_ascii_lowercase() {
            digit @ b'0'..=b'9' => digit - b'0',
            letter @ b'a'..=b'v' => letter - b'a' + 10,
            _ => return None,
        };
        buffer = (buffer << 5) | u32::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    if bits >= 5 || buffer != 0 {
        return None;
    }
    Some(out)
}

/// One usable NSEC3 record of the chain.
struct Entry {
    owner_hash: [u8; HASH_LENGTH],
    next_hash: [u8; HASH_LENGTH],
    nsec3: Nsec3,
}

impl Entry {
    fn matches(&self, hash: &[u8; HASH_LENGTH]) -> bool {
        self.owner_hash == *hash
    }

    fn covers(&self, hash: &[u8; HASH_LENGTH]) -> bool {
        if self.owner_hash < self.next_hash {
            self.owner_hash < *hash && *hash < self.next_hash
        } else {
            // The last record of the chain wraps around to the first.
            self.owner_hash < *hash || *hash < self.next_hash
        }
    }
}

/// The NSEC3 chain of a zone as far as the records given show it, with the
/// hashes computed so far.
struct Chain<'b> {
    zone: Name,
    entries: Vec<Entry>,
    salt: Box<[u8]>,
    iterations: u16,
    hashes: Vec<(Name, [u8; HASH_LENGTH])>,
    budget: &'b mut Budget,
}

impl<'b> Chain<'b> {
    fn build(zone: &Name, records: &[Record], budget: &'b mut Budget) -> Result<Chain<'b>, Denial> {
        let mut entries = Vec::new();
        let mut parameters: Option<(Box<[u8]>, u16)> = None;
        let mut unknown_algorithm = false;
        for record in records {
            if record.rtype != RType::NSEC3 || record.name.parent().as_ref() != Some(zone) {
                continue;
            }
            let Ok(nsec3) = Nsec3::from_record(record) else {
                continue;
            };
            if nsec3.hash_algorithm != NSEC3_HASH_SHA1 {
                unknown_algorithm = true;
                continue;
            }
            if nsec3.flags & !OPT_OUT_FLAG != 0 {
                continue;
            }
            let label = record.name.first_label().unwrap_or_default();
            let Some(owner_hash) =
                decode_base32hex(label).and_then(|hash| <[u8; HASH_LENGTH]>::try_from(hash).ok())
            else {
                continue;
            };
            let Ok(next_hash) = <[u8; HASH_LENGTH]>::try_from(&*nsec3.next_hashed_owner) else {
                continue;
            };
            match &parameters {
                None => parameters = Some((nsec3.salt.clone(), nsec3.iterations)),
                Some((salt, iterations)) => {
                    if *salt != nsec3.salt || *iterations != nsec3.iterations {
                        continue;
                    }
                }
            }
            entries.push(Entry {
                owner_hash,
                next_hash,
                nsec3,
            });
        }
        let Some((salt, iterations)) = parameters else {
            return Err(if unknown_algorithm {
                Denial::Insecure(InsecureReason::UnknownHashAlgorithm)
            } else {
                Denial::Bogus(BogusReason::NoRecords)
            });
        };
        if iterations > MAX_ITERATIONS {
            return Err(Denial::Insecure(InsecureReason::TooManyIterations(
                iterations,
            )));
        }
        Ok(Chain {
            zone: zone.clone(),
            entries,
            salt,
            iterations,
            hashes: Vec::new(),
            budget,
        })
    }

    /// The hash of `name`, charged to the budget unless computed before.
    fn hash(&mut self, name: &Name) -> Result<[u8; HASH_LENGTH], Denial> {
        if let Some((_, hash)) = self.hashes.iter().find(|(known, _)| known == name) {
            return Ok(*hash);
        }
        self.budget
            .charge_hash()
            .map_err(|_| Denial::Bogus(BogusReason::BudgetExhausted))?;
        let hash = hash_name(name, &self.salt, self.iterations);
        self.hashes.push((name.clone(), hash));
        Ok(hash)
    }

    fn matching(&mut self, name: &Name) -> Result<Option<usize>, Denial> {
        let hash = self.hash(name)?;
        Ok(self.entries.iter().position(|entry| entry.matches(&hash)))
    }

    fn covering(&mut self, name: &Name) -> Result<Option<usize>, Denial> {
        let hash = self.hash(name)?;
        Ok(self.entries.iter().position(|entry| entry.covers(&hash)))
    }

    /// The closest encloser proof (RFC 5155 §8.3) for a name that does not
    /// exist: the closest encloser, and the index of the record covering the
    /// next closer name.
    fn closest_encloser(&mut self, qname: &Name) -> Result<(Name, usize), Denial> {
        if self.matching(qname)?.is_some() {
            return Err(Denial::Bogus(BogusReason::NameExists));
        }
        let mut next_closer = qname.clone();
        loop {
            let Some(candidate) = next_closer.parent() else {
                return Err(Denial::Bogus(BogusReason::NoClosestEncloser));
            };
            if !candidate.is_subdomain_of(&self.zone) {
                return Err(Denial::Bogus(BogusReason::NoClosestEncloser));
            }
            if let Some(index) = self.matching(&candidate)? {
                let types = &self.entries[index].nsec3.types;
                let delegation = types.contains(RType::NS) && !types.contains(RType::SOA);
                if delegation || types.contains(RType::DNAME) {
                    return Err(Denial::Bogus(BogusReason::FromDelegation));
                }
                let cover = self
                    .covering(&next_closer)?
                    .ok_or(Denial::Bogus(BogusReason::NotCovered))?;
                return Ok((candidate, cover));
            }
            next_closer = candidate;
        }
    }

    fn is_opt_out(&self, index: usize) -> bool {
        self.entries[index].nsec3.is_opt_out()
    }
}

fn check_types(nsec3: &Nsec3, qtype: RType) -> Result<(), BogusReason> {
    if nsec3.types.contains(qtype) {
        return Err(BogusReason::TypeExists);
    }
    if nsec3.types.contains(RType::CNAME) {
        return Err(BogusReason::CnameExists);
    }
    let delegation = nsec3.types.contains(RType::NS) && !nsec3.types.contains(RType::SOA);
    if qtype == RType::DS {
        if nsec3.types.contains(RType::SOA) {
            return Err(BogusReason::FromChildApex);
        }
    } else if delegation {
        return Err(BogusReason::FromDelegation);
    }
    Ok(())
}

/// Runs `proof` on the chain of `zone`, turning early exits into values.
fn with_chain(
    qname: &Name,
    zone: &Name,
    records: &[Record],
    budget: &mut Budget,
    proof: impl FnOnce(&mut Chain<'_>) -> Result<Denial, Denial>,
) -> Denial {
    if !qname.is_subdomain_of(zone) {
        return Denial::Bogus(BogusReason::OutsideZone);
    }
    match Chain::build(zone, records, budget) {
        Ok(mut chain) => proof(&mut chain).unwrap_or_else(|denial| denial),
        Err(denial) => denial,
    }
}

/// Proves that `qname` does not exist in `zone` (NXDOMAIN, RFC 5155 §8.4).
pub fn prove_nxdomain(
    qname: &Name,
    zone: &Name,
    records: &[Record],
    budget: &mut Budget,
) -> Denial {
    with_chain(qname, zone, records, budget, |chain| {
        let (encloser, cover) = chain.closest_encloser(qname)?;
        let wildcard = encloser
            .prepend(b"*")
            .map_err(|_| Denial::Bogus(BogusReason::WildcardNotDenied))?;
        if chain.matching(&wildcard)?.is_some() {
            return Ok(Denial::Bogus(BogusReason::WildcardExists));
        }
        if chain.covering(&wildcard)?.is_none() {
            return Ok(Denial::Bogus(BogusReason::WildcardNotDenied));
        }
        if chain.is_opt_out(cover) {
            return Ok(Denial::OptOut {
                closest_encloser: encloser,
            });
        }
        Ok(Denial::proven(DenialKind::NameError, Some(encloser)))
    })
}

/// Proves that `qname` has no `qtype` records in `zone` (NODATA, RFC 5155
/// §8.5–§8.7).
pub fn prove_nodata(
    qname: &Name,
    qtype: RType,
    zone: &Name,
    records: &[Record],
    budget: &mut Budget,
) -> Denial {
    with_chain(qname, zone, records, budget, |chain| {
        if let Some(index) = chain.matching(qname)? {
            let nsec3 = &chain.entries[index].nsec3;
            return Ok(match check_types(nsec3, qtype) {
                Ok(()) => Denial::proven(DenialKind::NoData, None),
                Err(reason) => Denial::Bogus(reason),
            });
        }
        let (encloser, cover) = chain.closest_encloser(qname)?;
        if qtype == RType::DS {
            // §8.6: no NSEC3 for the name; an opt-out span over it.
            return Ok(if chain.is_opt_out(cover) {
                Denial::OptOut {
                    closest_encloser: encloser,
                }
            } else {
                Denial::Bogus(BogusReason::NoMatchingRecord)
            });
        }
        // §8.7: the wildcard at the closest encloser exists without the type.
        let wildcard = encloser
            .prepend(b"*")
            .map_err(|_| Denial::Bogus(BogusReason::NoMatchingRecord))?;
        Ok(match chain.matching(&wildcard)? {
            Some(index) => match check_types(&chain.entries[index].nsec3, qtype) {
                // The next closer name lies in an opt-out span: an unsigned
                // delegation may hide there, so the wildcard is not proven
                // to be the source (as for a wildcard answer, §8.8).
                Ok(()) if chain.is_opt_out(cover) => Denial::OptOut {
                    closest_encloser: encloser,
                },
                Ok(()) => Denial::proven(DenialKind::WildcardNoData, Some(encloser)),
                Err(reason) => Denial::Bogus(reason),
            },
            None => Denial::Bogus(BogusReason::NoMatchingRecord),
        })
    })
}

/// Proves that a wildcard answer for `qname` (RRSIG labels field `labels`)
/// had no closer match: the next closer name is covered (RFC 5155 §8.8).
pub fn prove_wildcard_answer(
    qname: &Name,
    labels: u8,
    zone: &Name,
    records: &[Record],
    budget: &mut Budget,
) -> Denial {
    with_chain(qname, zone, records, budget, |chain| {
        let labels = usize::from(labels);
        if labels >= qname.label_count() {
            return Ok(Denial::Bogus(BogusReason::NotWildcard));
        }
        let encloser = qname.suffix(labels);
        if !encloser.is_subdomain_of(zone) {
            return Ok(Denial::Bogus(BogusReason::OutsideZone));
        }
        let next_closer = qname.suffix(labels + 1);
        if chain.matching(&next_closer)?.is_some() {
            return Ok(Denial::Bogus(BogusReason::NameExists));
        }
        Ok(match chain.covering(&next_closer)? {
            Some(index) if chain.is_opt_out(index) => Denial::OptOut {
                closest_encloser: encloser,
            },
            Some(_) => Denial::proven(DenialKind::WildcardAnswer, Some(encloser)),
            None => Denial::Bogus(BogusReason::NotCovered),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32hex_round_trips() {
        for length in 0..25 {
            let bytes: Vec<u8> = (0..length).map(|index| (index * 37 + 11) as u8).collect();
            let text = encode_base32hex(&bytes);
            assert_eq!(decode_base32hex(text.as_bytes()).unwrap(), bytes, "{text}");
            assert_eq!(
                decode_base32hex(text.to_uppercase().as_bytes()).unwrap(),
                bytes
            );
        }
        assert!(decode_base32hex(b"w").is_none());
        assert!(decode_base32hex(b"01").is_none());
    }
}
