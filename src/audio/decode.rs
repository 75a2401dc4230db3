//! Audio files decoded in blocks, so memory stays bounded however long the file is:
//! WAV, FLAC, MP3 and OGG/Vorbis through symphonia, at any sample rate and channel count.

use std::fs::File;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_FLAC, CODEC_TYPE_NULL, Decoder, DecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSource, MediaSourceStream, ReadOnlySource, SeekBuffered};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::AudioError;
use crate::worker::catch_panic_quietly;

/// The lowest sample rate accepted from a file header (telephone audio is 8 kHz).
const MIN_SAMPLE_RATE_HZ: u32 = 1_000;
/// The highest sample rate accepted from a file header.
const MAX_SAMPLE_RATE_HZ: u32 = 768_000;
/// A file whose frames carry checksums (FLAC) and that decodes to less than one part in
/// this many of the frames its header announces is an error: the demuxer drops frames that
/// fail their checksums without a word, so a damaged FLAC reads as a few good frames and
/// then nothing, and the person should hear of it rather than get a short transcript. Less
/// loss, and any loss in formats without checksums (a WAV cut short), is a warning and
/// what is there is kept.
const MIN_DECODED_SHARE_INV: u64 = 2;

/// An open audio file, decoded on demand.
pub struct AudioFile {
    path: PathBuf,
    reader: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    sample_rate_hz: u32,
    n_channels: usize,
    n_frames: Option<u64>,
    sample_buffer: Option<SampleBuffer<f32>>,
    n_skipped_packets: usize,
    n_decoded_frames: u64,
    /// Frames the stream's timestamps jump over: audio the demuxer dropped as damaged
    /// (FLAC drops a frame whose checksum fails and resynchronises at the next one).
    n_lost_frames: u64,
    /// Where the next packet should start, in frames, when timestamps count frames.
    next_ts: Option<u64>,
    /// Whether packet timestamps count frames (time base 1/sample rate), so gaps in them
    /// are lost audio.
    ts_counts_frames: bool,
    /// Whether the codec's frames carry checksums that the demuxer checks (FLAC).
    frames_are_checksummed: bool,
    finished: bool,
}

impl std::fmt::Debug for AudioFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioFile")
            .field("path", &self.path)
            .field("sample_rate_hz", &self.sample_rate_hz)
            .field("n_channels", &self.n_channels)
            .finish_non_exhaustive()
    }
}

impl AudioFile {
    /// Opens a file and reads its format; fails clearly on anything that is not audio.
    /// A pipe or a device node (`/dev/stdin`, a FIFO) is read as a stream.
    pub fn open(path: &Path) -> Result<Self, AudioError> {
        let unsupported = |reason: String| AudioError::Unsupported {
            path: path.to_path_buf(),
            reason,
        };
        let metadata = std::fs::metadata(path).map_err(|source| AudioError::OpenFile {
            path: path.to_path_buf(),
            source,
        })?;
        if metadata.is_dir() {
            return Err(AudioError::NotAFile {
                path: path.to_path_buf(),
                kind: "a folder",
            });
        }
        let file = File::open(path).map_err(|source| AudioError::OpenFile {
            path: path.to_path_buf(),
            source,
        })?;
        let source: Box<dyn MediaSource> = if metadata.is_file() {
            if metadata.len() == 0 {
                return Err(unsupported("the file is empty".into()));
            }
            Box::new(file)
        } else {
            Box::new(ReadOnlySource::new(file))
        };
        Self::from_source(path, source)
    }

    /// Reads audio held in memory (an upload, a fuzz input); `name` stands for its path in
    /// messages, and its extension, if any, hints at the format.
    pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Result<Self, AudioError> {
        let path = Path::new(name);
        if bytes.is_empty() {
            return Err(AudioError::Unsupported {
                path: path.to_path_buf(),
                reason: "the file is empty".into(),
            });
        }
        Self::from_source(path, Box::new(Cursor::new(bytes)))
    }

