//! seqcore: the sequencer's compiled request path. `tx` (decoding, sender recovery) and `sign`
//! (a promise's EIP-712 digest and signature) are the pure core (tested by `cargo test`);
//! `python` is the PyO3 module over it (built by maturin with the `python` feature).

pub mod sign;
pub mod tx;

#[cfg(feature = "python")]
mod python {
    use crate::sign;
    use crate::tx;
    use pyo3::exceptions::PyValueError;
    use pyo3::prelude::*;
    use pyo3::types::{PyBytes, PyInt, PyTuple};

    /// A big-endian unsigned integer (at most 32 bytes) as a Python int.
    fn big_int<'py>(py: Python<'py>, be: &[u8]) -> PyResult<Bound<'py, PyAny>> {
        if be.len() <= 16 {
            let n = be.iter().fold(0u128, |n, &x| (n << 8) | x as u128);
            return Ok(n.into_pyobject(py)?.into_any());
        }
        py.get_type::<PyInt>()
            .call_method1("from_bytes", (PyBytes::new(py, be), "big"))
    }

    /// Decode a raw signed transaction of type 0, 1 or 2 and recover its sender.
    ///
    /// Returns the fields of `sequencer.mempool.DecodedTx` after `raw`, in its order (tx_hash,
    /// tx_type, chain_id, nonce, gas, fee_cap, tip_cap, to, value, data, access_addresses,
    /// access_keys, sender), or None when the fast path does not take it: the caller then runs
    /// the Python decoder, which words the refusal (or takes a rare shape this path leaves).
    #[pyfunction]
    fn decode_tx<'py>(py: Python<'py>, raw: &[u8]) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let t = match tx::decode_tx(raw) {
            Ok(t) => t,
            Err(_) => return Ok(None),
        };
        let to = match t.to {
            Some(to) => PyBytes::new(py, to).into_any(),
            None => py.None().into_bound(py),
        };
        let items: [Bound<'py, PyAny>; 13] = [
            PyBytes::new(py, &t.tx_hash).into_any(),
            t.tx_type.into_pyobject(py)?.into_any(),
            t.chain_id.into_pyobject(py)?.into_any(),
            t.nonce.into_pyobject(py)?.into_any(),
            t.gas.into_pyobject(py)?.into_any(),
            big_int(py, t.fee_cap)?,
            big_int(py, t.tip_cap)?,
            to,
            big_int(py, t.value)?,
            PyBytes::new(py, t.data).into_any(),
            t.access_addresses.into_pyobject(py)?.into_any(),
            t.access_keys.into_pyobject(py)?.into_any(),
            tx::checksum_address(&t.sender)
                .into_pyobject(py)?
                .into_any(),
        ];
        Ok(Some(PyTuple::new(py, items)?))
    }

    /// The EIP-55 checksummed hex of a 20-byte address.
    #[pyfunction]
    fn checksum_address(address: &[u8]) -> PyResult<String> {
        let a: [u8; 20] = address
            .try_into()
            .map_err(|_| pyo3::exceptions::PyValueError::new_err("address must be 20 bytes"))?;
        Ok(tx::checksum_address(&a))
    }

    fn b32(value: &[u8], what: &str) -> PyResult<[u8; 32]> {
        value
            .try_into()
            .map_err(|_| PyValueError::new_err(format!("{what} must be 32 bytes")))
    }

    /// Signs `Preconf` promises of one EIP-712 domain with one key: the same 65 bytes as
    /// `sequencer.commitments.Signer.sign_digest(preconf digest)` (RFC 6979, low s, v 27/28).
    #[pyclass(frozen, module = "seqcore")]
    struct PreconfSigner(sign::PreconfSigner);

    #[pymethods]
    impl PreconfSigner {
        #[new]
        fn new(key: &[u8], separator: &[u8], typehash: &[u8]) -> PyResult<Self> {
            let signer = sign::PreconfSigner::new(
                &b32(key, "key")?,
                b32(separator, "separator")?,
                b32(typehash, "typehash")?,
            )
            .map_err(|_| PyValueError::new_err("invalid secp256k1 private key"))?;
            Ok(Self(signer))
        }

        /// The promise's EIP-712 digest.
        fn digest<'py>(
            &self,
            py: Python<'py>,
            chain_id: u64,
            block_number: u64,
            index: u64,
            tx_hash: &[u8],
            deadline: u64,
        ) -> PyResult<Bound<'py, PyBytes>> {
            let tx_hash = b32(tx_hash, "tx_hash")?;
            let d = self
                .0
                .digest(chain_id, block_number, index, &tx_hash, deadline);
            Ok(PyBytes::new(py, &d))
        }

        /// r || s || v of the promise's digest.
        fn sign<'py>(
            &self,
            py: Python<'py>,
            chain_id: u64,
            block_number: u64,
            index: u64,
            tx_hash: &[u8],
            deadline: u64,
        ) -> PyResult<Bound<'py, PyBytes>> {
            let tx_hash = b32(tx_hash, "tx_hash")?;
            let sig = self
                .0
                .sign(chain_id, block_number, index, &tx_hash, deadline);
            Ok(PyBytes::new(py, &sig))
        }

        /// r || s || v of any 32-byte digest.
        fn sign_digest<'py>(
            &self,
            py: Python<'py>,
            digest: &[u8],
        ) -> PyResult<Bound<'py, PyBytes>> {
            Ok(PyBytes::new(
                py,
                &self.0.sign_digest(&b32(digest, "digest")?),
            ))
        }
    }

    #[pymodule]
    fn seqcore(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_function(wrap_pyfunction!(decode_tx, m)?)?;
        m.add_function(wrap_pyfunction!(checksum_address, m)?)?;
        m.add_class::<PreconfSigner>()?;
        m.add("MAX_TX_SIZE", tx::MAX_TX_SIZE)?;
        Ok(())
    }
}
