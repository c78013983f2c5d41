//! The work allowance of one validation, against KeyTrap-class attacks
//! (CVE-2023-50387: many keys with one key tag and many signatures;
//! CVE-2023-50868: expensive NSEC3 closest-encloser proofs).
//!
//! A [`Budget`] is created per validation (per client query, say) and passed
//! by `&mut` to every function that verifies a signature or hashes a name.
//! Each signature verification and each NSEC3 hash is charged before it is
//! done; once an allowance is spent, the functions stop and report it, so the
//! CPU one validation can use is bounded whatever the zone sends.
//!
//! # Limitations
//! - It counts operations, not time: an RSA-8192 verification costs as much
//!   of the allowance as an Ed25519 one.

/// The allowances of one validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Signature verifications (public-key operations).
    pub max_verifications: u32,
    /// Keys tried for one RRSIG whose key tag and algorithm several keys share.
    pub max_keys_per_tag: u32,
    /// NSEC3 name hashes (each of 1 + iterations SHA-1 rounds).
    pub max_nsec3_hashes: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_verifications: 8,
            max_keys_per_tag: 4,
            max_nsec3_hashes: 32,
        }
    }
}

/// The allowance left to one validation.
#[derive(Debug, Clone)]
pub struct Budget {
    limits: Limits,
    verifications_used: u32,
    hashes_used: u32,
}

/// A spent allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Exhausted {
    /// No signature verification left.
    #[error("signature verification budget exhausted")]
    Verifications,
    /// No NSEC3 hash left.
    #[error("NSEC3 hash budget exhausted")]
    Hashes,
}

impl Budget {
    /// A fresh budget with these limits.
    pub fn new(limits: Limits) -> Budget {
        Budget {
            limits,
            verifications_used: 0,
            hashes_used: 0,
        }
    }

    /// The limits this budget started with.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Takes one signature verification from the allowance.
    pub fn charge_verification(&mut self) -> Result<(), Exhausted> {
        if self.verifications_used >= self.limits.max_verifications {
            return Err(Exhausted::Verifications);
        }
        self.verifications_used += 1;
        Ok(())
    }

    /// Takes one NSEC3 hash from the allowance.
    pub fn charge_hash(&mut self) -> Result<(), Exhausted> {
        if self.hashes_used >= self.limits.max_nsec3_hashes {
            return Err(Exhausted::Hashes);
        }
        self.hashes_used += 1;
        Ok(())
    }

    /// Signature verifications done so far.
    pub fn verifications_used(&self) -> u32 {
        self.verifications_used
    }

    /// NSEC3 hashes done so far.
    pub fn hashes_used(&self) -> u32 {
        self.hashes_used
    }
}

impl Default for Budget {
    fn default() -> Budget {
        Budget::new(Limits::default())
    }
}
