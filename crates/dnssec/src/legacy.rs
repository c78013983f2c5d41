//! Verification of the retired signature forms that the crypto library does
//! not offer: DSA with SHA-1 (algorithms 3 and 6; RFC 2536, RFC 5155 §2) and
//! RSA PKCS #1 v1.5 signatures by keys of 512 to 1023 bits (RFC 3110 allows
//! them; RFC 8624 and the library's floor do not).
//!
//! Both are used only when [`AlgorithmPolicy::validate_legacy`](crate::AlgorithmPolicy)
//! is set: RFC 8624 §3.1 says validators must not validate DSA, and short
//! RSA keys are breakable. Older zones and test corpora (Unbound's and
//! Deckard's scenarios, RFC 5155's example zone) are signed with them.
//!
//! The arithmetic is `num-bigint`'s modular exponentiation. Only public
//! values are handled (keys, signatures, digests), so nothing here needs to
//! run in constant time.
//!
//! # Limitations
//! - DSA parameters are taken as given: the key is authenticated by the
//!   chain of trust, and a key with a composite `q` or a small subgroup only
//!   makes its own signatures fail (or verify), as its owner could anyway.
//! - The modulus of a short RSA key must be at least [`MIN_LEGACY_RSA_BITS`]
//!   bits; keys of 1024 bits and more go to the crypto library.

use crate::verify::VerifyError;
use num_bigint::BigUint;
use ring::digest;

/// The smallest RSA modulus verified here, in bits (RFC 3110 §2's floor).
pub const MIN_LEGACY_RSA_BITS: usize = 512;

/// The largest DSA `T` parameter (RFC 2536 §2): P, G and Y are 64 + 8·T octets.
const MAX_DSA_T: usize = 8;
/// The length of DSA's Q, R and S, in octets (160 bits).
const DSA_Q_OCTETS: usize = 20;

/// The digest an RSA signature is made over, with its DER DigestInfo prefix
/// (RFC 8017 §9.2, note 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RsaDigest {
    Sha1,
    Sha256,
    Sha512,
}

impl RsaDigest {
    fn algorithm(self) -> &'static digest::Algorithm {
        match self {
            RsaDigest::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            RsaDigest::Sha256 => &digest::SHA256,
            RsaDigest::Sha512 => &digest::SHA512,
        }
    }

    fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            RsaDigest::Sha1 => &[
                0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
                0x14,
            ],
            RsaDigest::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            RsaDigest::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }
}

