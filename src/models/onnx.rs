//! A small, dependency-free reader for ONNX model files: the graph, its nodes and the
//! weights they hold, decoded straight from the protobuf wire format.
//!
//! Several models we run with candle (Silero VAD, Piper voices) are published only as
//! ONNX. We never execute an ONNX graph; we only need its weights and enough of its
//! structure to name them, so a full protobuf or ONNX runtime dependency is not worth
//! its weight. This module reads `ModelProto` → `GraphProto` → initializers, nodes
//! (with their attributes, including `Constant` values and the subgraphs of `If` and
//! `Loop`) and the names of the graph inputs and outputs. Fields it does not model are
//! skipped. Malformed or truncated input is an [`OnnxError`], never a panic.
//!
//! Weights appear in two places in exported files: as graph initializers (named after
//! their module path, or anonymously as `onnx::Conv_N`, in which case the consuming
//! node's name carries the path; see [`OnnxGraph::consumers`]) and as `Constant` nodes,
//! often inside `If` branches. [`OnnxGraph::weights`] lists both.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

/// How deeply subgraphs may nest before a file is treated as malformed.
const MAX_GRAPH_DEPTH: usize = 32;

/// Everything that can go wrong reading an ONNX file.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// The file could not be read.
    #[error("cannot read the ONNX file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The protobuf ends in the middle of a field.
    #[error(
        "the ONNX file is truncated: a {message} field runs past the end of the data at byte {offset}"
    )]
    Truncated {
        /// The protobuf message being read.
        message: &'static str,
        /// The byte offset in the file where the data ran out.
        offset: usize,
    },
    /// The protobuf is not well formed or does not describe an ONNX model.
    #[error("the ONNX file is malformed: {message}: {reason}")]
    Malformed {
        /// The protobuf message being read.
        message: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A tensor uses an element type this reader cannot convert.
    #[error("ONNX tensor `{name}` has element type {data_type:?}, which cannot be converted here")]
    UnsupportedDataType {
        /// The tensor's name.
        name: String,
        /// Its element type.
        data_type: DataType,
    },
    /// A tensor's data lives in a separate file.
    #[error("ONNX tensor `{name}` keeps its data in an external file, which is not supported")]
    ExternalData {
        /// The tensor's name.
        name: String,
    },
    /// A tensor holds a different amount of data than its shape needs.
    #[error(
        "ONNX tensor `{name}` of shape {dims:?} needs {expected} {unit} of data but holds {got}"
    )]
    DataSize {
        /// The tensor's name.
        name: String,
        /// Its declared shape.
        dims: Vec<i64>,
        /// How many units its shape needs.
        expected: usize,
        /// How many units it holds.
        got: usize,
        /// `bytes` for raw data, `values` for typed fields.
        unit: &'static str,
    },
    /// Building a candle tensor failed.
    #[error("cannot build a tensor from ONNX data: {0}")]
    Candle(#[from] candle_core::Error),
}

type Result<T> = std::result::Result<T, OnnxError>;

/// The element type of an ONNX tensor (`TensorProto.DataType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    /// 32-bit float.
    Float,
    /// Unsigned 8-bit integer.
    Uint8,
    /// Signed 8-bit integer.
    Int8,
    /// Unsigned 16-bit integer.
    Uint16,
    /// Signed 16-bit integer.
    Int16,
    /// Signed 32-bit integer.
    Int32,
    /// Signed 64-bit integer.
    Int64,
    /// Byte strings.
    String,
    /// Booleans, one byte each.
    Bool,
    /// IEEE 16-bit float.
    Float16,
    /// 64-bit float.
    Double,
    /// Unsigned 32-bit integer.
    Uint32,
    /// Unsigned 64-bit integer.
    Uint64,
    /// Brain 16-bit float.
    Bfloat16,
    /// Any other code (complex numbers, 8-bit and 4-bit floats, and so on).
    Other(i32),
}

impl DataType {
    /// The type for a `TensorProto.data_type` code.
    pub fn from_code(code: i32) -> Self {
        match code {
            1 => Self::Float,
            2 => Self::Uint8,
            3 => Self::Int8,
            4 => Self::Uint16,
            5 => Self::Int16,
            6 => Self::Int32,
            7 => Self::Int64,
            8 => Self::String,
            9 => Self::Bool,
            10 => Self::Float16,
            11 => Self::Double,
            12 => Self::Uint32,
            13 => Self::Uint64,
            16 => Self::Bfloat16,
            other => Self::Other(other),
        }
    }

    /// Bytes per element in `raw_data`, for the fixed-size types.
    pub fn size_in_bytes(self) -> Option<usize> {
        match self {
            Self::Uint8 | Self::Int8 | Self::Bool => Some(1),
            Self::Uint16 | Self::Int16 | Self::Float16 | Self::Bfloat16 => Some(2),
            Self::Float | Self::Int32 | Self::Uint32 => Some(4),
            Self::Int64 | Self::Double | Self::Uint64 => Some(8),
            Self::String | Self::Other(_) => None,
        }
    }
}

