//! Decoding a raw signed transaction of type 0, 1 or 2: strict RLP, the field shapes, the
//! transaction hash, the signing hash and the sender recovered with libsecp256k1.
//!
//! This is the fast path of `sequencer.mempool.decode_tx`. It accepts exactly what the Python
//! decoder accepts and gives the same fields; it never words a refusal. Anything it does not
//! take (malformed input, a bad signature, or a rare shape such as a chain id or gas above
//! 2^64) is `Err`, and the caller then runs the Python decoder, which gives the verdict and
//! geth's words. So the judge stays one: a transaction is refused only by the Python code, and
//! the parity test (`tests/sequencer/test_native_parity.py`) proves the accepted fields equal.

use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::Message;
use tiny_keccak::{Hasher, Keccak};

/// geth's txMaxSize (4 slots of 32 KiB).
pub const MAX_TX_SIZE: usize = 128 * 1024;
/// Deeper nesting than a transaction has (4 levels) is left to the Python decoder.
const MAX_DEPTH: usize = 8;

/// The secp256k1 group order n, big-endian.
const SECP256K1_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];
/// n / 2 (floor), big-endian: the largest low s.
const SECP256K1_HALF_N: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
];

/// Why the fast path did not take a transaction (for tests and logs; never shown to a user).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// Not canonical RLP, or RLP of the wrong shape for a transaction.
    Rlp,
    /// Size, type byte, field count or a field's form is not one the rules accept.
    Shape,
    /// v, r, s out of range, or no public key recovers.
    Signature,
    /// Valid perhaps, but rare: the Python decoder handles it (e.g. a field above 2^64).
    Rare,
}

/// An RLP item: a byte string or a list, borrowing the input; `span` is its whole encoding.
#[derive(Debug, Clone)]
pub enum Item<'a> {
    Bytes(&'a [u8], &'a [u8]),
    List(Vec<Item<'a>>, &'a [u8]),
}

impl<'a> Item<'a> {
    fn span(&self) -> &'a [u8] {
        match self {
            Item::Bytes(_, span) | Item::List(_, span) => span,
        }
    }
}

fn be_len(bytes: &[u8]) -> Result<usize, Miss> {
    if bytes.len() > 8 {
        return Err(Miss::Rlp);
    }
    let mut n: u64 = 0;
    for &b in bytes {
        n = (n << 8) | b as u64;
    }
    usize::try_from(n).map_err(|_| Miss::Rlp)
}

/// One item at `start`: the item and the position after it. Strict like pyrlp's `decode`
/// (strict=True): a single byte below 0x80 in a one-byte string, a long form for a short
/// length, or a length with a leading zero byte is refused; nothing may run past the input.
fn item(buf: &[u8], start: usize, depth: usize) -> Result<(Item<'_>, usize), Miss> {
    let b0 = *buf.get(start).ok_or(Miss::Rlp)?;
    if b0 < 0x80 {
        let end = start + 1;
        return Ok((Item::Bytes(&buf[start..end], &buf[start..end]), end));
    }
    let (is_list, header, length) = if b0 < 0xb8 {
        let length = (b0 - 0x80) as usize;
        if length == 1 && *buf.get(start + 1).ok_or(Miss::Rlp)? < 0x80 {
            return Err(Miss::Rlp);
        }
        (false, 1, length)
    } else if !(0xc0..0xf8).contains(&b0) {
        let is_list = b0 >= 0xf8;
        let ll = (if is_list { b0 - 0xf7 } else { b0 - 0xb7 }) as usize;
        let len_bytes = buf.get(start + 1..start + 1 + ll).ok_or(Miss::Rlp)?;
        if len_bytes[0] == 0 {
            return Err(Miss::Rlp);
        }
        let length = be_len(len_bytes)?;
        if length < 56 {
            return Err(Miss::Rlp);
        }
        (is_list, 1 + ll, length)
    } else {
        (true, 1, (b0 - 0xc0) as usize)
    };
    let body = start + header;
    let end = body.checked_add(length).ok_or(Miss::Rlp)?;
    if end > buf.len() {
        return Err(Miss::Rlp);
    }
    let span = &buf[start..end];
    if !is_list {
        return Ok((Item::Bytes(&buf[body..end], span), end));
    }
    if depth >= MAX_DEPTH {
        return Err(Miss::Rare);
    }
    let mut items = Vec::new();
    let mut pos = body;
    while pos < end {
        let (child, next) = item(buf, pos, depth + 1)?;
        items.push(child);
        pos = next;
    }
    if pos > end {
        return Err(Miss::Rlp);
    }
    Ok((Item::List(items, span), end))
}

