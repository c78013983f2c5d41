//! DNSSEC validation inside the resolution engine (RFC 4033, 4034, 4035,
//! 5155, 6840, 7646, 8914), built on the primitives of `hanse-dnssec`.
//!
//! Every RRset and every negative answer a task stores gets a [`Security`]
//! status, worked out when the response arrives:
//! - the chain of trust: the keys of a zone ([`ZoneKeys`]) are trusted when
//!   a DNSKEY matches a trust anchor, or a DS RRset that is itself secure in
//!   the parent zone, and that key signs the zone's DNSKEY RRset. A proven
//!   absence of DS (NSEC/NSEC3 NODATA, an opt-out span), a DS RRset of only
//!   unsupported algorithms or digests (RFC 6840 §5.2) and a negative trust
//!   anchor (RFC 7646; configured, or set at run time with an expiry in
//!   [`crate::RuntimeTrust`]) make the zone insecure;
//! - a positive RRset is secure when an RRSIG by a trusted key of its
//!   signer verifies; an answer expanded from a wildcard also needs the
//!   NSEC/NSEC3 proof that no closer name exists (RFC 4035 §5.3.4,
//!   RFC 5155 §8.8);
//! - NXDOMAIN and NODATA are secure when verified NSEC or NSEC3 records
//!   prove them and the SOA that comes with them verifies too (RFC 4035
//!   §5.4, RFC 5155 §8);
//! - unsigned data in a secure zone is bogus, unless the DS look-ups
//!   between the zone and the name prove an insecure delegation (a DS
//!   look-up that fails proves nothing; below a trust anchor it is bogus);
//! - a DNSKEY RRset that fails is asked again of the zone's other servers,
//!   the one that gave it avoided (as answers are, in `iterate.rs`).
//!
//! All signature checks and NSEC3 hashes of one client query are charged
//! to one [`hanse_dnssec::Budget`] (KeyTrap caps); running out is bogus
//! with Extended DNS Error 6.
//!
//! # Limitations
//! - The DS records that come with a referral are not used: the DS RRset of
//!   each zone is asked for separately (one more query per zone cut, then
//!   cached).
//! - A proven absence of DS is not checked for the NS bit of the proving
//!   record, except when looking for an insecure delegation below a zone.
//! - Aggressive use of NSEC (RFC 8198, in `iterate.rs`) uses NSEC records
//!   only, not NSEC3, and synthesises no wildcard answers. RFC 5011 updates are driven from outside (the
//!   binary); here they are only the trust anchors of
//!   [`crate::RuntimeTrust`], which replace the configured ones.
//! - Bogus data is kept for at most `bogus_ttl` seconds with its status and
//!   the INFO-CODE of its Extended DNS Error, for clients that set CD; an
//!   answer from it reports the same code, though not the EXTRA-TEXT of the
//!   variants of code 6 (proof of nonexistence, budget): "DNSSEC bogus".

use crate::iterate::{MAX_BOGUS_RETRIES, Task};
use crate::outcome::ExtendedError;
use crate::transport::Transport;
use hanse_cache::{Security, Trust, Validation};
use hanse_dnssec::ds::is_supported_digest;
use hanse_dnssec::{
    BogusReason, Denial, Dnskey, Ds, Nsec, Nsec3, Rrsig, VerifyError, ds_matches, nsec, nsec3,
    verify_signed_rrset,
};
use hanse_wire::{Name, RType, Rcode, Record};

/// How deep the chain of trust may nest (zones whose keys are being found).
const MAX_CHAIN_DEPTH: usize = 24;
/// How many names below a secure zone are checked for an insecure delegation.
const MAX_INSECURE_PROBES: usize = 8;
/// How many zones' keys one task remembers.
const MAX_REMEMBERED_ZONES: usize = 32;