/// A tensor (`TensorProto`): an initializer, a `Constant` value or a tensor attribute.
///
/// The data is kept as stored: either little-endian `raw_data` or one of the typed
/// fields. Use [`OnnxTensor::to_f32_vec`], [`OnnxTensor::to_i64_vec`] or
/// [`OnnxTensor::to_candle`] to read it.
#[derive(Debug, Clone, PartialEq)]
pub struct OnnxTensor {
    /// The tensor's name; empty for most `Constant` values.
    pub name: String,
    /// The shape; empty for a scalar.
    pub dims: Vec<i64>,
    /// The element type.
    pub data_type: DataType,
    /// Little-endian packed elements, when the file uses `raw_data`.
    pub raw_data: Vec<u8>,
    /// `float_data`: elements of float tensors.
    pub float_data: Vec<f32>,
    /// `int32_data`: elements of int32, int16, int8, uint16, uint8, bool, float16 and
    /// bfloat16 tensors (the 16-bit floats as their bit patterns).
    pub int32_data: Vec<i32>,
    /// `int64_data`: elements of int64 tensors.
    pub int64_data: Vec<i64>,
    /// `double_data`: elements of double tensors.
    pub double_data: Vec<f64>,
    /// Whether the data lives in an external file.
    pub external: bool,
}

impl OnnxTensor {
    /// The number of elements its shape holds. Every dimension must be a `usize`, and so
    /// must the product of the non-zero ones: a tensor multiplies its dimensions in both
    /// directions (the element count and the strides), so a zero must not hide an
    /// overflowing product elsewhere (`[0, 2^40, 2^40]`, found by fuzzing).
    pub fn num_elements(&self) -> Result<usize> {
        let invalid = || OnnxError::Malformed {
            message: "TensorProto",
            reason: format!(
                "tensor `{}` has an invalid shape {:?}",
                self.name, self.dims
            ),
        };
        let dims = self
            .dims
            .iter()
            .map(|&dim| usize::try_from(dim).ok())
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(invalid)?;
        let non_zero_product = dims
            .iter()
            .filter(|&&dim| dim != 0)
            .try_fold(1usize, |acc, &dim| acc.checked_mul(dim))
            .ok_or_else(invalid)?;
        Ok(if dims.contains(&0) {
            0
        } else {
            non_zero_product
        })
    }

    /// The shape as candle dimensions.
    pub fn shape(&self) -> Result<Vec<usize>> {
        self.num_elements()?;
        // Every dimension was checked to be a non-negative usize above.
        Ok(self.dims.iter().map(|&dim| dim as usize).collect())
    }

    /// The raw data's elements of `size` bytes each, after checking its length.
    fn raw_chunks<const N: usize>(&self) -> Result<Option<Vec<[u8; N]>>> {
        if self.external {
            return Err(OnnxError::ExternalData {
                name: self.name.clone(),
            });
        }
        if self.raw_data.is_empty() {
            return Ok(None);
        }
        let count = self.num_elements()?;
        let expected = count.checked_mul(N).ok_or_else(|| OnnxError::Malformed {
            message: "TensorProto",
            reason: format!("tensor `{}` is too large", self.name),
        })?;
        if self.raw_data.len() != expected {
            return Err(self.size_error(expected, self.raw_data.len(), "bytes"));
        }
        Ok(Some(
            self.raw_data
                .chunks_exact(N)
                .map(|chunk| {
                    let mut bytes = [0u8; N];
                    bytes.copy_from_slice(chunk);
                    bytes
                })
                .collect(),
        ))
    }

    fn size_error(&self, expected: usize, got: usize, unit: &'static str) -> OnnxError {
        OnnxError::DataSize {
            name: self.name.clone(),
            dims: self.dims.clone(),
            expected,
            got,
            unit,
        }
    }

    /// Checks that a typed field holds exactly as many values as the shape needs.
    fn check_count(&self, got: usize) -> Result<()> {
        let expected = self.num_elements()?;
        if got == expected {
            Ok(())
        } else {
            Err(self.size_error(expected, got, "values"))
        }
    }

    fn unsupported(&self) -> OnnxError {
        OnnxError::UnsupportedDataType {
            name: self.name.clone(),
            data_type: self.data_type,
        }
    }

    /// The elements as f32, converting from float16, bfloat16 and double.
    pub fn to_f32_vec(&self) -> Result<Vec<f32>> {
        let values: Vec<f32> = match self.data_type {
            DataType::Float => match self.raw_chunks::<4>()? {
                Some(chunks) => chunks.into_iter().map(f32::from_le_bytes).collect(),
                None => self.float_data.clone(),
            },
            DataType::Float16 => match self.raw_chunks::<2>()? {
                Some(chunks) => chunks
                    .into_iter()
                    .map(|b| half::f16::from_le_bytes(b).to_f32())
                    .collect(),
                None => self
                    .int32_data
                    .iter()
                    .map(|&bits| half::f16::from_bits(bits as u16).to_f32())
                    .collect(),
            },
            DataType::Bfloat16 => match self.raw_chunks::<2>()? {
                Some(chunks) => chunks
                    .into_iter()
                    .map(|b| half::bf16::from_le_bytes(b).to_f32())
                    .collect(),
                None => self
                    .int32_data
                    .iter()
                    .map(|&bits| half::bf16::from_bits(bits as u16).to_f32())
                    .collect(),
            },
            DataType::Double => match self.raw_chunks::<8>()? {
                Some(chunks) => chunks
                    .into_iter()
                    .map(|b| f64::from_le_bytes(b) as f32)
                    .collect(),
                None => self.double_data.iter().map(|&v| v as f32).collect(),
            },
            _ => return Err(self.unsupported()),
        };
        self.check_count(values.len())?;
        Ok(values)
    }