/// The whole input as one RLP item (no trailing bytes).
pub fn decode_rlp(buf: &[u8]) -> Result<Item<'_>, Miss> {
    let (it, end) = item(buf, 0, 0)?;
    if end != buf.len() {
        return Err(Miss::Rlp);
    }
    Ok(it)
}

pub fn keccak(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Keccak::v256();
    for p in parts {
        h.update(p);
    }
    let mut out = [0u8; 32];
    h.finalize(&mut out);
    out
}

fn bytes<'a>(it: &Item<'a>) -> Result<&'a [u8], Miss> {
    match it {
        Item::Bytes(b, _) => Ok(b),
        Item::List(..) => Err(Miss::Shape),
    }
}

/// A canonical unsigned integer of at most 32 bytes, as its big-endian bytes (no leading zero).
fn uint<'a>(it: &Item<'a>) -> Result<&'a [u8], Miss> {
    let b = bytes(it)?;
    if b.first() == Some(&0) || b.len() > 32 {
        return Err(Miss::Shape);
    }
    Ok(b)
}

/// A canonical unsigned integer that fits 64 bits (a larger one is left to Python).
fn u64_of(it: &Item<'_>) -> Result<u64, Miss> {
    let b = uint(it)?;
    if b.len() > 8 {
        return Err(Miss::Rare);
    }
    Ok(b.iter().fold(0u64, |n, &x| (n << 8) | x as u64))
}

fn to_of<'a>(it: &Item<'a>) -> Result<Option<&'a [u8]>, Miss> {
    let b = bytes(it)?;
    match b.len() {
        0 => Ok(None),
        20 => Ok(Some(b)),
        _ => Err(Miss::Shape),
    }
}

fn access_list(it: &Item<'_>) -> Result<(u64, u64), Miss> {
    let Item::List(entries, _) = it else {
        return Err(Miss::Shape);
    };
    let (mut addresses, mut keys) = (0u64, 0u64);
    for entry in entries {
        let Item::List(pair, _) = entry else {
            return Err(Miss::Shape);
        };
        if pair.len() != 2 {
            return Err(Miss::Shape);
        }
        match (&pair[0], &pair[1]) {
            (Item::Bytes(address, _), Item::List(slots, _)) if address.len() == 20 => {
                for slot in slots {
                    match slot {
                        Item::Bytes(key, _) if key.len() == 32 => {}
                        _ => return Err(Miss::Shape),
                    }
                }
                addresses += 1;
                keys += slots.len() as u64;
            }
            _ => return Err(Miss::Shape),
        }
    }
    Ok((addresses, keys))
}

fn left_pad32(b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[32 - b.len()..].copy_from_slice(b);
    out
}

