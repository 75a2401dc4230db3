//! A reader for CTranslate2's `model.bin` (binary version 6): named tensors and scalars
//! followed by name aliases.
//!
//! Layout, all little-endian: u32 version, string spec name, u32 spec revision, u32
//! variable count, then per variable: string name, u8 rank, u32 dims × rank, u8 dtype,
//! u32 byte count, the bytes; then u32 alias count and (alias, target) string pairs. A
//! string is a u16 length (including a trailing NUL) and the bytes.

use std::collections::BTreeMap;
use std::path::Path;

use super::ConvertError;

/// The only binary version this reader accepts.
const SUPPORTED_BINARY_VERSION: u32 = 6;

/// Element types of CTranslate2 variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ct2DType {
    /// 32-bit float.
    F32,
    /// 8-bit signed integer.
    I8,
    /// 16-bit signed integer.
    I16,
    /// 32-bit signed integer.
    I32,
    /// IEEE half.
    F16,
    /// bfloat16.
    Bf16,
}

impl Ct2DType {
    fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Ct2DType::F32,
            1 => Ct2DType::I8,
            2 => Ct2DType::I16,
            3 => Ct2DType::I32,
            4 => Ct2DType::F16,
            5 => Ct2DType::Bf16,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size_bytes(self) -> usize {
        match self {
            Ct2DType::I8 => 1,
            Ct2DType::I16 | Ct2DType::F16 | Ct2DType::Bf16 => 2,
            Ct2DType::F32 | Ct2DType::I32 => 4,
        }
    }
}

/// One named variable: a tensor, or a scalar when `shape` is empty.
#[derive(Debug, Clone)]
pub struct Ct2Variable {
    /// Dimensions, outermost first (row-major).
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: Ct2DType,
    /// Raw little-endian element bytes.
    pub data: Vec<u8>,
}

impl Ct2Variable {
    /// Number of elements.
    pub fn n_elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// The elements as f32, for float types.
    pub fn to_f32(&self) -> Option<Vec<f32>> {
        match self.dtype {
            Ct2DType::F32 => Some(
                self.data
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
            ),
            Ct2DType::F16 => Some(
                self.data
                    .chunks_exact(2)
                    .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect(),
            ),
            Ct2DType::Bf16 => Some(
                self.data
                    .chunks_exact(2)
                    .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect(),
            ),
            Ct2DType::I8 | Ct2DType::I16 | Ct2DType::I32 => None,
        }
    }