    fn from_source(path: &Path, source: Box<dyn MediaSource>) -> Result<Self, AudioError> {
        let unsupported = |reason: String| AudioError::Unsupported {
            path: path.to_path_buf(),
            reason,
        };
        let mut stream = MediaSourceStream::new(source, Default::default());
        check_header(&mut stream).map_err(unsupported)?;
        let mut hint = Hint::new();
        if let Some(extension) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(extension);
        }
        // The probe and the decoder's constructor parse the header, which may be damaged
        // in ways the library does not expect: a panic there is a damaged file.
        let probed = catch_panic_quietly(|| {
            symphonia::default::get_probe().format(
                &hint,
                stream,
                &FormatOptions::default(),
                &MetadataOptions::default(),
            )
        })
        .map_err(|message| unsupported(format!("its header is damaged ({message})")))?
        .map_err(|err| unsupported(describe_probe_error(&err)))?;
        let reader = probed.format;
        let track = reader
            .tracks()
            .iter()
            .find(|track| track.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| unsupported("no audio track".into()))?;
        let params = track.codec_params.clone();
        let track_id = track.id;
        let sample_rate_hz = params
            .sample_rate
            .filter(|&rate| rate > 0)
            .ok_or_else(|| unsupported("the header gives no sample rate".into()))?;
        if !(MIN_SAMPLE_RATE_HZ..=MAX_SAMPLE_RATE_HZ).contains(&sample_rate_hz) {
            return Err(unsupported(format!(
                "the header claims {sample_rate_hz} Hz; audio must be between {MIN_SAMPLE_RATE_HZ} and {MAX_SAMPLE_RATE_HZ} Hz"
            )));
        }
        let n_channels = params
            .channels
            .map(|channels| channels.count())
            .unwrap_or(0);
        if n_channels == 0 {
            return Err(unsupported("the header claims 0 channels".into()));
        }
        let decoder = catch_panic_quietly(|| {
            symphonia::default::get_codecs().make(&params, &DecoderOptions::default())
        })
        .map_err(|message| unsupported(format!("its codec header is damaged ({message})")))?
        .map_err(|err| unsupported(err.to_string()))?;
        Ok(Self {
            path: path.to_path_buf(),
            reader,
            decoder,
            track_id,
            sample_rate_hz,
            n_channels,
            n_frames: params.n_frames,
            sample_buffer: None,
            n_skipped_packets: 0,
            n_decoded_frames: 0,
            n_lost_frames: 0,
            next_ts: None,
            ts_counts_frames: params
                .time_base
                .is_none_or(|base| base.numer == 1 && base.denom == sample_rate_hz),
            frames_are_checksummed: params.codec == CODEC_TYPE_FLAC,
            finished: false,
        })
    }

    /// The file's sample rate.
    pub fn sample_rate_hz(&self) -> u32 {
        self.sample_rate_hz
    }

    /// The file's channel count.
    pub fn n_channels(&self) -> usize {
        self.n_channels
    }

    /// Frames in the file, when the header says.
    pub fn n_frames(&self) -> Option<u64> {
        self.n_frames
    }

    /// Packets that failed to decode and were skipped (damaged data).
    pub fn n_skipped_packets(&self) -> usize {
        self.n_skipped_packets
    }

    /// Replaces `out` with the next block of interleaved samples; `false` at the end. A
    /// file cut short ends early instead of failing: what was decoded is kept. Damaged
    /// packets are skipped and counted (a warning at the end says how many); a file that
    /// yields no audio at all is an error, never silence.
    pub fn read_block(&mut self, out: &mut Vec<f32>) -> Result<bool, AudioError> {
        out.clear();
        if self.finished {
            return Ok(false);
        }
        // A decoder that panics on damaged data is damaged data: the panic is caught here,
        // at the decode boundary, and reported as a decode error.
        let read =
            catch_panic_quietly(|| self.read_block_unguarded(out)).unwrap_or_else(|message| {
                Err(AudioError::Decode {
                    path: self.path.clone(),
                    reason: format!("the decoder failed on damaged data ({message})"),
                })
            });
        match read {
            Ok(true) => Ok(true),
            Ok(false) => {
                self.finished = true;
                self.check_end()?;
                Ok(false)
            }
            Err(err) => Err(err),
        }
    }

    /// At the end of the stream: an error when nothing, or too little, was decoded; a
    /// warning when some audio was skipped as damaged or the file ends before its header
    /// says.
    fn check_end(&self) -> Result<(), AudioError> {
        let seconds = |n_frames: u64| n_frames as f64 / f64::from(self.sample_rate_hz);
        let damaged = |reason: String| AudioError::Decode {
            path: self.path.clone(),
            reason,
        };
        if self.n_decoded_frames == 0 {
            return Err(damaged(if self.n_skipped_packets > 0 {
                format!(
                    "no audio could be decoded from it: all {} of its audio packets are damaged",
                    self.n_skipped_packets
                )
            } else {
                "no audio could be decoded from it: it holds no samples or is damaged".into()
            }));
        }
        if self.n_lost_frames > self.n_decoded_frames {
            return Err(damaged(format!(
                "most of it is damaged: {:.1} s of audio could not be decoded and {:.1} s could",
                seconds(self.n_lost_frames),
                seconds(self.n_decoded_frames)
            )));
        }
        if self.frames_are_checksummed
            && let Some(n_announced) = self.n_frames
            && self.n_decoded_frames.saturating_mul(MIN_DECODED_SHARE_INV) < n_announced
        {
            return Err(damaged(format!(
                "only {:.1} s of the {:.1} s its header announces could be decoded; the file is damaged or cut short",
                seconds(self.n_decoded_frames),
                seconds(n_announced)
            )));
        }
        if self.n_skipped_packets > 0 || self.n_lost_frames > 0 {
            tracing::warn!(
                "{}: skipped {} damaged stretch(es) of audio ({:.1} s); the rest ({:.1} s) was decoded",
                self.path.display(),
                self.n_skipped_packets + usize::from(self.n_lost_frames > 0),
                seconds(self.n_lost_frames),
                seconds(self.n_decoded_frames)
            );
        }
        if let Some(n_announced) = self.n_frames
            && self.n_decoded_frames + self.n_lost_frames < n_announced
        {
            tracing::warn!(
                "{}: it ends {:.1} s before its header says; it was probably cut short, and what is there was read",
                self.path.display(),
                seconds(n_announced - self.n_decoded_frames - self.n_lost_frames)
            );
        }
        Ok(())
    }

    fn read_block_unguarded(&mut self, out: &mut Vec<f32>) -> Result<bool, AudioError> {
        loop {
            let packet = match self.reader.next_packet() {
                Ok(packet) => packet,
                Err(SymphoniaError::IoError(err))
                    if err.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    return Ok(false);
                }
                Err(SymphoniaError::ResetRequired) => return Ok(false),
                Err(err) => {
                    return Err(AudioError::Decode {
                        path: self.path.clone(),
                        reason: err.to_string(),
                    });
                }
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            if self.ts_counts_frames {
                if let Some(next_ts) = self.next_ts
                    && packet.ts() > next_ts
                {
                    self.n_lost_frames += packet.ts() - next_ts;
                }
                self.next_ts = Some(packet.ts().saturating_add(packet.dur()));
            }
            let decoded = match self.decoder.decode(&packet) {
                Ok(decoded) => decoded,
                Err(SymphoniaError::DecodeError(reason)) => {
                    // A damaged packet: skip it, as players do, and count it.
                    self.n_skipped_packets += 1;
                    tracing::debug!(
                        "{}: skipped a damaged packet: {reason}",
                        self.path.display()
                    );
                    continue;
                }
                Err(SymphoniaError::IoError(err))
                    if err.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    return Ok(false);
                }
                Err(err) => {
                    return Err(AudioError::Decode {
                        path: self.path.clone(),
                        reason: err.to_string(),
                    });
                }
            };
            if decoded.frames() == 0 {
                continue;
            }
            let spec = *decoded.spec();
            if spec.channels.count() != self.n_channels {
                return Err(AudioError::Decode {
                    path: self.path.clone(),
                    reason: "the channel count changes mid-stream".into(),
                });
            }
            let capacity = decoded.capacity() as u64;
            let fits = self
                .sample_buffer
                .as_ref()
                .is_some_and(|buffer| buffer.capacity() >= decoded.capacity() * self.n_channels);
            if !fits {
                self.sample_buffer = Some(SampleBuffer::new(capacity, spec));
            }
            let Some(buffer) = self.sample_buffer.as_mut() else {
                continue;
            };
            self.n_decoded_frames += decoded.frames() as u64;
            buffer.copy_interleaved_ref(decoded);
            // A float file may hold NaN, infinite or huge samples, which no later stage
            // (the resampler's FFT, the VAD, Whisper) can take: NaN becomes silence and
            // the rest is clipped to full scale, as a sound card would play it.
            out.extend(buffer.samples().iter().map(|&sample| {
                if sample.is_nan() {
                    0.0
                } else {
                    sample.clamp(-1.0, 1.0)
                }
            }));
            return Ok(true);
        }
    }
}