/// What the chain of trust says about a zone's keys.
#[derive(Debug, Clone)]
pub(crate) enum ZoneKeys {
    /// The zone's DNSKEY RRset, authenticated.
    Secure(Vec<Record>),
    /// The zone is unsigned, or signed only with what is not supported.
    Insecure,
    /// No trust anchor lies above the zone, or validation is off.
    Indeterminate,
    /// The chain of trust is broken.
    Bogus(ExtendedError),
}

/// The DNSSEC status of an answer or part of one, with the reason when bogus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) security: Security,
    pub(crate) error: Option<ExtendedError>,
}

impl Verdict {
    /// The start of an answer: secure until a part says otherwise.
    pub(crate) fn secure() -> Verdict {
        Verdict::of(Security::Secure)
    }

    pub(crate) fn of(security: Security) -> Verdict {
        Verdict {
            security,
            error: None,
        }
    }

    pub(crate) fn bogus(error: ExtendedError) -> Verdict {
        Verdict {
            security: Security::Bogus,
            error: Some(error),
        }
    }

    /// The status of cached data: for bogus data the reason stored with it,
    /// or 6 (DNSSEC Bogus) when none was.
    pub(crate) fn of_cached(security: Security, extended_error: Option<u16>) -> Verdict {
        if security != Security::Bogus {
            return Verdict::of(security);
        }
        Verdict::bogus(
            extended_error.map_or(ExtendedError::DNSSEC_BOGUS, ExtendedError::of_bogus_code),
        )
    }

    /// What the cache keeps of the verdict: the status and, when bogus, the
    /// INFO-CODE of the reason.
    pub(crate) fn validation(&self) -> Validation {
        Validation {
            security: self.security,
            extended_error: match self.security {
                Security::Bogus => self.error.as_ref().map(|error| error.code),
                _ => None,
            },
        }
    }

    /// Adds a part: the weaker status wins, the first bogus reason stays.
    pub(crate) fn merge(&mut self, part: &Verdict) {
        if part.security < self.security {
            self.security = part.security;
        }
        if part.security == Security::Bogus && self.error.is_none() {
            self.error.clone_from(&part.error);
        }
    }
}

/// A validated positive RRset: its status, the TTL its signature allows, and
/// the records of a wildcard proof (NSEC/NSEC3 and their RRSIGs).
pub(crate) struct CheckedRrset {
    pub(crate) verdict: Verdict,
    pub(crate) ttl_cap: Option<u32>,
    pub(crate) proof: Vec<Record>,
}

/// The RRSIGs in `records` that cover `owner`/`rtype`.
pub(crate) fn signatures_of(records: &[Record], owner: &Name, rtype: RType) -> Vec<Record> {
    records
        .iter()
        .filter(|record| record.rtype == RType::RRSIG && record.name == *owner)
        .filter(|record| covered_type(record) == Some(rtype))
        .cloned()
        .collect()
}

/// The type an RRSIG record covers.
pub(crate) fn covered_type(record: &Record) -> Option<RType> {
    let data = record.data.get(..2)?;
    Some(RType(u16::from_be_bytes([data[0], data[1]])))
}

/// Whether a record belongs to a proof of nonexistence (NSEC, NSEC3 or an
/// RRSIG over one).
pub(crate) fn is_proof_record(record: &Record) -> bool {
    match record.rtype {
        RType::NSEC | RType::NSEC3 => true,
        RType::RRSIG => matches!(covered_type(record), Some(RType::NSEC | RType::NSEC3)),
        _ => false,
    }
}

/// The records of a negative answer's authority section worth keeping: SOA,
/// NSEC, NSEC3 and the RRSIGs over them, inside `zone`.
pub(crate) fn negative_records(authorities: &[Record], zone: &Name) -> Vec<Record> {
    authorities
        .iter()
        .filter(|record| record.name.is_subdomain_of(zone))
        .filter(|record| match record.rtype {
            RType::SOA | RType::NSEC | RType::NSEC3 => true,
            RType::RRSIG => matches!(
                covered_type(record),
                Some(RType::SOA | RType::NSEC | RType::NSEC3)
            ),
            _ => false,
        })
        .cloned()
        .collect()
}

