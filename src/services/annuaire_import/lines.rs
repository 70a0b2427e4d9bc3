//! Reading lines as bytes in one reused buffer, bounded in length.

use super::*;

pub(super) enum Line<'b> {
    /// The bytes of a line, without its end (`\n` or `\r\n`).
    Text(&'b [u8]),
    /// Longer than [`MAX_LINE_BYTES`]: skipped without being kept.
    TooLong,
}

/// Reads lines as bytes into one reused buffer (invalid UTF-8 is a bad line,
/// not an error), counting lines and bytes.
pub(super) struct LineReader {
    pub(super) file: String,
    pub(super) buf: Vec<u8>,
    pub(super) number: u64,
    pub(super) bytes: u64,
}

impl LineReader {
    pub(super) fn new(file: &str) -> LineReader {
        LineReader {
            file: file.to_string(),
            buf: Vec::with_capacity(4096),
            number: 0,
            bytes: 0,
        }
    }

    /// The next line, with its number and the bytes read so far.
    pub(super) fn next<R: BufRead>(
        &mut self,
        reader: &mut R,
    ) -> Result<Option<(Line<'_>, u64, u64)>, ImportError> {
        let io = |source| ImportError::Read {
            file: self.file.clone(),
            source,
        };
        self.buf.clear();
        let n = (&mut *reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut self.buf)
            .map_err(io)?;
        if n == 0 {
            return Ok(None);
        }
        self.bytes += n as u64;
        self.number += 1;
        if self.buf.last() != Some(&b'\n') && n > MAX_LINE_BYTES {
            self.bytes += skip_line(reader).map_err(io)?;
            self.buf.clear();
            return Ok(Some((Line::TooLong, self.number, self.bytes)));
        }
        let mut line = self.buf.as_slice();
        line = line.strip_suffix(b"\n").unwrap_or(line);
        line = line.strip_suffix(b"\r").unwrap_or(line);
        if self.number == 1 {
            line = line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line);
        }
        Ok(Some((Line::Text(line), self.number, self.bytes)))
    }
}

/// Consumes the rest of a line without keeping it; returns the bytes skipped.
pub(super) fn skip_line<R: BufRead>(reader: &mut R) -> std::io::Result<u64> {
    let mut skipped = 0u64;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(skipped);
        }
        match available.iter().position(|&b| b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(skipped + i as u64 + 1);
            }
            None => {
                let len = available.len();
                reader.consume(len);
                skipped += len as u64;
            }
        }
    }
}