/// What a failed probe means for the person: which formats we read.
fn describe_probe_error(err: &SymphoniaError) -> String {
    match err {
        SymphoniaError::Unsupported(_) => "its contents are not in a known audio format".into(),
        other => other.to_string(),
    }
}

/// Bytes read ahead of the probe to check a file's header.
const HEADER_PEEK_BYTES: usize = 16 * 1024;

/// Checks a file's header before the decoder library reads it: a WAV `fmt ` chunk it
/// cannot represent (0 Hz, 0 channels, 0-byte frames) and Vorbis comments (FLAC, Ogg)
/// whose lengths run past the end of the file, which the library would try to allocate
/// (symphonia-metadata 0.5 trusts them). Anything else passes through untouched; the
/// stream is left where it was.
fn check_header(stream: &mut MediaSourceStream) -> Result<(), String> {
    let n_file_bytes = stream.byte_len();
    stream.ensure_seekback_buffer(HEADER_PEEK_BYTES);
    let mut header = vec![0u8; HEADER_PEEK_BYTES];
    let mut n_read = 0;
    while n_read < header.len() {
        match stream.read(&mut header[n_read..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => n_read += n,
        }
    }
    stream.seek_buffered_rev(n_read);
    header.truncate(n_read);
    if let Some(format) = wav_format(&header) {
        format.check()?;
    }
    if let Some(n_file_bytes) = n_file_bytes {
        check_vorbis_comments(&header, n_file_bytes)?;
    }
    Ok(())
}

/// Checks every Vorbis comment block in `header` (a FLAC `VORBIS_COMMENT` block, an Ogg
/// Vorbis comment packet): no length or count in it may exceed the file's size.
fn check_vorbis_comments(header: &[u8], n_file_bytes: u64) -> Result<(), String> {
    let mut starts = Vec::new();
    if header.starts_with(b"fLaC") {
        // Metadata blocks: a type byte (high bit: the last block) and a 24-bit length.
        let mut block_at = 4usize;
        while let Some(block_header) = header.get(block_at..block_at + 4) {
            let block_type = block_header[0] & 0x7f;
            let n_block_bytes =
                u32::from_be_bytes([0, block_header[1], block_header[2], block_header[3]]);
            let body_at = block_at + 4;
            if body_at as u64 + u64::from(n_block_bytes) > n_file_bytes {
                return Err(format!(
                    "its header is damaged: a metadata block of {n_block_bytes} bytes runs past the end of the file"
                ));
            }
            if block_type == FLAC_VORBIS_COMMENT_BLOCK {
                starts.push(body_at);
            }
            if block_type == FLAC_PICTURE_BLOCK {
                check_flac_picture(header.get(body_at..).unwrap_or_default(), n_block_bytes)?;
            }
            if block_header[0] & 0x80 != 0 {
                break;
            }
            block_at += 4 + n_block_bytes as usize;
        }
    } else if header.starts_with(b"OggS") {
        starts.extend(
            header
                .windows(VORBIS_COMMENT_SIGNATURE.len())
                .enumerate()
                .filter(|(_, window)| *window == VORBIS_COMMENT_SIGNATURE)
                .map(|(at, _)| at + VORBIS_COMMENT_SIGNATURE.len()),
        );
    }
    for start in starts {
        let mut at = start;
        let read_u32 = |at: &mut usize| -> Option<u64> {
            let bytes = header.get(*at..*at + 4)?;
            *at += 4;
            Some(u64::from(u32::from_le_bytes(bytes.try_into().ok()?)))
        };
        let too_long = |what: &str, n: u64| {
            format!(
                "its header is damaged: a tag claims {what} of {n} bytes in a file of {n_file_bytes} bytes"
            )
        };
        let Some(n_vendor_bytes) = read_u32(&mut at) else {
            continue;
        };
        if n_vendor_bytes > n_file_bytes {
            return Err(too_long("a vendor string", n_vendor_bytes));
        }
        at = at.saturating_add(n_vendor_bytes as usize);
        let Some(n_comments) = read_u32(&mut at) else {
            continue;
        };
        if n_comments.saturating_mul(4) > n_file_bytes {
            return Err(too_long("a comment list", n_comments.saturating_mul(4)));
        }
        for _ in 0..n_comments {
            let Some(n_comment_bytes) = read_u32(&mut at) else {
                break;
            };
            if n_comment_bytes > n_file_bytes {
                return Err(too_long("a comment", n_comment_bytes));
            }
            at = at.saturating_add(n_comment_bytes as usize);
        }
    }
    Ok(())
}

/// Checks the lengths inside a FLAC `PICTURE` block (MIME type, description, image data;
/// big-endian) against the block's own length, as far as `body` holds them.
fn check_flac_picture(body: &[u8], n_block_bytes: u32) -> Result<(), String> {
    let read_u32 = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(body.get(at..at + 4)?.try_into().ok()?))
    };
    let too_long = |what: &str, n: u32| {
        format!(
            "its header is damaged: the cover picture claims {what} of {n} bytes in a block of {n_block_bytes} bytes"
        )
    };
    // Picture type, then the MIME type's length.
    let Some(n_mime_bytes) = read_u32(4) else {
        return Ok(());
    };
    if n_mime_bytes > n_block_bytes {
        return Err(too_long("a MIME type", n_mime_bytes));
    }
    let description_at = 8 + n_mime_bytes as usize;
    let Some(n_description_bytes) = read_u32(description_at) else {
        return Ok(());
    };
    if n_description_bytes > n_block_bytes {
        return Err(too_long("a description", n_description_bytes));
    }
    // Width, height, depth and colour count, then the image data's length.
    let data_len_at = description_at + 4 + n_description_bytes as usize + 16;
    if let Some(n_data_bytes) = read_u32(data_len_at)
        && n_data_bytes > n_block_bytes
    {
        return Err(too_long("an image", n_data_bytes));
    }
    Ok(())
}