/// Groups records into RRsets by owner and type, keeping first-seen order.
fn rrsets_of(records: &[&Record]) -> Vec<Vec<Record>> {
    let mut rrsets: Vec<Vec<Record>> = Vec::new();
    for record in records {
        match rrsets
            .iter_mut()
            .find(|rrset| rrset[0].name == record.name && rrset[0].rtype == record.rtype)
        {
            Some(rrset) => rrset.push((*record).clone()),
            None => rrsets.push(vec![(*record).clone()]),
        }
    }
    rrsets
}

/// The zone whose keys a proof of nonexistence for `name` and `rtype` is
/// checked with: the signer of its RRSIGs, else the owner of its SOA, else
/// `zone`, the zone asked. A DS proof comes from the parent.
pub(crate) fn proof_zone_of(name: &Name, rtype: RType, zone: &Name, records: &[Record]) -> Name {
    let signer = records
        .iter()
        .filter(|record| record.rtype == RType::RRSIG)
        .filter_map(|record| Rrsig::from_record(record).ok())
        .map(|rrsig| rrsig.signer_name)
        .find(|signer| name.is_subdomain_of(signer) && !(rtype == RType::DS && signer == name));
    let soa_owner = records
        .iter()
        .find(|record| record.rtype == RType::SOA && name.is_subdomain_of(&record.name))
        .map(|record| record.name.clone());
    signer.or(soa_owner).unwrap_or_else(|| zone.clone())
}

/// The Extended DNS Error of a failed proof.
fn denial_error(reason: BogusReason) -> ExtendedError {
    match reason {
        BogusReason::BudgetExhausted => ExtendedError::VALIDATION_BUDGET,
        _ => ExtendedError::DENIAL_BOGUS,
    }
}

/// The status a proof of nonexistence gives.
fn denial_verdict(denial: &Denial) -> Verdict {
    match denial {
        Denial::Proven { .. } => Verdict::of(Security::Secure),
        Denial::OptOut { .. } | Denial::Insecure(_) => Verdict::of(Security::Insecure),
        Denial::Bogus(reason) => Verdict::bogus(denial_error(*reason)),
    }
}

