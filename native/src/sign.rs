//! The promise's signature: the EIP-712 digest of a `Preconf` and its secp256k1 signature
//! (RFC 6979 nonce, low s, v in {27, 28}), the same bytes as `sequencer.commitments.Signer`.
//!
//! The crate's high-level `sign_ecdsa_recoverable` re-randomizes its global context before every
//! signature (a second scalar multiplication by the generator); this signer keeps its own context,
//! randomized once, and calls libsecp256k1 directly. Randomizing the context blinds the
//! computation only: the signature bytes depend on the key and the digest alone.

use crate::tx::keccak;
use secp256k1::ffi::recovery::{
    secp256k1_ecdsa_recoverable_signature_serialize_compact, secp256k1_ecdsa_sign_recoverable,
    RecoverableSignature,
};
use secp256k1::ffi::{secp256k1_nonce_function_rfc6979, CPtr};
use secp256k1::{Secp256k1, SecretKey, SignOnly};

/// A key that is zero or not below the group order.
#[derive(Debug, PartialEq, Eq)]
pub struct BadKey;

/// Signs `Preconf` promises of one EIP-712 domain with one key.
pub struct PreconfSigner {
    ctx: Secp256k1<SignOnly>,
    key: SecretKey,
    separator: [u8; 32],
    typehash: [u8; 32],
}

fn word(n: u64) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[24..].copy_from_slice(&n.to_be_bytes());
    out
}

impl PreconfSigner {
    /// `separator`: the domain separator; `typehash`: keccak of the `Preconf` type string.
    pub fn new(key: &[u8; 32], separator: [u8; 32], typehash: [u8; 32]) -> Result<Self, BadKey> {
        let key = SecretKey::from_secret_bytes(*key).map_err(|_| BadKey)?;
        let mut ctx = Secp256k1::signing_only();
        ctx.seeded_randomize(&keccak(&[
            &b"seqcore preconf signer"[..],
            &key.to_secret_bytes(),
        ]));
        Ok(Self {
            ctx,
            key,
            separator,
            typehash,
        })
    }

    /// keccak(0x1901 || separator || keccak(typehash || chainId || blockNumber || index ||
    /// txHash || deadline)), each number a 32-byte big-endian word.
    pub fn digest(
        &self,
        chain_id: u64,
        block_number: u64,
        index: u64,
        tx_hash: &[u8; 32],
        deadline: u64,
    ) -> [u8; 32] {
        let strukt = keccak(&[
            &self.typehash[..],
            &word(chain_id),
            &word(block_number),
            &word(index),
            &tx_hash[..],
            &word(deadline),
        ]);
        keccak(&[&b"\x19\x01"[..], &self.separator, &strukt])
    }

    /// r || s || v (65 bytes), v = 27 + recovery id, s low (libsecp256k1 always signs low s).
    pub fn sign_digest(&self, digest: &[u8; 32]) -> [u8; 65] {
        let mut sig = RecoverableSignature::new();
        let mut out = [0u8; 65];
        let mut recid: i32 = 0;
        // SAFETY: the context is a live signing context owned by self; every pointer is to a
        // buffer of the size libsecp256k1 reads or writes (32-byte digest and key, 64-byte
        // output); a valid SecretKey and any digest always sign (the return value is 1).
        unsafe {
            let ok = secp256k1_ecdsa_sign_recoverable(
                self.ctx.ctx().as_ptr(),
                &mut sig,
                digest.as_ptr(),
                self.key.as_c_ptr(),
                secp256k1_nonce_function_rfc6979,
                std::ptr::null(),
            );
            assert_eq!(ok, 1);
            secp256k1_ecdsa_recoverable_signature_serialize_compact(
                self.ctx.ctx().as_ptr(),
                out.as_mut_ptr(),
                &mut recid,
                &sig,
            );
        }
        out[64] = 27 + recid as u8;
        out
    }

    /// The promise's signature for these fields.
    pub fn sign(
        &self,
        chain_id: u64,
        block_number: u64,
        index: u64,
        tx_hash: &[u8; 32],
        deadline: u64,
    ) -> [u8; 65] {
        self.sign_digest(&self.digest(chain_id, block_number, index, tx_hash, deadline))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secp256k1::ecdsa::{RecoverableSignature as Sig, RecoveryId};
    use secp256k1::{Message, PublicKey};

    const HALF_N: [u8; 32] = [
        0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b,
        0x20, 0xa0,
    ];

    #[test]
    fn signature_recovers_to_the_key_with_low_s_and_v_27_or_28() {
        let key = keccak(&[&b"key"[..]]);
        let (domain, typehash) = (keccak(&[&b"domain"[..]]), keccak(&[&b"type"[..]]));
        let signer = PreconfSigner::new(&key, domain, typehash).unwrap();
        let public = PublicKey::from_secret_key(&SecretKey::from_secret_bytes(key).unwrap());
        for i in 0..64u64 {
            let digest = signer.digest(901, i, i * 7, &keccak(&[&i.to_be_bytes()[..]]), 1000 + i);
            let sig = signer.sign_digest(&digest);
            assert!(sig[64] == 27 || sig[64] == 28);
            assert!(sig[32..64] <= HALF_N[..]);
            let recid = RecoveryId::try_from((sig[64] - 27) as i32).unwrap();
            let rec = Sig::from_compact(&sig[..64], recid).unwrap();
            assert_eq!(
                rec.recover_ecdsa(Message::from_digest(digest)).unwrap(),
                public
            );
            assert_eq!(signer.sign_digest(&digest), sig); // RFC 6979: deterministic
        }
    }

    #[test]
    fn digest_is_eip712_of_the_fields() {
        let signer = PreconfSigner::new(&[1u8; 32], [2u8; 32], [3u8; 32]).unwrap();
        let mut encoded = vec![3u8; 32];
        for n in [5u64, 6, 7] {
            encoded.extend_from_slice(&word(n));
        }
        encoded.extend_from_slice(&[9u8; 32]);
        encoded.extend_from_slice(&word(8));
        let expected = keccak(&[&b"\x19\x01"[..], &[2u8; 32], &keccak(&[&encoded])]);
        assert_eq!(signer.digest(5, 6, 7, &[9u8; 32], 8), expected);
    }

    #[test]
    fn zero_and_out_of_range_keys_are_refused() {
        assert!(PreconfSigner::new(&[0u8; 32], [0; 32], [0; 32]).is_err());
        assert!(PreconfSigner::new(&[0xffu8; 32], [0; 32], [0; 32]).is_err());
    }
}