/// The 20-byte address that signed `msg_hash`, under the Python decoder's rules: y parity 0
/// or 1, 0 < r < n, 0 < s <= n/2 (low s).
pub fn recover(msg_hash: &[u8; 32], y_parity: u64, r: &[u8], s: &[u8]) -> Result<[u8; 20], Miss> {
    let (r, s) = (left_pad32(r), left_pad32(s));
    let zero = [0u8; 32];
    if y_parity > 1 || r == zero || r >= SECP256K1_N || s == zero || s > SECP256K1_HALF_N {
        return Err(Miss::Signature);
    }
    let mut compact = [0u8; 64];
    compact[..32].copy_from_slice(&r);
    compact[32..].copy_from_slice(&s);
    let recid = RecoveryId::try_from(y_parity as i32).map_err(|_| Miss::Signature)?;
    let sig = RecoverableSignature::from_compact(&compact, recid).map_err(|_| Miss::Signature)?;
    let msg = Message::from_digest(*msg_hash);
    let public = sig.recover_ecdsa(msg).map_err(|_| Miss::Signature)?;
    let uncompressed = public.serialize_uncompressed();
    let digest = keccak(&[&uncompressed[1..]]);
    let mut address = [0u8; 20];
    address.copy_from_slice(&digest[12..]);
    Ok(address)
}

/// EIP-55 checksummed hex of an address, "0x" included.
pub fn checksum_address(address: &[u8; 20]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut lower = [0u8; 40];
    for (i, b) in address.iter().enumerate() {
        lower[2 * i] = HEX[(b >> 4) as usize];
        lower[2 * i + 1] = HEX[(b & 0x0f) as usize];
    }
    let digest = keccak(&[&lower]);
    let mut out = String::with_capacity(42);
    out.push_str("0x");
    for (i, &c) in lower.iter().enumerate() {
        let nibble = (digest[i / 2] >> if i % 2 == 0 { 4 } else { 0 }) & 0x0f;
        out.push(if nibble > 7 {
            c.to_ascii_uppercase()
        } else {
            c
        } as char);
    }
    out
}

/// A decoded transaction, borrowing the raw bytes. Big integers are big-endian bytes without
/// leading zeros (at most 32 bytes); the empty slice is zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tx<'a> {
    pub tx_hash: [u8; 32],
    pub tx_type: u8,
    pub chain_id: u64,
    pub nonce: u64,
    pub gas: u64,
    pub fee_cap: &'a [u8],
    pub tip_cap: &'a [u8],
    pub to: Option<&'a [u8]>,
    pub value: &'a [u8],
    pub data: &'a [u8],
    pub access_addresses: u64,
    pub access_keys: u64,
    pub sender: [u8; 20],
}

fn list_header(length: usize) -> Vec<u8> {
    if length < 56 {
        return vec![0xc0 + length as u8];
    }
    let be = (length as u64).to_be_bytes();
    let skip = be.iter().take_while(|&&b| b == 0).count();
    let mut out = vec![0xf7 + (8 - skip) as u8];
    out.extend_from_slice(&be[skip..]);
    out
}

/// RLP of an unsigned integer (a byte string of its big-endian bytes, no leading zeros).
fn rlp_uint(n: u64) -> Vec<u8> {
    let be = n.to_be_bytes();
    let skip = be.iter().take_while(|&&b| b == 0).count();
    let b = &be[skip..];
    if b.len() == 1 && b[0] < 0x80 {
        return b.to_vec();
    }
    let mut out = vec![0x80 + b.len() as u8];
    out.extend_from_slice(b);
    out
}

/// The keccak of RLP(list of `items` then `extra` encoded items): the decoder is strict, so an
/// item's span is its canonical encoding and re-encoding is concatenation.
fn signing_hash(prefix: &[u8], items: &[Item<'_>], extra: &[u8]) -> [u8; 32] {
    let length = items.iter().map(|i| i.span().len()).sum::<usize>() + extra.len();
    let header = list_header(length);
    let mut h = Keccak::v256();
    h.update(prefix);
    h.update(&header);
    for i in items {
        h.update(i.span());
    }
    h.update(extra);
    let mut out = [0u8; 32];
    h.finalize(&mut out);
    out
}

fn fields<'a>(buf: &'a [u8]) -> Result<Vec<Item<'a>>, Miss> {
    match decode_rlp(buf)? {
        Item::List(items, _) => Ok(items),
        Item::Bytes(..) => Err(Miss::Rlp),
    }
}