    /// The elements as i64, converting from the signed and unsigned integer types.
    pub fn to_i64_vec(&self) -> Result<Vec<i64>> {
        let values: Vec<i64> = match self.data_type {
            DataType::Int64 => match self.raw_chunks::<8>()? {
                Some(chunks) => chunks.into_iter().map(i64::from_le_bytes).collect(),
                None => self.int64_data.clone(),
            },
            DataType::Int32 => match self.raw_chunks::<4>()? {
                Some(chunks) => chunks
                    .into_iter()
                    .map(|b| i64::from(i32::from_le_bytes(b)))
                    .collect(),
                None => self.int32_data.iter().map(|&v| i64::from(v)).collect(),
            },
            DataType::Int16 => match self.raw_chunks::<2>()? {
                Some(chunks) => chunks
                    .into_iter()
                    .map(|b| i64::from(i16::from_le_bytes(b)))
                    .collect(),
                None => self.int32_data.iter().map(|&v| i64::from(v)).collect(),
            },
            DataType::Int8 => match self.raw_chunks::<1>()? {
                Some(chunks) => chunks.into_iter().map(|b| i64::from(b[0] as i8)).collect(),
                None => self.int32_data.iter().map(|&v| i64::from(v)).collect(),
            },
            DataType::Uint8 | DataType::Bool => match self.raw_chunks::<1>()? {
                Some(chunks) => chunks.into_iter().map(|b| i64::from(b[0])).collect(),
                None => self.int32_data.iter().map(|&v| i64::from(v)).collect(),
            },
            _ => return Err(self.unsupported()),
        };
        self.check_count(values.len())?;
        Ok(values)
    }

    /// A candle tensor of the same shape. Floats keep their precision (f32, f16, bf16,
    /// f64); int64 becomes i64, int32 i32, and uint8 and bool u8.
    pub fn to_candle(&self, device: &Device) -> Result<Tensor> {
        let shape = self.shape()?;
        let tensor = match self.data_type {
            DataType::Float => Tensor::from_vec(self.to_f32_vec()?, shape, device)?,
            DataType::Float16 | DataType::Bfloat16 => {
                let dtype = if self.data_type == DataType::Float16 {
                    DType::F16
                } else {
                    DType::BF16
                };
                // The conversion to f32 and back is exact for 16-bit floats.
                Tensor::from_vec(self.to_f32_vec()?, shape, device)?.to_dtype(dtype)?
            }
            DataType::Double => {
                let values: Vec<f64> = match self.raw_chunks::<8>()? {
                    Some(chunks) => chunks.into_iter().map(f64::from_le_bytes).collect(),
                    None => self.double_data.clone(),
                };
                self.check_count(values.len())?;
                Tensor::from_vec(values, shape, device)?
            }
            DataType::Int64 => Tensor::from_vec(self.to_i64_vec()?, shape, device)?,
            DataType::Int32 => {
                let values: Vec<i32> = self.to_i64_vec()?.into_iter().map(|v| v as i32).collect();
                Tensor::from_vec(values, shape, device)?
            }
            DataType::Uint8 | DataType::Bool => {
                let values: Vec<u8> = self.to_i64_vec()?.into_iter().map(|v| v as u8).collect();
                Tensor::from_vec(values, shape, device)?
            }
            _ => return Err(self.unsupported()),
        };
        Ok(tensor)
    }
}

/// The value of a node attribute (`AttributeProto`).
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeValue {
    /// A float.
    Float(f32),
    /// An integer.
    Int(i64),
    /// A byte string (usually UTF-8).
    String(Vec<u8>),
    /// A tensor, as in `Constant.value`.
    Tensor(OnnxTensor),
    /// A subgraph, as in `If.then_branch`.
    Graph(OnnxGraph),
    /// A list of floats.
    Floats(Vec<f32>),
    /// A list of integers.
    Ints(Vec<i64>),
    /// A list of byte strings.
    Strings(Vec<Vec<u8>>),
    /// A list of tensors.
    Tensors(Vec<OnnxTensor>),
    /// A list of subgraphs.
    Graphs(Vec<OnnxGraph>),
    /// An attribute type this reader does not decode (sparse tensors, type protos), by
    /// its `AttributeProto.AttributeType` code.
    Other(i32),
}

/// A named node attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct OnnxAttribute {
    /// The attribute's name, e.g. `kernel_shape`.
    pub name: String,
    /// Its value.
    pub value: AttributeValue,
}

/// A node of a graph (`NodeProto`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OnnxNode {
    /// The node's name; exporters from PyTorch use the module path, e.g. `/enc/conv/Conv`.
    pub name: String,
    /// The operator, e.g. `Conv`.
    pub op_type: String,
    /// The operator's domain; empty for the default ONNX domain.
    pub domain: String,
    /// The names of the values it reads.
    pub inputs: Vec<String>,
    /// The names of the values it writes.
    pub outputs: Vec<String>,
    /// Its attributes.
    pub attributes: Vec<OnnxAttribute>,
}

impl OnnxNode {
    /// The attribute of that name.
    pub fn attribute(&self, name: &str) -> Option<&AttributeValue> {
        self.attributes
            .iter()
            .find(|attribute| attribute.name == name)
            .map(|attribute| &attribute.value)
    }
}

/// A graph (`GraphProto`): nodes, weights and the names of its inputs and outputs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OnnxGraph {
    /// The graph's name.
    pub name: String,
    /// Its nodes, in file order (topological for valid models).
    pub nodes: Vec<OnnxNode>,
    /// Its initializers.
    pub initializers: Vec<OnnxTensor>,
    /// The names of its inputs.
    pub inputs: Vec<String>,
    /// The names of its outputs.
    pub outputs: Vec<String>,
}