/// Verifies an RSA PKCS #1 v1.5 signature with the public key
/// `exponent`/`modulus` (big-endian, no leading zeros) over `data`.
pub(crate) fn verify_rsa_pkcs1(
    digest_kind: RsaDigest,
    exponent: &[u8],
    modulus: &[u8],
    data: &[u8],
    signature: &[u8],
) -> Result<(), VerifyError> {
    let size = modulus.len();
    if exponent.is_empty() || exponent.len() > 8 || size == 0 {
        return Err(VerifyError::BadKey);
    }
    let modulus_number = BigUint::from_bytes_be(modulus);
    let signature_number = BigUint::from_bytes_be(signature);
    if signature.len() > size || signature_number >= modulus_number {
        return Err(VerifyError::BadSignature);
    }
    let message = signature_number.modpow(&BigUint::from_bytes_be(exponent), &modulus_number);
    let recovered = message.to_bytes_be();
    // The encoded message is 00 01 FF…FF 00 DigestInfo; the leading zero
    // octet is not in `recovered`.
    let hash = digest::digest(digest_kind.algorithm(), data);
    let prefix = digest_kind.digest_info_prefix();
    let tail_length = prefix.len() + hash.as_ref().len();
    // At least eight octets of padding (RFC 8017 §9.2 step 3).
    if size < tail_length + 11 || recovered.len() != size - 1 {
        return Err(VerifyError::BadSignature);
    }
    let padding_end = size - 1 - tail_length - 1;
    let well_formed = recovered[0] == 0x01
        && recovered[1..padding_end].iter().all(|&octet| octet == 0xff)
        && recovered[padding_end] == 0x00
        && recovered[padding_end + 1..padding_end + 1 + prefix.len()] == *prefix
        && recovered[padding_end + 1 + prefix.len()..] == *hash.as_ref();
    if well_formed {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

/// Verifies a DSA signature (RFC 2536 §3: T, R, S) by a DSA public key
/// (RFC 2536 §2: T, Q, P, G, Y) over `data`, with SHA-1 (FIPS 186).
pub(crate) fn verify_dsa(key: &[u8], data: &[u8], signature: &[u8]) -> Result<(), VerifyError> {
    let (&t, rest) = key.split_first().ok_or(VerifyError::BadKey)?;
    let t = usize::from(t);
    let width = 64 + 8 * t;
    if t > MAX_DSA_T || rest.len() != DSA_Q_OCTETS + 3 * width {
        return Err(VerifyError::BadKey);
    }
    let (q, rest) = rest.split_at(DSA_Q_OCTETS);
    let (p, rest) = rest.split_at(width);
    let (g, y) = rest.split_at(width);
    let [q, p, g, y] = [q, p, g, y].map(BigUint::from_bytes_be);
    let zero = BigUint::ZERO;
    let one = BigUint::from(1u8);
    if q <= one || p <= one {
        return Err(VerifyError::BadKey);
    }
    // The signature's T octet is informational; R and S follow it.
    if signature.len() != 1 + 2 * DSA_Q_OCTETS {
        return Err(VerifyError::BadSignature);
    }
    let r = BigUint::from_bytes_be(&signature[1..=DSA_Q_OCTETS]);
    let s = BigUint::from_bytes_be(&signature[1 + DSA_Q_OCTETS..]);
    if r == zero || r >= q || s == zero || s >= q {
        return Err(VerifyError::BadSignature);
    }
    // w = s⁻¹ mod q, by Fermat's little theorem (q is prime).
    let w = s.modpow(&(&q - 2u8), &q);
    if (&s * &w) % &q != one {
        return Err(VerifyError::BadKey);
    }
    let hash = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, data);
    let z = BigUint::from_bytes_be(hash.as_ref());
    let u1 = (z * &w) % &q;
    let u2 = (&r * &w) % &q;
    let v = ((g.modpow(&u1, &p) * y.modpow(&u2, &p)) % &p) % &q;
    if v == r {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DSA key and a signature made with it over "hanse", from small
    /// textbook-sized numbers scaled to the wire layout: computed here with
    /// the signing equation, so the test checks verification against an
    /// independent computation.
    fn sign_dsa(data: &[u8], t: u8) -> (Vec<u8>, Vec<u8>) {
        // q: a 160-bit prime; p = k·q + 1 prime; g = h^((p-1)/q) mod p.
        // Found by `dsa_parameters` below rather than hard-coded.
        let (q, p) = dsa_parameters(usize::from(t));
        let h = BigUint::from(2u8);
        let g = h.modpow(&((&p - 1u8) / &q), &p);
        let x = BigUint::from(0x1234_5678_9abc_def0_u64) % &q;
        let y = g.modpow(&x, &p);
        let k = BigUint::from(0x0fed_cba9_8765_4321_u64) % &q;
        let r = g.modpow(&k, &p) % &q;
        let z = BigUint::from_bytes_be(
            digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, data).as_ref(),
        );
        let k_inverse = k.modpow(&(&q - 2u8), &q);
        let s = (k_inverse * (z + &x * &r)) % &q;
        let width = 64 + 8 * usize::from(t);
        let padded = |number: &BigUint, length: usize| {
            let bytes = number.to_bytes_be();
            let mut out = vec![0; length - bytes.len()];
            out.extend(bytes);
            out
        };
        let mut key = vec![t];
        key.extend(padded(&q, DSA_Q_OCTETS));
        key.extend(padded(&p, width));
        key.extend(padded(&g, width));
        key.extend(padded(&y, width));
        let mut signature = vec![t];
        signature.extend(padded(&r, DSA_Q_OCTETS));
        signature.extend(padded(&s, DSA_Q_OCTETS));
        (key, signature)
    }

    /// Miller–Rabin with fixed bases: enough for test parameters.
    fn probably_prime(n: &BigUint) -> bool {
        let one = BigUint::from(1u8);
        let two = BigUint::from(2u8);
        if *n < two || (n % 2u8) == BigUint::ZERO {
            return *n == two;
        }
        let n_minus_one = n - 1u8;
        let mut d = n_minus_one.clone();
        let mut shifts = 0;
        while (&d % 2u8) == BigUint::ZERO {
            d >>= 1;
            shifts += 1;
        }
        for base in [2u8, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37] {
            let mut x = BigUint::from(base).modpow(&d, n);
            if x == one || x == n_minus_one {
                continue;
            }
            let mut composite = true;
            for _ in 1..shifts {
                x = x.modpow(&two, n);
                if x == n_minus_one {
                    composite = false;
                    break;
                }
            }
            if composite {
                return false;
            }
        }
        true
    }

    /// A 160-bit prime q and a prime p = k·q + 1 of exactly 64 + 8·t octets.
    fn dsa_parameters(t: usize) -> (BigUint, BigUint) {
        let mut q = (BigUint::from(1u8) << 159) + 1u8;
        while !probably_prime(&q) {
            q += 2u8;
        }
        let bits = (64 + 8 * t) * 8;
        let mut k = ((BigUint::from(1u8) << (bits - 1)) / &q) + 1u8;
        if (&k % 2u8) == BigUint::from(1u8) {
            k += 1u8;
        }
        for _ in 0..100_000 {
            let p = &k * &q + 1u8;
            if probably_prime(&p) {
                return (q, p);
            }
            k += 2u8;
        }
        panic!("no DSA test prime found");
    }

    #[test]
    fn dsa_signatures_verify_and_forgeries_do_not() {
        let (key, signature) = sign_dsa(b"hanse", 0);
        assert_eq!(verify_dsa(&key, b"hanse", &signature), Ok(()));
        assert_eq!(
            verify_dsa(&key, b"hansa", &signature),
            Err(VerifyError::BadSignature)
        );
        let mut bad = signature.clone();
        bad[5] ^= 1;
        assert_eq!(
            verify_dsa(&key, b"hanse", &bad),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify_dsa(&key[..key.len() - 1], b"hanse", &signature),
            Err(VerifyError::BadKey)
        );
        assert_eq!(
            verify_dsa(&key, b"hanse", &signature[..40]),
            Err(VerifyError::BadSignature)
        );
        let zero_r = [0u8; 41];
        assert_eq!(
            verify_dsa(&key, b"hanse", &zero_r),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify_dsa(&[], b"hanse", &signature),
            Err(VerifyError::BadKey)
        );
    }

    #[test]
    fn short_rsa_signatures_verify_and_forgeries_do_not() {
        // A 512-bit key made from two primes found here; the signature is
        // the encoded message raised to the private exponent.
        let first = next_prime((BigUint::from(1u8) << 255) + 12345u32);
        let second = next_prime((BigUint::from(1u8) << 255) + 987_654_321u32);
        let modulus = &first * &second;
        let exponent = BigUint::from(65537u32);
        let phi = (&first - 1u8) * (&second - 1u8);
        let private = modular_inverse(&exponent, &phi);
        let size = modulus.to_bytes_be().len();
        let hash = digest::digest(&digest::SHA256, b"hanse");
        let prefix = RsaDigest::Sha256.digest_info_prefix();
        let mut encoded = vec![0x00, 0x01];
        encoded.resize(size - prefix.len() - hash.as_ref().len() - 1, 0xff);
        encoded.push(0x00);
        encoded.extend_from_slice(prefix);
        encoded.extend_from_slice(hash.as_ref());
        let signature = BigUint::from_bytes_be(&encoded)
            .modpow(&private, &modulus)
            .to_bytes_be();
        let (e, n) = (exponent.to_bytes_be(), modulus.to_bytes_be());
        assert_eq!(
            verify_rsa_pkcs1(RsaDigest::Sha256, &e, &n, b"hanse", &signature),
            Ok(())
        );
        assert_eq!(
            verify_rsa_pkcs1(RsaDigest::Sha256, &e, &n, b"hansa", &signature),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify_rsa_pkcs1(RsaDigest::Sha1, &e, &n, b"hanse", &signature),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify_rsa_pkcs1(RsaDigest::Sha256, &e, &n, b"hanse", &n),
            Err(VerifyError::BadSignature)
        );
    }

    fn next_prime(mut candidate: BigUint) -> BigUint {
        if (&candidate % 2u8) == BigUint::ZERO {
            candidate += 1u8;
        }
        for _ in 0..100_000 {
            if probably_prime(&candidate) {
                return candidate;
            }
            candidate += 2u8;
        }
        panic!("no test prime found");
    }

    /// The inverse of `value` modulo `modulus` (extended Euclid on signed
    /// values kept as offsets modulo `modulus`).
    fn modular_inverse(value: &BigUint, modulus: &BigUint) -> BigUint {
        let (mut old_r, mut r) = (value.clone(), modulus.clone());
        let (mut old_s, mut s) = (BigUint::from(1u8), BigUint::ZERO);
        while r != BigUint::ZERO {
            let quotient = &old_r / &r;
            let next_r = &old_r - &quotient * &r;
            old_r = std::mem::replace(&mut r, next_r);
            let product = (&quotient * &s) % modulus;
            let next_s = (&old_s + modulus - product) % modulus;
            old_s = std::mem::replace(&mut s, next_s);
        }
        old_s
    }
}