/// Decode a raw signed transaction of type 0 (EIP-155), 1 or 2 and recover its sender.
pub fn decode_tx(raw: &[u8]) -> Result<Tx<'_>, Miss> {
    if raw.is_empty() || raw.len() > MAX_TX_SIZE {
        return Err(Miss::Shape);
    }
    let first = raw[0];
    if first >= 0xc0 {
        return decode_legacy(raw);
    }
    if first > 2 || raw.len() <= 1 {
        return Err(Miss::Shape);
    }
    let f = fields(&raw[1..])?;
    let expected = if first == 2 { 12 } else { 11 };
    if f.len() != expected {
        return Err(Miss::Shape);
    }
    let chain_id = u64_of(&f[0])?;
    let nonce = u64_of(&f[1])?;
    let (tip_cap, fee_cap, rest) = if first == 2 {
        (uint(&f[2])?, uint(&f[3])?, &f[4..])
    } else {
        let price = uint(&f[2])?;
        (price, price, &f[3..])
    };
    let gas = u64_of(&rest[0])?;
    let to = to_of(&rest[1])?;
    let value = uint(&rest[2])?;
    let data = bytes(&rest[3])?;
    let (access_addresses, access_keys) = access_list(&rest[4])?;
    let y_parity_bytes = uint(&rest[5])?;
    let (r, s) = (uint(&rest[6])?, uint(&rest[7])?);
    if y_parity_bytes.len() > 1 {
        return Err(Miss::Signature);
    }
    let y_parity = y_parity_bytes.first().copied().unwrap_or(0) as u64;
    let msg_hash = signing_hash(&[first], &f[..f.len() - 3], &[]);
    let sender = recover(&msg_hash, y_parity, r, s)?;
    Ok(Tx {
        tx_hash: keccak(&[raw]),
        tx_type: first,
        chain_id,
        nonce,
        gas,
        fee_cap,
        tip_cap,
        to,
        value,
        data,
        access_addresses,
        access_keys,
        sender,
    })
}