/// A weight found in a graph: an initializer, or the value of a `Constant` node.
#[derive(Debug, Clone, Copy)]
pub struct NamedTensor<'a> {
    /// The name the graph knows it by: the initializer's name, or the `Constant` node's
    /// output name (which is unique in the model, unlike the tensor's own name).
    pub name: &'a str,
    /// The tensor.
    pub tensor: &'a OnnxTensor,
    /// The `Constant` node that holds it; `None` for an initializer.
    pub constant: Option<&'a OnnxNode>,
}

impl OnnxGraph {
    /// Every weight of this graph and, recursively, of its subgraphs: initializers first,
    /// then `Constant` values in node order, each subgraph's after its own node's.
    pub fn weights(&self) -> Vec<NamedTensor<'_>> {
        let mut out = Vec::new();
        self.collect_weights(&mut out);
        out
    }

    fn collect_weights<'a>(&'a self, out: &mut Vec<NamedTensor<'a>>) {
        out.extend(self.initializers.iter().map(|tensor| NamedTensor {
            name: &tensor.name,
            tensor,
            constant: None,
        }));
        for node in &self.nodes {
            if node.op_type == "Constant"
                && node.domain.is_empty()
                && let (Some(AttributeValue::Tensor(tensor)), Some(output)) =
                    (node.attribute("value"), node.outputs.first())
            {
                out.push(NamedTensor {
                    name: output,
                    tensor,
                    constant: Some(node),
                });
            }
            for attribute in &node.attributes {
                match &attribute.value {
                    AttributeValue::Graph(graph) => graph.collect_weights(out),
                    AttributeValue::Graphs(graphs) => {
                        graphs.iter().for_each(|graph| graph.collect_weights(out))
                    }
                    _ => {}
                }
            }
        }
    }

    /// The nodes of this graph (not its subgraphs) that read the named value.
    pub fn consumers<'a>(&'a self, value: &'a str) -> impl Iterator<Item = &'a OnnxNode> + 'a {
        self.nodes
            .iter()
            .filter(move |node| node.inputs.iter().any(|input| input == value))
    }
}

/// A parsed ONNX model (`ModelProto`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OnnxModel {
    /// The ONNX IR version.
    pub ir_version: i64,
    /// The operator sets it imports, as (domain, version).
    pub opset_imports: Vec<(String, i64)>,
    /// The tool that wrote it.
    pub producer_name: String,
    /// The main graph.
    pub graph: OnnxGraph,
}

impl OnnxModel {
    /// Reads and parses an ONNX file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| OnnxError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&bytes)
    }

    /// Parses the bytes of an ONNX file.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut reader = Reader::new(bytes, 0, "ModelProto");
        let mut model = OnnxModel::default();
        let mut graph = None;
        while let Some((field, wire)) = reader.key()? {
            match (field, wire) {
                (1, Wire::Varint) => model.ir_version = reader.varint()? as i64,
                (2, Wire::Len) => model.producer_name = reader.string()?,
                (7, Wire::Len) => graph = Some(parse_graph(&mut reader.sub("GraphProto")?, 0)?),
                (8, Wire::Len) => {
                    let mut sub = reader.sub("OperatorSetIdProto")?;
                    let (mut domain, mut version) = (String::new(), 0);
                    while let Some((field, wire)) = sub.key()? {
                        match (field, wire) {
                            (1, Wire::Len) => domain = sub.string()?,
                            (2, Wire::Varint) => version = sub.varint()? as i64,
                            _ => sub.skip(wire)?,
                        }
                    }
                    model.opset_imports.push((domain, version));
                }
                _ => reader.skip(wire)?,
            }
        }
        model.graph = graph.ok_or_else(|| OnnxError::Malformed {
            message: "ModelProto",
            reason: "it has no graph (is this an ONNX model file?)".into(),
        })?;
        Ok(model)
    }
}

fn parse_graph(reader: &mut Reader<'_>, depth: usize) -> Result<OnnxGraph> {
    if depth > MAX_GRAPH_DEPTH {
        return Err(reader.malformed(format!(
            "subgraphs nest more than {MAX_GRAPH_DEPTH} levels deep"
        )));
    }
    let mut graph = OnnxGraph::default();
    while let Some((field, wire)) = reader.key()? {
        match (field, wire) {
            (1, Wire::Len) => graph
                .nodes
                .push(parse_node(&mut reader.sub("NodeProto")?, depth)?),
            (2, Wire::Len) => graph.name = reader.string()?,
            (5, Wire::Len) => graph
                .initializers
                .push(parse_tensor(&mut reader.sub("TensorProto")?)?),
            (11, Wire::Len) => graph.inputs.push(value_info_name(reader)?),
            (12, Wire::Len) => graph.outputs.push(value_info_name(reader)?),
            _ => reader.skip(wire)?,
        }
    }
    Ok(graph)
}

/// The name field of a `ValueInfoProto`.
fn value_info_name(reader: &mut Reader<'_>) -> Result<String> {
    let mut sub = reader.sub("ValueInfoProto")?;
    let mut name = String::new();
    while let Some((field, wire)) = sub.key()? {
        match (field, wire) {
            (1, Wire::Len) => name = sub.string()?,
            _ => sub.skip(wire)?,
        }
    }
    Ok(name)
}