impl<T: Transport> Task<'_, T> {
    fn unix_time(&self) -> u32 {
        self.resolver.clock.unix_time()
    }

    /// Whether `name` is at or below a negative trust anchor, configured
    /// or set at run time and not expired.
    pub(crate) fn is_negative_anchor(&self, name: &Name) -> bool {
        self.config.dnssec.is_negative_anchor(name)
            || self
                .resolver
                .trust
                .is_negative_anchor(name, self.unix_time())
    }

    /// The trust anchors in force: those of automated updates once set,
    /// else the configured ones.
    fn trust_anchors(&self) -> std::sync::Arc<Vec<hanse_dnssec::TrustAnchor>> {
        self.resolver
            .trust
            .trust_anchors()
            .unwrap_or_else(|| std::sync::Arc::new(self.config.dnssec.trust_anchors.clone()))
    }

    /// The status of `name`'s data before any signature is looked at, if
    /// the settings decide it: validation off, or a negative trust anchor.
    fn decided_by_settings(&self, name: &Name) -> Option<Verdict> {
        let dnssec = &self.config.dnssec;
        if !dnssec.validation {
            return Some(Verdict::of(Security::Indeterminate));
        }
        if self.is_negative_anchor(name) {
            return Some(Verdict::of(Security::Insecure));
        }
        None
    }

    /// Validates a positive RRset from a response of `zone`'s servers;
    /// `authorities` is that response's authority section (wildcard proofs).
    pub(crate) async fn check_rrset(
        &mut self,
        rrset: &[Record],
        signatures: &[Record],
        zone: &Name,
        authorities: &[Record],
    ) -> CheckedRrset {
        let unchecked = |verdict| CheckedRrset {
            verdict,
            ttl_cap: None,
            proof: Vec::new(),
        };
        let Some(first) = rrset.first() else {
            return unchecked(Verdict::of(Security::Indeterminate));
        };
        let owner = first.name.clone();
        if let Some(verdict) = self.decided_by_settings(&owner) {
            return unchecked(verdict);
        }
        if first.rtype == RType::RRSIG {
            // RRSIGs are not signed themselves (RFC 4035 §2.2): an answer of
            // them can be neither authenticated nor found bogus.
            return unchecked(Verdict::of(Security::Indeterminate));
        }
        let signer = signatures
            .iter()
            .filter_map(|record| Rrsig::from_record(record).ok())
            .find(|rrsig| {
                rrsig.type_covered == first.rtype && owner.is_subdomain_of(&rrsig.signer_name)
            })
            .map(|rrsig| rrsig.signer_name);
        let Some(signer) = signer else {
            let zone = if owner.is_subdomain_of(zone) {
                zone.clone()
            } else {
                owner.clone()
            };
            return unchecked(self.unsigned_verdict(&zone, &owner).await);
        };
        if first.rtype == RType::DNSKEY && signer == owner && self.validating.contains(&owner) {
            // The zone's own keys, being checked by `zone_keys` right now.
            return unchecked(Verdict::of(Security::Indeterminate));
        }
        let keys = match self.zone_keys(&signer).await {
            ZoneKeys::Secure(keys) => keys,
            ZoneKeys::Insecure => return unchecked(Verdict::of(Security::Insecure)),
            ZoneKeys::Indeterminate => return unchecked(Verdict::of(Security::Indeterminate)),
            ZoneKeys::Bogus(error) => return unchecked(Verdict::bogus(error)),
        };
        let now = self.unix_time();
        let policy = self.config.dnssec.algorithms;
        let verified =
            match verify_signed_rrset(rrset, signatures, &keys, now, &policy, &mut self.budget) {
                Ok(verified) => verified,
                Err(error) => {
                    return unchecked(Verdict::bogus(ExtendedError::of_verify_error(&error)));
                }
            };
        // An RRSIG whose labels field is below the owner's label count was
        // made for a wildcard (RFC 4035 §5.3.4).
        let owner_labels = owner.label_count() - usize::from(owner.is_wildcard());
        let labels = signatures
            .iter()
            .filter_map(|record| Rrsig::from_record(record).ok())
            .filter(|rrsig| {
                rrsig.type_covered == first.rtype
                    && rrsig.key_tag == verified.key_tag
                    && rrsig.signer_name == signer
            })
            .map(|rrsig| rrsig.labels)
            .max();
        match labels {
            Some(labels) if usize::from(labels) < owner_labels && !owner.is_wildcard() => {
                let (verdict, proof) = self
                    .prove_wildcard(&owner, labels, &signer, &keys, authorities)
                    .await;
                CheckedRrset {
                    verdict,
                    ttl_cap: Some(verified.ttl),
                    proof,
                }
            }
            _ => CheckedRrset {
                verdict: Verdict::of(Security::Secure),
                ttl_cap: Some(verified.ttl),
                proof: Vec::new(),
            },
        }
    }

    /// Verifies the NSEC and NSEC3 RRsets of `records` with `keys`; returns
    /// them (records and RRSIGs) or the failure.
    fn verify_proof_records(
        &mut self,
        records: &[Record],
        zone: &Name,
        keys: &[Record],
    ) -> Result<Vec<Record>, Verdict> {
        let candidates: Vec<&Record> = records
            .iter()
            .filter(|record| matches!(record.rtype, RType::NSEC | RType::NSEC3))
            .filter(|record| record.name.is_subdomain_of(zone))
            .collect();
        let now = self.unix_time();
        let policy = self.config.dnssec.algorithms;
        let mut verified = Vec::new();
        for rrset in rrsets_of(&candidates) {
            let signatures = signatures_of(records, &rrset[0].name, rrset[0].rtype);
            if let Err(error) =
                verify_signed_rrset(&rrset, &signatures, keys, now, &policy, &mut self.budget)
            {
                return Err(Verdict::bogus(ExtendedError::of_verify_error(&error)));
            }
            verified.extend(rrset);
            verified.extend(signatures);
        }
        Ok(verified)
    }

    /// Verifies the SOA RRset of a signed negative answer from `zone` with
    /// `keys`: a forged or unsigned SOA makes the whole answer bogus, since
    /// its minimum field sets how long the denial is cached (RFC 4035 §5.4).
    fn verify_soa(
        &mut self,
        records: &[Record],
        zone: &Name,
        keys: &[Record],
    ) -> Result<(), Verdict> {
        let soa: Vec<Record> = records
            .iter()
            .filter(|record| record.rtype == RType::SOA && record.name == *zone)
            .cloned()
            .collect();
        if soa.is_empty() {
            return Ok(());
        }
        let signatures = signatures_of(records, zone, RType::SOA);
        let now = self.unix_time();
        let policy = self.config.dnssec.algorithms;
        verify_signed_rrset(&soa, &signatures, keys, now, &policy, &mut self.budget)
            .map(|_| ())
            .map_err(|error| Verdict::bogus(ExtendedError::of_verify_error(&error)))
    }

    /// Checks the proof that no closer name than the wildcard exists.
    async fn prove_wildcard(
        &mut self,
        owner: &Name,
        labels: u8,
        zone: &Name,
        keys: &[Record],
        authorities: &[Record],
    ) -> (Verdict, Vec<Record>) {
        let proof = match self.verify_proof_records(authorities, zone, keys) {
            Ok(proof) => proof,
            Err(verdict) => return (verdict, Vec::new()),
        };
        let denial = if proof.iter().any(|record| record.rtype == RType::NSEC) {
            nsec::prove_wildcard_answer(owner, labels, zone, &proof)
        } else if proof.iter().any(|record| record.rtype == RType::NSEC3) {
            nsec3::prove_wildcard_answer(owner, labels, zone, &proof, &mut self.budget)
        } else {
            return (Verdict::bogus(ExtendedError::DENIAL_BOGUS), Vec::new());
        };
        (denial_verdict(&denial), proof)
    }

    /// Validates an NXDOMAIN or NODATA answer for `name`/`rtype` from
    /// `zone`'s servers, whose authority section held `records`.
    pub(crate) async fn check_denial(
        &mut self,
        name: &Name,
        rtype: RType,
        nxdomain: bool,
        zone: &Name,
        records: &[Record],
    ) -> Verdict {
        if let Some(verdict) = self.decided_by_settings(name) {
            return verdict;
        }
        let proof_zone = proof_zone_of(name, rtype, zone, records);
        let keys = match self.zone_keys(&proof_zone).await {
            ZoneKeys::Secure(keys) => keys,
            ZoneKeys::Insecure => return Verdict::of(Security::Insecure),
            ZoneKeys::Indeterminate => return Verdict::of(Security::Indeterminate),
            ZoneKeys::Bogus(error) => return Verdict::bogus(error),
        };
        let proof = match self.verify_proof_records(records, &proof_zone, &keys) {
            Ok(proof) => proof,
            Err(verdict) => return verdict,
        };
        if proof.is_empty() {
            // Unsigned: only an insecure delegation on the way explains it.
            if self.insecure_below(&proof_zone, name).await {
                return Verdict::of(Security::Insecure);
            }
            return Verdict::bogus(ExtendedError::RRSIGS_MISSING);
        }
        if let Err(verdict) = self.verify_soa(records, &proof_zone, &keys) {
            return verdict;
        }
        let uses_nsec = proof.iter().any(|record| record.rtype == RType::NSEC);
        let denial = match (uses_nsec, nxdomain) {
            (true, true) => nsec::prove_nxdomain(name, &proof_zone, &proof),
            (true, false) => nsec::prove_nodata(name, rtype, &proof_zone, &proof),
            (false, true) => nsec3::prove_nxdomain(name, &proof_zone, &proof, &mut self.budget),
            (false, false) => {
                nsec3::prove_nodata(name, rtype, &proof_zone, &proof, &mut self.budget)
            }
        };
        denial_verdict(&denial)
    }

    /// The status of unsigned data of `owner` found in `zone`.
    async fn unsigned_verdict(&mut self, zone: &Name, owner: &Name) -> Verdict {
        match self.zone_keys(zone).await {
            ZoneKeys::Secure(_) => {
                if self.insecure_below(zone, owner).await {
                    Verdict::of(Security::Insecure)
                } else {
                    Verdict::bogus(ExtendedError::RRSIGS_MISSING)
                }
            }
            ZoneKeys::Insecure => Verdict::of(Security::Insecure),
            ZoneKeys::Indeterminate => Verdict::of(Security::Indeterminate),
            ZoneKeys::Bogus(error) => Verdict::bogus(error),
        }
    }

    /// Whether an insecure delegation lies between the secure `zone` and
    /// `owner`: a zone cut whose DS is proven absent, or whose keys are
    /// insecure. Asks for the DS of each name on the way down.
    async fn insecure_below(&mut self, zone: &Name, owner: &Name) -> bool {
        if !owner.is_subdomain_of(zone) {
            return false;
        }
        let first = zone.label_count() + 1;
        let last = owner.label_count().min(first + MAX_INSECURE_PROBES - 1);
        for count in first..=last {
            let candidate = owner.suffix(count);
            if self.validating.contains(&candidate) {
                continue;
            }
            let resolution = Box::pin(self.lookup(&candidate, RType::DS)).await;
            match resolution.security {
                Security::Insecure => return true,
                // A failed look-up proves nothing: below a secure zone it
                // must not turn unsigned data into insecure data.
                Security::Indeterminate | Security::Bogus => return false,
                Security::Secure => {}
            }
            if resolution.rcode != Rcode::NOERROR {
                return false;
            }
            let has_ds = resolution
                .answers
                .iter()
                .any(|record| record.rtype == RType::DS && record.name == candidate);
            if has_ds {
                return matches!(self.zone_keys(&candidate).await, ZoneKeys::Insecure);
            }
            if self.proves_delegation(&candidate, &resolution.authorities) {
                return true;
            }
        }
        false
    }

    /// Whether the (verified) proof records show a delegation at `name`: an
    /// NSEC or NSEC3 record of the name with NS and without SOA.
    fn proves_delegation(&mut self, name: &Name, records: &[Record]) -> bool {
        let delegation = |has_ns: bool, has_soa: bool| has_ns && !has_soa;
        for record in records {
            match record.rtype {
                RType::NSEC if record.name == *name => {
                    if let Ok(nsec) = Nsec::from_record(record) {
                        return delegation(
                            nsec.types.contains(RType::NS),
                            nsec.types.contains(RType::SOA),
                        );
                    }
                }
                RType::NSEC3 => {
                    let Ok(nsec3) = Nsec3::from_record(record) else {
                        continue;
                    };
                    if nsec3.iterations > nsec3::MAX_ITERATIONS
                        || self.budget.charge_hash().is_err()
                    {
                        return false;
                    }
                    let hash = nsec3::hash_name(name, &nsec3.salt, nsec3.iterations);
                    let label = nsec3::encode_base32hex(&hash);
                    let matches = record
                        .name
                        .first_label()
                        .is_some_and(|first| first.eq_ignore_ascii_case(label.as_bytes()));
                    if matches {
                        return delegation(
                            nsec3.types.contains(RType::NS),
                            nsec3.types.contains(RType::SOA),
                        );
                    }
                }
                _ => {}
            }
        }
        false
    }

    /// The keys of `zone` along the chain of trust, remembered per task.
    pub(crate) async fn zone_keys(&mut self, zone: &Name) -> ZoneKeys {
        if !self.config.dnssec.validation {
            return ZoneKeys::Indeterminate;
        }
        if self.is_negative_anchor(zone) {
            return ZoneKeys::Insecure;
        }
        if let Some((_, keys)) = self.zone_keys_found.iter().find(|(name, _)| name == zone) {
            return keys.clone();
        }
        if self.validating.contains(zone) || self.validating.len() >= MAX_CHAIN_DEPTH {
            return ZoneKeys::Bogus(ExtendedError::DNSSEC_BOGUS);
        }
        self.validating.push(zone.clone());
        let keys = self.find_zone_keys(zone).await;
        self.validating.pop();
        if self.zone_keys_found.len() < MAX_REMEMBERED_ZONES {
            self.zone_keys_found.push((zone.clone(), keys.clone()));
        }
        keys
    }

    async fn find_zone_keys(&mut self, zone: &Name) -> ZoneKeys {
        let now = self.now();
        if let Some(cached) = self.cache().get(zone, RType::DNSKEY, now)
            && cached.security == Security::Secure
        {
            return ZoneKeys::Secure(cached.records.to_vec());
        }
        let all_anchors = self.trust_anchors();
        let anchors: Vec<hanse_dnssec::TrustAnchor> = all_anchors
            .iter()
            .filter(|anchor| anchor.owner == *zone)
            .cloned()
            .collect();
        let mut ds_set: Vec<Ds> = Vec::new();
        if anchors.is_empty() {
            let below_anchor = all_anchors
                .iter()
                .any(|anchor| zone.is_subdomain_of(&anchor.owner));
            if !below_anchor || zone.is_root() {
                return ZoneKeys::Indeterminate;
            }
            let resolution = Box::pin(self.lookup(zone, RType::DS)).await;
            match resolution.security {
                Security::Bogus => {
                    return ZoneKeys::Bogus(
                        resolution
                            .extended_error
                            .unwrap_or(ExtendedError::DNSSEC_BOGUS),
                    );
                }
                Security::Insecure => return ZoneKeys::Insecure,
                // Below a trust anchor, a DS look-up that failed (or was
                // answered without validation) breaks the chain of trust.
                Security::Indeterminate => {
                    return ZoneKeys::Bogus(
                        resolution
                            .extended_error
                            .unwrap_or(ExtendedError::DNSKEY_MISSING),
                    );
                }
                Security::Secure => {}
            }
            match resolution.rcode {
                Rcode::NOERROR => {}
                Rcode::SERVFAIL => {
                    return ZoneKeys::Bogus(
                        resolution
                            .extended_error
                            .unwrap_or(ExtendedError::DNSKEY_MISSING),
                    );
                }
                _ => return ZoneKeys::Bogus(ExtendedError::DNSKEY_MISSING),
            }
            ds_set = resolution
                .answers
                .iter()
                .filter(|record| record.rtype == RType::DS && record.name == *zone)
                .filter_map(|record| Ds::from_record(record).ok())
                .collect();
            if ds_set.is_empty() {
                // A secure proof that the parent has no DS: an insecure delegation.
                return ZoneKeys::Insecure;
            }
            let policy = self.config.dnssec.algorithms;
            ds_set
                .retain(|ds| is_supported_digest(ds.digest_type) && policy.supports(ds.algorithm));
            if ds_set.is_empty() {
                // Only unsupported algorithms or digests (RFC 6840 §5.2).
                return ZoneKeys::Insecure;
            }
            // RFC 4509 §3: with a SHA-256 (or better) DS present, SHA-1 ones are ignored.
            if ds_set.iter().any(|ds| ds.digest_type.0 >= 2) {
                ds_set.retain(|ds| ds.digest_type.0 >= 2);
            }
        }
        // A DNSKEY RRset that fails is asked again of the zone's other
        // servers, the one that gave it avoided (stale signatures on one
        // server of several, or a forged answer).
        let mut keys = ZoneKeys::Bogus(ExtendedError::DNSKEY_MISSING);
        for attempt in 0..=MAX_BOGUS_RETRIES {
            if attempt > 0 {
                match self.responder {
                    Some(server) => self.avoid_server(server),
                    None if attempt > 1 => break,
                    // From the cache: ask the network once.
                    None => {}
                }
            }
            self.responder = None;
            let (dnskeys, signatures) = self.fetch_dnskeys(zone, attempt > 0).await;
            if dnskeys.is_empty() {
                // No other server answered: the first failure stands.
                break;
            }
            keys = self.authenticate_keys(zone, &anchors, &ds_set, &dnskeys, &signatures);
            if !matches!(keys, ZoneKeys::Bogus(_)) {
                break;
            }
        }
        keys
    }

    /// Authenticates the DNSKEY RRset of `zone` with its trust anchors or
    /// DS records and caches it when secure.
    fn authenticate_keys(
        &mut self,
        zone: &Name,
        anchors: &[hanse_dnssec::TrustAnchor],
        ds_set: &[Ds],
        dnskeys: &[Record],
        signatures: &[Record],
    ) -> ZoneKeys {
        let now = self.now();
        let policy = self.config.dnssec.algorithms;
        let mut unsupported_only = true;
        let trusted: Vec<Record> = dnskeys
            .iter()
            .filter(|record| {
                let Ok(key) = Dnskey::from_record(record) else {
                    return false;
                };
                if !key.is_zone_key() || key.is_revoked() {
                    return false;
                }
                let by_anchor = anchors.iter().any(|anchor| anchor.matches(zone, &key));
                let by_ds = ds_set.iter().any(|ds| {
                    ds.key_tag == key.key_tag()
                        && ds.algorithm == key.algorithm
                        && ds_matches(ds, &key, zone).unwrap_or(false)
                });
                let trusted = by_anchor || by_ds;
                if trusted && policy.supports(key.algorithm) {
                    unsupported_only = false;
                }
                trusted
            })
            .cloned()
            .collect();
        if trusted.is_empty() {
            return ZoneKeys::Bogus(ExtendedError::DNSKEY_MISSING);
        }
        if unsupported_only {
            return ZoneKeys::Insecure;
        }
        let unix_now = self.unix_time();
        match verify_signed_rrset(
            dnskeys,
            signatures,
            &trusted,
            unix_now,
            &policy,
            &mut self.budget,
        ) {
            Ok(verified) => {
                let stored: Vec<Record> = dnskeys
                    .iter()
                    .map(|record| Record {
                        ttl: record.ttl.min(verified.ttl),
                        ..record.clone()
                    })
                    .collect();
                self.cache().insert_signed(
                    &stored,
                    signatures,
                    Trust::AnswerAuthoritative,
                    Security::Secure,
                    now,
                );
                ZoneKeys::Secure(dnskeys.to_vec())
            }
            // Keys the crypto library cannot use (unsupported algorithms,
            // RSA below 1024 bits) count as unsupported (RFC 6840 §5.2).
            Err(VerifyError::UnsupportedAlgorithm(_) | VerifyError::KeyTooShort { .. }) => {
                ZoneKeys::Insecure
            }
            Err(error) => ZoneKeys::Bogus(ExtendedError::of_verify_error(&error)),
        }
    }

    /// The DNSKEY RRset of `zone` and its RRSIGs, from the cache or the
    /// network; from the network only if `fresh`.
    async fn fetch_dnskeys(&mut self, zone: &Name, fresh: bool) -> (Vec<Record>, Vec<Record>) {
        let now = self.now();
        if fresh {
            self.refresh = Some((zone.clone(), RType::DNSKEY));
        } else if let Some(cached) = self.cache().get(zone, RType::DNSKEY, now) {
            return (cached.records.to_vec(), cached.signatures.clone());
        }
        let resolution = Box::pin(self.lookup(zone, RType::DNSKEY)).await;
        let dnskeys = resolution
            .answers
            .iter()
            .filter(|record| record.rtype == RType::DNSKEY && record.name == *zone)
            .cloned()
            .collect();
        let signatures = signatures_of(&resolution.answers, zone, RType::DNSKEY);
        (dnskeys, signatures)
    }
}