fn decode_legacy(raw: &[u8]) -> Result<Tx<'_>, Miss> {
    let f = fields(raw)?;
    if f.len() != 9 {
        return Err(Miss::Shape);
    }
    let nonce = u64_of(&f[0])?;
    let gas_price = uint(&f[1])?;
    let gas = u64_of(&f[2])?;
    let to = to_of(&f[3])?;
    let value = uint(&f[4])?;
    let data = bytes(&f[5])?;
    let v = u64_of(&f[6])?;
    let (r, s) = (uint(&f[7])?, uint(&f[8])?);
    if v < 35 {
        return Err(Miss::Signature); // 27/28: unprotected; below 35: bad v
    }
    let (chain_id, y_parity) = ((v - 35) / 2, (v - 35) % 2);
    let mut extra = rlp_uint(chain_id);
    extra.extend_from_slice(&[0x80, 0x80]);
    let msg_hash = signing_hash(&[], &f[..6], &extra);
    let sender = recover(&msg_hash, y_parity, r, s)?;
    Ok(Tx {
        tx_hash: keccak(&[raw]),
        tx_type: 0,
        chain_id,
        nonce,
        gas,
        fee_cap: gas_price,
        tip_cap: gas_price,
        to,
        value,
        data,
        access_addresses: 0,
        access_keys: 0,
        sender,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Signed by the key 0x11..11 (eth-account), with the hashes the Python decoder gives.
    const VECTORS: [(&str, &str); 3] = [
        ("02f87482038505843b9aca0084b2d05e0082520894abababababababababababababababababababab880de0b6b3a764000080c001a015065fe098bcc77a338db55a01913bc04f7adeb64ec3e5cc69f68782ed8c98a8a0074bfbaa0cf8f9135eddc5670b2fab59fdf7ef96a9e1133e60cf3f2c8bcfff8e", "dab6515453bdb36977ca5ba4109dc7282efcc5172eb0694ea5e815cd95183f8c"),
        ("01f9010182038680843b9aca00830186a08080b8506000600060006000600060006000600060006000600060006000600060006000600060006000600060006000600060006000600060006000600060006000600060006000600060006000600060006000f85bf85994cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdf842a00000000000000000000000000000000000000000000000000000000000000000a0111111111111111111111111111111111111111111111111111111111111111101a0de92241311ed2171691b91b4dff497dde7260d79d8fa8a9ca585a77373c1e3cda073dae7e5f6af722010f912ce67b2788f35105d120df3ba43174e80664c23e801", "72d931646c9a9a3cb3e1df04fd494d55f112a7c5cce8debf6dcdae5c12d926d5"),
        ("f9012e07847735940082c35094efefefefefefefefefefefefefefefefefefefef01b8c8000100010001000100010001000100010001000100010001000100010001000100010001000100010001000100010001000100010001000100010001000100010001000100010001000100010001000100010001000100010001000100010001000100010001000100010001000100010001000100010001000100010001000100010001000100010001000100010001000100010001000100010001000100010001000100010001000100010001000100010001000100010001000100010001000100010001000182072ea050834f986b831914ad545a0f9d86d068b94fee534d83374e4d673b1cb6c28bcaa06d0ccf940db2ef436eb3eed40779acf62e504347ecf09727865f5e85629e23ca", "82ade5dbc74a4395039e9ca64972957323b7177ea27e3498a257314ace8e78b0"),
    ];
    const SENDER: &str = "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn raw(i: usize) -> Vec<u8> {
        unhex(VECTORS[i].0)
    }

    #[test]
    fn decodes_each_type_with_hash_and_sender() {
        for (i, (_, hash)) in VECTORS.iter().enumerate() {
            let r = raw(i);
            let tx = decode_tx(&r).expect("a valid transaction");
            assert_eq!(tx.tx_hash.to_vec(), unhex(hash));
            assert_eq!(checksum_address(&tx.sender), SENDER);
        }
        let r = raw(0);
        let tx = decode_tx(&r).unwrap();
        assert_eq!(
            (tx.tx_type, tx.chain_id, tx.nonce, tx.gas),
            (2, 901, 5, 21_000)
        );
        assert_eq!(tx.tip_cap, &1_000_000_000u64.to_be_bytes()[4..]);
        assert_eq!(tx.fee_cap, &3_000_000_000u64.to_be_bytes()[4..]);
        assert_eq!(tx.to, Some(&[0xab; 20][..]));
        assert!(tx.data.is_empty());
        let r = raw(1);
        let tx = decode_tx(&r).unwrap();
        assert_eq!((tx.tx_type, tx.chain_id, tx.to), (1, 902, None));
        assert_eq!((tx.access_addresses, tx.access_keys), (1, 2));
        let r = raw(2);
        let tx = decode_tx(&r).unwrap();
        assert_eq!((tx.tx_type, tx.chain_id, tx.nonce), (0, 901, 7));
        assert_eq!(tx.data.len(), 200);
    }

    #[test]
    fn any_flipped_bit_changes_or_refuses() {
        // A flipped bit gives another sender, another field, or no transaction: never the same.
        for i in 0..VECTORS.len() {
            let r = raw(i);
            let good = decode_tx(&r).unwrap();
            for byte in 0..r.len() {
                for bit in 0..8 {
                    let mut m = r.clone();
                    m[byte] ^= 1 << bit;
                    if let Ok(tx) = decode_tx(&m) {
                        assert_ne!(tx.tx_hash, good.tx_hash);
                    }
                }
            }
        }
    }

    #[test]
    fn truncated_or_extended_input_is_refused() {
        let r = raw(0);
        for n in 0..r.len() {
            assert!(decode_tx(&r[..n]).is_err(), "prefix of {n} bytes");
        }
        let mut longer = r.clone();
        longer.push(0);
        assert_eq!(decode_tx(&longer), Err(Miss::Rlp));
    }

    #[test]
    fn blob_set_code_and_unknown_types_are_refused() {
        let r = raw(0);
        for t in [3u8, 4, 5, 0x7f] {
            let mut m = r.clone();
            m[0] = t;
            assert_eq!(decode_tx(&m), Err(Miss::Shape));
        }
        assert_eq!(decode_tx(&[]), Err(Miss::Shape));
        assert_eq!(decode_tx(&[2]), Err(Miss::Shape));
        assert_eq!(decode_tx(&vec![0xc0; MAX_TX_SIZE + 1]), Err(Miss::Shape));
    }

    #[test]
    fn strict_rlp_like_pyrlp() {
        // canonical forms decode
        assert!(matches!(decode_rlp(&[0x7f]), Ok(Item::Bytes(b"\x7f", _))));
        assert!(matches!(
            decode_rlp(&[0x81, 0x80]),
            Ok(Item::Bytes(b"\x80", _))
        ));
        assert!(matches!(decode_rlp(&[0xc0]), Ok(Item::List(v, _)) if v.is_empty()));
        // a single byte below 0x80 in a one-byte string
        assert_eq!(decode_rlp(&[0x81, 0x05]).unwrap_err(), Miss::Rlp);
        // a long form for a short length, and a length with a leading zero
        let mut long_short = vec![0xb8, 55];
        long_short.extend([1u8; 55]);
        assert_eq!(decode_rlp(&long_short).unwrap_err(), Miss::Rlp);
        let mut zero_len = vec![0xb9, 0x00, 56];
        zero_len.extend([1u8; 56]);
        assert_eq!(decode_rlp(&zero_len).unwrap_err(), Miss::Rlp);
        let mut long_list_short = vec![0xf8, 2];
        long_list_short.extend([0x01, 0x02]);
        assert_eq!(decode_rlp(&long_list_short).unwrap_err(), Miss::Rlp);
        // an item running past its list, past the input, or trailing bytes
        assert_eq!(
            decode_rlp(&[0xc1, 0x82, 0x80, 0x80]).unwrap_err(),
            Miss::Rlp
        );
        assert_eq!(decode_rlp(&[0x83, 0x80, 0x80]).unwrap_err(), Miss::Rlp);
        assert_eq!(decode_rlp(&[0x80, 0x80]).unwrap_err(), Miss::Rlp);
        // a length that overflows
        assert_eq!(
            decode_rlp(&[0xbf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).unwrap_err(),
            Miss::Rlp
        );
        // deep nesting is left to the Python decoder
        let deep = vec![
            0xc0 + 12,
            0xcb,
            0xca,
            0xc9,
            0xc8,
            0xc7,
            0xc6,
            0xc5,
            0xc4,
            0xc3,
            0xc2,
            0xc1,
            0xc0,
        ];
        assert_eq!(decode_rlp(&deep).unwrap_err(), Miss::Rare);
    }

    #[test]
    fn high_s_and_bad_parity_are_refused() {
        let msg = [7u8; 32];
        let one = [1u8];
        assert_eq!(recover(&msg, 2, &one, &one), Err(Miss::Signature));
        assert_eq!(recover(&msg, 0, &[], &one), Err(Miss::Signature));
        assert_eq!(recover(&msg, 0, &one, &SECP256K1_N), Err(Miss::Signature));
        let mut above_half = SECP256K1_HALF_N;
        above_half[31] += 1;
        assert_eq!(recover(&msg, 0, &one, &above_half), Err(Miss::Signature));
        assert_eq!(recover(&msg, 0, &SECP256K1_N, &one), Err(Miss::Signature));
    }

    #[test]
    fn checksum_matches_eip55() {
        let a: [u8; 20] = unhex("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")
            .try_into()
            .unwrap();
        assert_eq!(
            checksum_address(&a),
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
        );
    }
}