    /// A scalar integer value (CTranslate2 stores hyper-parameters such as head counts so).
    pub fn scalar_int(&self) -> Option<i64> {
        if !self.shape.is_empty() {
            return None;
        }
        let b = &self.data;
        match self.dtype {
            Ct2DType::I8 => b.first().map(|&v| i64::from(v as i8)),
            Ct2DType::I16 => (b.len() >= 2).then(|| i64::from(i16::from_le_bytes([b[0], b[1]]))),
            Ct2DType::I32 => {
                (b.len() >= 4).then(|| i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            }
            Ct2DType::F32 | Ct2DType::F16 | Ct2DType::Bf16 => None,
        }
    }
}

/// A parsed `model.bin`.
#[derive(Debug, Clone)]
pub struct Ct2Model {
    /// The spec name, e.g. `WhisperSpec`.
    pub spec_name: String,
    /// The spec revision.
    pub spec_revision: u32,
    /// Variables by name.
    pub variables: BTreeMap<String, Ct2Variable>,
    /// Alias name → target variable name.
    pub aliases: BTreeMap<String, String>,
}

impl Ct2Model {
    /// Reads and parses a `model.bin`.
    pub fn read(path: &Path) -> Result<Self, ConvertError> {
        let bytes = std::fs::read(path).map_err(|source| ConvertError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&bytes).map_err(|reason| ConvertError::BadCt2 {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Parses the bytes of a `model.bin`.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let mut reader = Reader { bytes, offset: 0 };
        let version = reader.u32()?;
        if version != SUPPORTED_BINARY_VERSION {
            return Err(format!(
                "binary version {version}, only {SUPPORTED_BINARY_VERSION} is supported"
            ));
        }
        let spec_name = reader.string()?;
        let spec_revision = reader.u32()?;
        let n_variables = reader.u32()? as usize;
        let mut variables = BTreeMap::new();
        for _ in 0..n_variables {
            let name = reader.string()?;
            let rank = reader.u8()? as usize;
            let shape = (0..rank)
                .map(|_| reader.u32().map(|dim| dim as usize))
                .collect::<Result<Vec<_>, _>>()?;
            let dtype_id = reader.u8()?;
            let dtype = Ct2DType::from_id(dtype_id)
                .ok_or_else(|| format!("variable {name} has unknown dtype {dtype_id}"))?;
            let n_bytes = reader.u32()? as usize;
            // The product of the non-zero dimensions must fit too: a zero dimension must
            // not hide one that overflows when rows are sliced (found by fuzzing).
            let non_zero_product = shape
                .iter()
                .filter(|&&dim| dim != 0)
                .try_fold(1usize, |acc, &dim| acc.checked_mul(dim))
                .ok_or_else(|| format!("variable {name} has an impossible shape {shape:?}"))?;
            let n_elements = if shape.contains(&0) {
                0
            } else {
                non_zero_product
            };
            if n_elements.checked_mul(dtype.size_bytes()) != Some(n_bytes) {
                return Err(format!(
                    "variable {name}: {n_bytes} bytes do not fit shape {shape:?} of {dtype:?}"
                ));
            }
            let data = reader.take(n_bytes)?.to_vec();
            variables.insert(name, Ct2Variable { shape, dtype, data });
        }
        let mut aliases = BTreeMap::new();
        // Older exports end without an alias table.
        if reader.remaining() >= 4 {
            let n_aliases = reader.u32()? as usize;
            for _ in 0..n_aliases {
                let alias = reader.string()?;
                let target = reader.string()?;
                aliases.insert(alias, target);
            }
        }
        Ok(Self {
            spec_name,
            spec_revision,
            variables,
            aliases,
        })
    }

    /// A variable by name, following aliases.
    pub fn get(&self, name: &str) -> Option<&Ct2Variable> {
        self.variables.get(name).or_else(|| {
            self.aliases
                .get(name)
                .and_then(|target| self.variables.get(target))
        })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.offset
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.remaining() < n {
            return Err(format!(
                "file ends at byte {} but {n} more bytes were expected (truncated?)",
                self.bytes.len()
            ));
        }
        let slice = &self.bytes[self.offset..self.offset + n];
        self.offset += n;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self) -> Result<String, String> {
        let n_bytes = self.u16()? as usize;
        let raw = self.take(n_bytes)?;
        let text = raw.strip_suffix(&[0]).unwrap_or(raw);
        String::from_utf8(text.to_vec()).map_err(|_| "a name is not UTF-8".to_string())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds `model.bin` bytes from (name, shape, dtype id, data) rows and aliases.
    pub(crate) fn encode(
        variables: &[(&str, Vec<usize>, u8, Vec<u8>)],
        aliases: &[(&str, &str)],
    ) -> Vec<u8> {
        fn string(out: &mut Vec<u8>, s: &str) {
            out.extend_from_slice(&((s.len() + 1) as u16).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
            out.push(0);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&6u32.to_le_bytes());
        string(&mut out, "WhisperSpec");
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(variables.len() as u32).to_le_bytes());
        for (name, shape, dtype, data) in variables {
            string(&mut out, name);
            out.push(shape.len() as u8);
            for dim in shape {
                out.extend_from_slice(&(*dim as u32).to_le_bytes());
            }
            out.push(*dtype);
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(data);
        }
        out.extend_from_slice(&(aliases.len() as u32).to_le_bytes());
        for (alias, target) in aliases {
            string(&mut out, alias);
            string(&mut out, target);
        }
        out
    }

    #[test]
    fn parses_tensors_scalars_and_aliases() {
        let half_one = half::f16::from_f32(1.0).to_le_bytes();
        let bytes = encode(
            &[
                ("a/weight", vec![2], 4, [half_one, half_one].concat()),
                ("a/num_heads", vec![], 2, 6i16.to_le_bytes().to_vec()),
            ],
            &[("b/weight", "a/weight")],
        );
        let model = Ct2Model::parse(&bytes).unwrap();
        assert_eq!(model.spec_name, "WhisperSpec");
        assert_eq!(
            model.get("a/weight").unwrap().to_f32().unwrap(),
            vec![1.0, 1.0]
        );
        assert_eq!(model.get("b/weight").unwrap().shape, vec![2]);
        assert_eq!(model.get("a/num_heads").unwrap().scalar_int(), Some(6));
    }

    #[test]
    fn damaged_files_are_errors_not_panics() {
        let good = encode(&[("a", vec![2], 4, vec![0; 4])], &[]);
        let check = |bytes: &[u8], expected: &str| {
            let err = Ct2Model::parse(bytes).unwrap_err();
            assert!(
                err.contains(expected),
                "{err:?} should mention {expected:?}"
            );
        };
        check(&good[..good.len() - 6], "truncated");
        check(&[], "truncated");
        check(&7u32.to_le_bytes(), "binary version 7");
        check(
            &encode(&[("a", vec![3], 4, vec![0; 4])], &[]),
            "do not fit shape",
        );
        check(
            &encode(&[("a", vec![2], 9, vec![0; 4])], &[]),
            "unknown dtype 9",
        );
        let huge = u32::MAX as usize;
        check(
            &encode(&[("a", vec![0, huge, huge, huge], 0, vec![])], &[]),
            "impossible shape",
        );
    }
}