/// The FLAC metadata block type of a picture (cover art).
const FLAC_PICTURE_BLOCK: u8 = 6;
/// The FLAC metadata block type of Vorbis comments.
const FLAC_VORBIS_COMMENT_BLOCK: u8 = 4;
/// What starts an Ogg Vorbis comment packet.
const VORBIS_COMMENT_SIGNATURE: &[u8] = b"\x03vorbis";

/// The fields of a WAV `fmt ` chunk that must not be zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WavFormat {
    n_channels: u16,
    sample_rate_hz: u32,
    block_align: u16,
    bits_per_sample: u16,
}

impl WavFormat {
    fn check(self) -> Result<(), String> {
        if self.sample_rate_hz == 0 {
            return Err("the WAV header gives a sample rate of 0 Hz".into());
        }
        if self.n_channels == 0 {
            return Err("the header claims 0 channels".into());
        }
        if self.block_align == 0 || self.bits_per_sample == 0 {
            return Err("the WAV header gives 0-byte sample frames".into());
        }
        Ok(())
    }
}

/// The `fmt ` chunk of a RIFF/WAVE header, when `header` starts with one and the chunk
/// lies within it.
fn wav_format(header: &[u8]) -> Option<WavFormat> {
    if header.len() < 12 || &header[0..4] != b"RIFF" || &header[8..12] != b"WAVE" {
        return None;
    }
    let mut chunk_at = 12usize;
    while chunk_at.checked_add(8)? <= header.len() {
        let id = &header[chunk_at..chunk_at + 4];
        let size = u32::from_le_bytes(header[chunk_at + 4..chunk_at + 8].try_into().ok()?);
        let body_at = chunk_at + 8;
        if id == b"fmt " {
            let body = header.get(body_at..body_at.checked_add(16)?)?;
            let u16_at = |at: usize| u16::from_le_bytes([body[at], body[at + 1]]);
            return Some(WavFormat {
                n_channels: u16_at(2),
                sample_rate_hz: u32::from_le_bytes(body[4..8].try_into().ok()?),
                block_align: u16_at(12),
                bits_per_sample: u16_at(14),
            });
        }
        // Chunks are padded to an even length.
        let padded = usize::try_from(size).ok()?.checked_add(size as usize % 2)?;
        chunk_at = body_at.checked_add(padded)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields of a synthetic 16-bit PCM WAV, each of which a case may damage.
    #[derive(Debug, Clone, Copy)]
    struct WavSpec {
        n_channels: u16,
        sample_rate_hz: u32,
        block_align: u16,
        n_frames: usize,
    }

    const GOOD: WavSpec = WavSpec {
        n_channels: 1,
        sample_rate_hz: 16_000,
        block_align: 2,
        n_frames: 1_600,
    };

    /// A WAV of a 440 Hz sine with the given header fields.
    fn wav_bytes(spec: WavSpec) -> Vec<u8> {
        let n_channels = usize::from(spec.n_channels.max(1));
        let mut data = Vec::new();
        for frame_idx in 0..spec.n_frames {
            let phase = frame_idx as f32 * 440.0 * std::f32::consts::TAU / 16_000.0;
            let sample = (phase.sin() * 8_000.0) as i16;
            for _ in 0..n_channels {
                data.extend_from_slice(&sample.to_le_bytes());
            }
        }
        riff_wav(PCM_FORMAT_TAG, 16, spec, &data)
    }

    /// The WAV `fmt ` format tags of integer PCM and of IEEE float samples.
    const PCM_FORMAT_TAG: u16 = 1;
    const FLOAT_FORMAT_TAG: u16 = 3;

    /// A RIFF/WAVE file of `data` with a `fmt ` chunk from the given fields, damaged or not.
    fn riff_wav(format_tag: u16, bits_per_sample: u16, spec: WavSpec, data: &[u8]) -> Vec<u8> {
        let mut fmt = Vec::new();
        fmt.extend_from_slice(&format_tag.to_le_bytes());
        fmt.extend_from_slice(&spec.n_channels.to_le_bytes());
        fmt.extend_from_slice(&spec.sample_rate_hz.to_le_bytes());
        let byte_rate = spec
            .sample_rate_hz
            .wrapping_mul(u32::from(spec.block_align));
        fmt.extend_from_slice(&byte_rate.to_le_bytes());
        fmt.extend_from_slice(&spec.block_align.to_le_bytes());
        fmt.extend_from_slice(&bits_per_sample.to_le_bytes());
        let mut body = b"WAVE".to_vec();
        body.extend_from_slice(b"fmt ");
        body.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
        body.extend_from_slice(&fmt);
        body.extend_from_slice(b"data");
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        let mut bytes = b"RIFF".to_vec();
        bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&body);
        bytes
    }

    /// Decodes `bytes` to the end: the number of frames, or the error's message.
    fn decode_all(bytes: Vec<u8>) -> Result<u64, String> {
        let mut file = AudioFile::from_bytes("case.wav", bytes).map_err(|err| err.to_string())?;
        let mut block = Vec::new();
        let mut n_samples = 0u64;
        while file.read_block(&mut block).map_err(|err| err.to_string())? {
            n_samples += block.len() as u64;
        }
        Ok(n_samples / file.n_channels() as u64)
    }

    /// A case: the bytes, and the frame count or a phrase of the error expected.
    fn check(name: &str, bytes: Vec<u8>, expected: Result<u64, &str>) {
        let got = decode_all(bytes);
        match (&got, expected) {
            (Ok(n_frames), Ok(expected_frames)) => {
                assert_eq!(*n_frames, expected_frames, "case {name:?}")
            }
            (Err(message), Err(phrase)) => {
                assert!(message.contains(phrase), "case {name:?}: {message}");
                assert!(message.contains("case.wav"), "case {name:?}: {message}");
            }
            _ => panic!("case {name:?}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn damaged_headers_are_errors_and_good_files_decode() {
        check("a good file", wav_bytes(GOOD), Ok(1_600));
        check(
            "stereo",
            wav_bytes(WavSpec {
                n_channels: 2,
                block_align: 4,
                ..GOOD
            }),
            Ok(1_600),
        );
        check(
            "a sample rate of 0 Hz",
            wav_bytes(WavSpec {
                sample_rate_hz: 0,
                ..GOOD
            }),
            Err("0 Hz"),
        );
        check(
            "a sample rate of 1 Hz",
            wav_bytes(WavSpec {
                sample_rate_hz: 1,
                ..GOOD
            }),
            Err("between 1000 and 768000 Hz"),
        );
        check(
            "0 channels",
            wav_bytes(WavSpec {
                n_channels: 0,
                ..GOOD
            }),
            Err("0 channels"),
        );
        check(
            "0-byte frames",
            wav_bytes(WavSpec {
                block_align: 0,
                ..GOOD
            }),
            Err("0-byte sample frames"),
        );
        check(
            "a header and no samples",
            wav_bytes(WavSpec {
                n_frames: 0,
                ..GOOD
            }),
            Err("no audio could be decoded"),
        );
        let mut cut = wav_bytes(GOOD);
        cut.truncate(44 + 2 * 800);
        check("cut short: what is there is kept", cut, Ok(800));
        check("empty", Vec::new(), Err("empty"));
        check(
            "text",
            b"just some words\n".repeat(40),
            Err("not in a known audio format"),
        );
    }

    #[test]
    fn vorbis_comments_longer_than_the_file_are_refused() {
        let flac = |n_comment_bytes: u32| {
            let mut bytes = b"fLaC".to_vec();
            bytes.extend_from_slice(&[0x80 | FLAC_VORBIS_COMMENT_BLOCK, 0, 0, 16]);
            bytes.extend_from_slice(&0u32.to_le_bytes());
            bytes.extend_from_slice(&1u32.to_le_bytes());
            bytes.extend_from_slice(&n_comment_bytes.to_le_bytes());
            bytes.extend_from_slice(b"ARTIST=x");
            bytes
        };
        assert_eq!(check_vorbis_comments(&flac(8), 1_000), Ok(()));
        let refused = check_vorbis_comments(&flac(0x7000_0000), 1_000);
        assert!(refused.is_err_and(|message| message.contains("1879048192 bytes")));
        let mut ogg = b"OggS\0\x02".to_vec();
        ogg.extend_from_slice(VORBIS_COMMENT_SIGNATURE);
        ogg.extend_from_slice(&0xffff_fff0u32.to_le_bytes());
        assert!(check_vorbis_comments(&ogg, 1_000).is_err());
        // Fields cut off by the end of what was read are not judged.
        assert_eq!(check_vorbis_comments(&ogg[..10], 1_000), Ok(()));
    }

    #[test]
    fn nan_becomes_silence_and_float_samples_are_clipped_to_full_scale() {
        let samples = [0.5f32, f32::NAN, f32::INFINITY, -0.25, -3.0e38];
        let mut data = Vec::new();
        for sample in samples {
            data.extend_from_slice(&sample.to_le_bytes());
        }
        let spec = WavSpec {
            n_channels: 1,
            sample_rate_hz: 16_000,
            block_align: 4,
            n_frames: samples.len(),
        };
        let bytes = riff_wav(FLOAT_FORMAT_TAG, 32, spec, &data);
        let mut file = AudioFile::from_bytes("float.wav", bytes).expect("a float WAV opens");
        let mut decoded = Vec::new();
        let mut block = Vec::new();
        while file.read_block(&mut block).expect("it decodes") {
            decoded.extend_from_slice(&block);
        }
        assert_eq!(decoded, [0.5, 0.0, 1.0, -0.25, -1.0]);
    }

    #[test]
    fn wav_format_reads_only_a_whole_fmt_chunk() {
        let good = wav_bytes(GOOD);
        assert_eq!(
            wav_format(&good),
            Some(WavFormat {
                n_channels: 1,
                sample_rate_hz: 16_000,
                block_align: 2,
                bits_per_sample: 16,
            })
        );
        assert_eq!(wav_format(&good[..30]), None, "the fmt chunk is cut");
        assert_eq!(wav_format(b"fLaC\0\0\0\x22"), None, "not RIFF");
        // A chunk before fmt whose size runs past the end stops the search quietly.
        let mut odd = b"RIFF\0\0\0\0WAVELIST".to_vec();
        odd.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(wav_format(&odd), None);
    }
}