fn parse_node(reader: &mut Reader<'_>, depth: usize) -> Result<OnnxNode> {
    let mut node = OnnxNode::default();
    while let Some((field, wire)) = reader.key()? {
        match (field, wire) {
            (1, Wire::Len) => node.inputs.push(reader.string()?),
            (2, Wire::Len) => node.outputs.push(reader.string()?),
            (3, Wire::Len) => node.name = reader.string()?,
            (4, Wire::Len) => node.op_type = reader.string()?,
            (5, Wire::Len) => node
                .attributes
                .push(parse_attribute(&mut reader.sub("AttributeProto")?, depth)?),
            (7, Wire::Len) => node.domain = reader.string()?,
            _ => reader.skip(wire)?,
        }
    }
    Ok(node)
}

fn parse_attribute(reader: &mut Reader<'_>, depth: usize) -> Result<OnnxAttribute> {
    let mut name = String::new();
    let mut kind = 0i32;
    let (mut f, mut i, mut s, mut t, mut g) = (None, None, None, None, None);
    let (mut floats, mut ints, mut strings, mut tensors, mut graphs) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    while let Some((field, wire)) = reader.key()? {
        match (field, wire) {
            (1, Wire::Len) => name = reader.string()?,
            (2, Wire::Fixed32) => f = Some(reader.f32()?),
            (3, Wire::Varint) => i = Some(reader.varint()? as i64),
            (4, Wire::Len) => s = Some(reader.bytes()?.to_vec()),
            (5, Wire::Len) => t = Some(parse_tensor(&mut reader.sub("TensorProto")?)?),
            (6, Wire::Len) => g = Some(parse_graph(&mut reader.sub("GraphProto")?, depth + 1)?),
            (7, _) => reader.repeated_f32(wire, &mut floats)?,
            (8, _) => reader.repeated_varint(wire, &mut ints, |v| v as i64)?,
            (9, Wire::Len) => strings.push(reader.bytes()?.to_vec()),
            (10, Wire::Len) => tensors.push(parse_tensor(&mut reader.sub("TensorProto")?)?),
            (11, Wire::Len) => graphs.push(parse_graph(&mut reader.sub("GraphProto")?, depth + 1)?),
            (20, Wire::Varint) => kind = reader.varint()? as i32,
            _ => reader.skip(wire)?,
        }
    }
    // The `type` field names the value; files from before it existed set one field only.
    let value =
        match kind {
            1 => AttributeValue::Float(f.unwrap_or_default()),
            2 => AttributeValue::Int(i.unwrap_or_default()),
            3 => AttributeValue::String(s.unwrap_or_default()),
            4 => AttributeValue::Tensor(t.ok_or_else(|| {
                reader.malformed(format!("tensor attribute `{name}` has no tensor"))
            })?),
            5 => AttributeValue::Graph(g.ok_or_else(|| {
                reader.malformed(format!("graph attribute `{name}` has no graph"))
            })?),
            6 => AttributeValue::Floats(floats),
            7 => AttributeValue::Ints(ints),
            8 => AttributeValue::Strings(strings),
            9 => AttributeValue::Tensors(tensors),
            10 => AttributeValue::Graphs(graphs),
            0 => {
                if let Some(t) = t {
                    AttributeValue::Tensor(t)
                } else if let Some(g) = g {
                    AttributeValue::Graph(g)
                } else if let Some(f) = f {
                    AttributeValue::Float(f)
                } else if let Some(i) = i {
                    AttributeValue::Int(i)
                } else if let Some(s) = s {
                    AttributeValue::String(s)
                } else if !floats.is_empty() {
                    AttributeValue::Floats(floats)
                } else if !ints.is_empty() {
                    AttributeValue::Ints(ints)
                } else if !strings.is_empty() {
                    AttributeValue::Strings(strings)
                } else if !tensors.is_empty() {
                    AttributeValue::Tensors(tensors)
                } else if !graphs.is_empty() {
                    AttributeValue::Graphs(graphs)
                } else {
                    AttributeValue::Other(0)
                }
            }
            other => AttributeValue::Other(other),
        };
    Ok(OnnxAttribute { name, value })
}

fn parse_tensor(reader: &mut Reader<'_>) -> Result<OnnxTensor> {
    let mut tensor = OnnxTensor {
        name: String::new(),
        dims: Vec::new(),
        data_type: DataType::Other(0),
        raw_data: Vec::new(),
        float_data: Vec::new(),
        int32_data: Vec::new(),
        int64_data: Vec::new(),
        double_data: Vec::new(),
        external: false,
    };
    while let Some((field, wire)) = reader.key()? {
        match (field, wire) {
            (1, _) => reader.repeated_varint(wire, &mut tensor.dims, |v| v as i64)?,
            (2, Wire::Varint) => tensor.data_type = DataType::from_code(reader.varint()? as i32),
            (4, _) => reader.repeated_f32(wire, &mut tensor.float_data)?,
            (5, _) => reader.repeated_varint(wire, &mut tensor.int32_data, |v| v as i32)?,
            (7, _) => reader.repeated_varint(wire, &mut tensor.int64_data, |v| v as i64)?,
            (8, Wire::Len) => tensor.name = reader.string()?,
            (9, Wire::Len) => tensor.raw_data = reader.bytes()?.to_vec(),
            (10, _) => reader.repeated_f64(wire, &mut tensor.double_data)?,
            (13, Wire::Len) => {
                tensor.external = true;
                reader.skip(wire)?;
            }
            (14, Wire::Varint) => tensor.external |= reader.varint()? == 1,
            _ => reader.skip(wire)?,
        }
    }
    Ok(tensor)
}

/// A protobuf wire type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    Varint,
    Fixed64,
    Len,
    Fixed32,
}

/// A cursor over one protobuf message.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// The offset of `buf` in the whole file, for error messages.
    base: usize,
    /// The message being read, for error messages.
    message: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], base: usize, message: &'static str) -> Self {
        Self {
            buf,
            pos: 0,
            base,
            message,
        }
    }

    fn truncated(&self) -> OnnxError {
        OnnxError::Truncated {
            message: self.message,
            offset: self.base + self.buf.len(),
        }
    }

    fn malformed(&self, reason: String) -> OnnxError {
        OnnxError::Malformed {
            message: self.message,
            reason,
        }
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.buf.get(self.pos).ok_or_else(|| self.truncated())?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.malformed(format!(
            "a varint at byte {} is longer than ten bytes",
            self.base + self.pos
        )))
    }

    /// The next field's number and wire type, or `None` at the end of the message.
    fn key(&mut self) -> Result<Option<(u32, Wire)>> {
        if self.pos == self.buf.len() {
            return Ok(None);
        }
        let at = self.base + self.pos;
        let key = self.varint()?;
        let wire = match key & 7 {
            0 => Wire::Varint,
            1 => Wire::Fixed64,
            2 => Wire::Len,
            5 => Wire::Fixed32,
            other => {
                return Err(self.malformed(format!(
                    "unsupported protobuf wire type {other} at byte {at}"
                )));
            }
        };
        let field = u32::try_from(key >> 3)
            .ok()
            .filter(|&field| field != 0)
            .ok_or_else(|| self.malformed(format!("invalid field number at byte {at}")))?;
        Ok(Some((field, wire)))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| self.truncated())?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = usize::try_from(self.varint()?).map_err(|_| self.truncated())?;
        self.take(len)
    }

    fn string(&mut self) -> Result<String> {
        let bytes = self.bytes()?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| self.malformed("a string field is not valid UTF-8".into()))
    }

    /// A reader over the embedded message that comes next.
    fn sub(&mut self, message: &'static str) -> Result<Reader<'a>> {
        let len = usize::try_from(self.varint()?).map_err(|_| self.truncated())?;
        let base = self.base + self.pos;
        let buf = self.take(len).map_err(|_| OnnxError::Truncated {
            message,
            offset: self.base + self.buf.len(),
        })?;
        Ok(Reader::new(buf, base, message))
    }

    fn f32(&mut self) -> Result<f32> {
        let bytes = self.take(4)?;
        Ok(f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn f64(&mut self) -> Result<f64> {
        let bytes = self.take(8)?;
        let mut array = [0u8; 8];
        array.copy_from_slice(bytes);
        Ok(f64::from_le_bytes(array))
    }

    fn skip(&mut self, wire: Wire) -> Result<()> {
        match wire {
            Wire::Varint => self.varint().map(drop),
            Wire::Fixed64 => self.take(8).map(drop),
            Wire::Len => self.bytes().map(drop),
            Wire::Fixed32 => self.take(4).map(drop),
        }
    }

    /// A repeated varint field, packed or not.
    fn repeated_varint<T>(
        &mut self,
        wire: Wire,
        out: &mut Vec<T>,
        convert: impl Fn(u64) -> T,
    ) -> Result<()> {
        match wire {
            Wire::Varint => out.push(convert(self.varint()?)),
            Wire::Len => {
                let mut packed = self.sub(self.message)?;
                while packed.pos < packed.buf.len() {
                    out.push(convert(packed.varint()?));
                }
            }
            _ => return Err(self.malformed(format!("an integer field has wire type {wire:?}"))),
        }
        Ok(())
    }

    /// A repeated float field, packed or not.
    fn repeated_f32(&mut self, wire: Wire, out: &mut Vec<f32>) -> Result<()> {
        match wire {
            Wire::Fixed32 => out.push(self.f32()?),
            Wire::Len => {
                let bytes = self.bytes()?;
                if bytes.len() % 4 != 0 {
                    return Err(self.malformed("a packed float field is not whole floats".into()));
                }
                out.extend(
                    bytes
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                );
            }
            _ => return Err(self.malformed(format!("a float field has wire type {wire:?}"))),
        }
        Ok(())
    }

    /// A repeated double field, packed or not.
    fn repeated_f64(&mut self, wire: Wire, out: &mut Vec<f64>) -> Result<()> {
        match wire {
            Wire::Fixed64 => out.push(self.f64()?),
            Wire::Len => {
                let mut packed = self.sub(self.message)?;
                if packed.buf.len() % 8 != 0 {
                    return Err(self.malformed("a packed double field is not whole doubles".into()));
                }
                while packed.pos < packed.buf.len() {
                    out.push(packed.f64()?);
                }
            }
            _ => return Err(self.malformed(format!("a double field has wire type {wire:?}"))),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends a protobuf varint.
    fn varint(out: &mut Vec<u8>, mut value: u64) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    /// A varint field.
    fn int_field(out: &mut Vec<u8>, field: u32, value: u64) {
        varint(out, u64::from(field) << 3);
        varint(out, value);
    }

    /// A length-delimited field (bytes, string or embedded message).
    fn len_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
        varint(out, (u64::from(field) << 3) | 2);
        varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }

    /// A float tensor with `raw_data`.
    fn raw_f32_tensor(name: &str, dims: &[i64], values: &[f32]) -> Vec<u8> {
        let mut t = Vec::new();
        for &dim in dims {
            int_field(&mut t, 1, dim as u64);
        }
        int_field(&mut t, 2, 1);
        len_field(&mut t, 8, name.as_bytes());
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        len_field(&mut t, 9, &raw);
        t
    }

    /// A `Constant` node whose value is `tensor`, writing `output`.
    fn constant_node(name: &str, output: &str, tensor: &[u8]) -> Vec<u8> {
        let mut attribute = Vec::new();
        len_field(&mut attribute, 1, b"value");
        len_field(&mut attribute, 5, tensor);
        int_field(&mut attribute, 20, 4);
        let mut node = Vec::new();
        len_field(&mut node, 2, output.as_bytes());
        len_field(&mut node, 3, name.as_bytes());
        len_field(&mut node, 4, b"Constant");
        len_field(&mut node, 5, &attribute);
        node
    }

    /// A model with one float initializer `w` [2, 3], a `Conv` node reading it with a
    /// `kernel_shape` attribute, and an `If` node whose then-branch holds a `Constant`.
    fn sample_model() -> Vec<u8> {
        let mut inner = Vec::new();
        len_field(
            &mut inner,
            1,
            &constant_node(
                "c",
                "branch__bias",
                &raw_f32_tensor("bias", &[2], &[0.5, -0.5]),
            ),
        );

        let mut if_attr = Vec::new();
        len_field(&mut if_attr, 1, b"then_branch");
        len_field(&mut if_attr, 6, &inner);
        int_field(&mut if_attr, 20, 5);
        let mut if_node = Vec::new();
        len_field(&mut if_node, 1, b"cond");
        len_field(&mut if_node, 2, b"y");
        len_field(&mut if_node, 3, b"/If");
        len_field(&mut if_node, 4, b"If");
        len_field(&mut if_node, 5, &if_attr);

        let mut kernel = Vec::new();
        len_field(&mut kernel, 1, b"kernel_shape");
        // A packed repeated int64: [3].
        len_field(&mut kernel, 8, &[3]);
        int_field(&mut kernel, 20, 7);
        let mut conv = Vec::new();
        len_field(&mut conv, 1, b"x");
        len_field(&mut conv, 1, b"w");
        len_field(&mut conv, 2, b"y0");
        len_field(&mut conv, 3, b"/enc/conv/Conv");
        len_field(&mut conv, 4, b"Conv");
        len_field(&mut conv, 5, &kernel);

        let mut input = Vec::new();
        len_field(&mut input, 1, b"x");

        let mut graph = Vec::new();
        len_field(&mut graph, 1, &conv);
        len_field(&mut graph, 1, &if_node);
        len_field(&mut graph, 2, b"main");
        len_field(
            &mut graph,
            5,
            &raw_f32_tensor("w", &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        );
        len_field(&mut graph, 11, &input);

        let mut opset = Vec::new();
        int_field(&mut opset, 2, 16);
        let mut model = Vec::new();
        int_field(&mut model, 1, 8);
        len_field(&mut model, 2, b"test");
        len_field(&mut model, 7, &graph);
        len_field(&mut model, 8, &opset);
        model
    }

    #[test]
    fn parses_graph_nodes_attributes_and_weights() {
        let model = OnnxModel::parse(&sample_model()).unwrap();
        assert_eq!(model.ir_version, 8);
        assert_eq!(model.producer_name, "test");
        assert_eq!(model.opset_imports, vec![(String::new(), 16)]);
        let graph = &model.graph;
        assert_eq!(graph.name, "main");
        assert_eq!(graph.inputs, vec!["x".to_string()]);
        assert_eq!(graph.nodes.len(), 2);
        let conv = &graph.nodes[0];
        assert_eq!(
            (conv.op_type.as_str(), conv.name.as_str()),
            ("Conv", "/enc/conv/Conv")
        );
        assert_eq!(conv.inputs, vec!["x".to_string(), "w".to_string()]);
        assert_eq!(
            conv.attribute("kernel_shape"),
            Some(&AttributeValue::Ints(vec![3]))
        );
        let consumers: Vec<_> = graph
            .consumers("w")
            .map(|node| node.name.as_str())
            .collect();
        assert_eq!(consumers, vec!["/enc/conv/Conv"]);

        let weights = graph.weights();
        let names: Vec<_> = weights.iter().map(|w| w.name).collect();
        assert_eq!(names, vec!["w", "branch__bias"]);
        assert!(weights[0].constant.is_none());
        assert_eq!(weights[1].constant.map(|n| n.name.as_str()), Some("c"));
        assert_eq!(weights[1].tensor.name, "bias");

        let w = weights[0].tensor.to_candle(&Device::Cpu).unwrap();
        assert_eq!(w.dims(), &[2, 3]);
        assert_eq!(
            w.to_vec2::<f32>().unwrap(),
            vec![vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]]
        );
        assert_eq!(weights[1].tensor.to_f32_vec().unwrap(), vec![0.5, -0.5]);
    }

    #[test]
    fn decodes_each_storage_of_tensor_data() {
        let tensor = |fields: &dyn Fn(&mut Vec<u8>)| {
            let mut bytes = Vec::new();
            fields(&mut bytes);
            parse_tensor(&mut Reader::new(&bytes, 0, "TensorProto")).unwrap()
        };
        // Unpacked float_data (wire type 5), one value per field.
        let t = tensor(&|b| {
            int_field(b, 1, 2);
            int_field(b, 2, 1);
            for v in [1.5f32, -2.0] {
                varint(b, (4 << 3) | 5);
                b.extend_from_slice(&v.to_le_bytes());
            }
        });
        assert_eq!(t.to_f32_vec().unwrap(), vec![1.5, -2.0]);

        // float16 as bit patterns in int32_data, packed.
        let t = tensor(&|b| {
            int_field(b, 1, 2);
            int_field(b, 2, 10);
            let mut packed = Vec::new();
            varint(&mut packed, u64::from(half::f16::from_f32(0.25).to_bits()));
            varint(&mut packed, u64::from(half::f16::from_f32(-3.0).to_bits()));
            len_field(b, 5, &packed);
        });
        assert_eq!(t.to_f32_vec().unwrap(), vec![0.25, -3.0]);
        let f16 = t.to_candle(&Device::Cpu).unwrap();
        assert_eq!(f16.dtype(), DType::F16);

        // int64 in raw_data, and negative values in packed int64_data.
        let t = tensor(&|b| {
            int_field(b, 1, 2);
            int_field(b, 2, 7);
            let raw: Vec<u8> = [7i64, -9].iter().flat_map(|v| v.to_le_bytes()).collect();
            len_field(b, 9, &raw);
        });
        assert_eq!(t.to_i64_vec().unwrap(), vec![7, -9]);
        let t = tensor(&|b| {
            int_field(b, 2, 7);
            let mut packed = Vec::new();
            varint(&mut packed, (-4i64) as u64);
            len_field(b, 7, &packed);
        });
        // A tensor without dims is a scalar of one element.
        assert_eq!(t.to_i64_vec().unwrap(), vec![-4]);
        assert_eq!(t.to_candle(&Device::Cpu).unwrap().dims(), &[] as &[usize]);
    }

    #[test]
    fn bad_tensors_are_errors() {
        let check = |bytes: Vec<u8>, want: &str| {
            let t = parse_tensor(&mut Reader::new(&bytes, 0, "TensorProto")).unwrap();
            let err = t.to_candle(&Device::Cpu).unwrap_err().to_string();
            assert!(err.contains(want), "{err} should mention {want:?}");
        };
        // raw_data one byte short of [2, 3] floats.
        let mut short = Vec::new();
        int_field(&mut short, 1, 2);
        int_field(&mut short, 1, 3);
        int_field(&mut short, 2, 1);
        len_field(&mut short, 8, b"w");
        len_field(&mut short, 9, &[0u8; 23]);
        check(short, "needs 24 bytes of data but holds 23");
        // A string tensor.
        let mut strings = Vec::new();
        int_field(&mut strings, 2, 8);
        len_field(&mut strings, 8, b"s");
        check(strings, "element type String");
        // External data.
        let mut external = raw_f32_tensor("e", &[1], &[0.0]);
        int_field(&mut external, 14, 1);
        check(external, "external file");
        // A negative dimension.
        let mut negative = Vec::new();
        int_field(&mut negative, 1, (-1i64) as u64);
        int_field(&mut negative, 2, 1);
        len_field(&mut negative, 8, b"n");
        check(negative, "invalid shape");
        // No elements, but an element count or strides that overflow.
        for dims in [[0, 1u64 << 40, 1u64 << 40], [1u64 << 40, 1u64 << 40, 0]] {
            let mut huge = Vec::new();
            for dim in dims {
                int_field(&mut huge, 1, dim);
            }
            int_field(&mut huge, 2, 1);
            len_field(&mut huge, 8, b"h");
            check(huge, "invalid shape");
        }
    }

    #[test]
    fn truncated_or_garbage_input_is_an_error_not_a_panic() {
        let model = sample_model();
        // Every proper prefix either fails or, where it ends on a field boundary of the
        // model message, parses; none may panic.
        let mut failures = 0;
        for len in 0..model.len() {
            match OnnxModel::parse(&model[..len]) {
                Err(OnnxError::Truncated { .. } | OnnxError::Malformed { .. }) => failures += 1,
                Err(other) => panic!("unexpected error for {len} bytes: {other}"),
                Ok(_) => {}
            }
        }
        assert!(
            failures > model.len() / 2,
            "only {failures} prefixes failed"
        );
        let err = OnnxModel::parse(&model[..model.len() / 2]).unwrap_err();
        assert!(matches!(err, OnnxError::Truncated { .. }), "{err}");
        assert!(err.to_string().contains("truncated"), "{err}");

        let check = |bytes: &[u8], want: &str| {
            let err = OnnxModel::parse(bytes).unwrap_err().to_string();
            assert!(err.contains(want), "{err} should mention {want:?}");
        };
        check(b"", "has no graph");
        check(b"\x0b", "wire type 3");
        check(
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
            "longer than ten bytes",
        );
        check(&[0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f], "truncated");
        check(b"\x00", "invalid field number");
    }

    #[test]
    fn load_reports_a_missing_file() {
        let err = OnnxModel::load(Path::new("/nonexistent/model.onnx")).unwrap_err();
        assert!(matches!(err, OnnxError::Io { .. }), "{err}");
        assert!(err.to_string().contains("/nonexistent/model.onnx"), "{err}");
    }
}
