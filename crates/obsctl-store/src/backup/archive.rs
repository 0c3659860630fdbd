//! The backup archive: one gzip-compressed file of JSON lines, readable with `zcat`. A header
//! (format, version, schema, backend), the config, then each table (`{"table", "columns",
//! "rows"}`, its rows as JSON arrays, `{"end", "rows", "sha256"}`) and a closing manifest with
//! every table's count and SHA-256. It is written to `<file>.partial` and renamed when complete,
//! so a backup cut short never looks like one; a reader checks every count and checksum, and a
//! file without its manifest is truncated.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Cell, SnapshotSink, Table};
use crate::{Result, StoreError};

pub const FORMAT: &str = "obsctl-backup";
/// The archive layout this obsctl writes; a newer one is refused.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Header {
    pub format: String,
    pub version: u32,
    /// The store's schema (its migrations) when it was taken.
    pub schema: i64,
    pub created_at: String,
    pub obsctl: String,
    pub backend: String,
}

/// A table's count and checksum, in the manifest and at the table's end.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableSum {
    pub name: String,
    pub rows: u64,
    pub sha256: String,
}

/// The config file the instance ran with.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConfigFile {
    pub file: String,
    pub text: String,
}

impl ConfigFile {
    /// The config at `path`, when it is a readable file (a watch of the host has none).
    pub fn read(path: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(path).ok()?;
        Some(Self { file: path.file_name()?.to_string_lossy().into_owned(), text })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Line {
    Config { config: ConfigFile },
    Start { table: String, columns: Vec<String>, rows: u64 },
    End { end: String, rows: u64, sha256: String },
    Manifest { manifest: Vec<TableSum> },
}

fn io(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("backup archive: {e}"))
}

/// Progress as rows written of the snapshot's total.
pub type Progress = Box<dyn FnMut(u64, u64) + Send>;

/// Writes an archive; the store fills it through `SnapshotSink`.
pub struct ArchiveWriter {
    out: GzEncoder<BufWriter<File>>,
    partial: PathBuf,
    path: PathBuf,
    current: Option<(&'static Table, u64, Sha256)>,
    sums: Vec<TableSum>,
    done: u64,
    total: u64,
    progress: Progress,
    line: Vec<u8>,
}

impl ArchiveWriter {
    /// Starts `path` (as `<path>.partial`) with the header and the config; `total` rows are
    /// expected, for progress.
    pub fn create(
        path: &Path,
        header: &Header,
        config: Option<ConfigFile>,
        total: u64,
        progress: Progress,
    ) -> Result<Self> {
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file = private_file(&partial).map_err(|e| io(format!("{}: {e}", partial.display())))?;
        let mut w = Self {
            out: GzEncoder::new(BufWriter::with_capacity(1 << 20, file), Compression::fast()),
            partial,
            path: path.to_path_buf(),
            current: None,
            sums: Vec::new(),
            done: 0,
            total,
            progress,
            line: Vec::with_capacity(4096),
        };
        w.write_json(header)?;
        if let Some(config) = config {
            w.write_json(&Line::Config { config })?;
        }
        Ok(w)
    }

    fn write_json<T: Serialize>(&mut self, value: &T) -> Result<()> {
        serde_json::to_writer(&mut self.out, value)?;
        self.out.write_all(b"\n").map_err(io)
    }

    fn end_table(&mut self) -> Result<()> {
        if let Some((t, rows, hash)) = self.current.take() {
            let sum = TableSum { name: t.name.to_string(), rows, sha256: hex(hash) };
            self.write_json(&Line::End { end: sum.name.clone(), rows, sha256: sum.sha256.clone() })?;
            self.sums.push(sum);
        }
        Ok(())
    }

    /// Ends the last table, writes the manifest, and renames the file to its name; returns
    /// every table's count and checksum.
    pub fn finish(mut self) -> Result<Vec<TableSum>> {
        self.end_table()?;
        let sums = std::mem::take(&mut self.sums);
        self.write_json(&Line::Manifest { manifest: sums.clone() })?;
        self.out.try_finish().map_err(io)?;
        self.out.get_mut().flush().map_err(io)?;
        self.out.get_ref().get_ref().sync_all().map_err(io)?;
        std::fs::rename(&self.partial, &self.path).map_err(io)?;
        Ok(sums)
    }
}

impl SnapshotSink for ArchiveWriter {
    fn table(&mut self, table: &'static Table, rows: u64) -> Result<()> {
        self.end_table()?;
        let columns = table.columns.iter().map(|(c, _)| c.to_string()).collect();
        self.write_json(&Line::Start { table: table.name.to_string(), columns, rows })?;
        self.current = Some((table, 0, Sha256::new()));
        Ok(())
    }

    fn row(&mut self, cells: Vec<Cell>) -> Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, &cells)?;
        self.line.push(b'\n');
        let Some((_, rows, hash)) = self.current.as_mut() else { return Err(io("a row before its table")) };
        *rows += 1;
        hash.update(&self.line);
        self.out.write_all(&self.line).map_err(io)?;
        self.done += 1;
        if self.done.is_multiple_of(10_000) || self.done == self.total {
            (self.progress)(self.done, self.total);
        }
        Ok(())
    }
}

impl Drop for ArchiveWriter {
    /// A writer dropped before `finish` leaves no partial file behind.
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.partial);
    }
}

fn hex(hash: Sha256) -> String {
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// What a reader meets, in order.
pub enum Item {
    Config(ConfigFile),
    /// A table begins: its catalog entry and the columns the archive holds, in their order.
    Table(&'static Table, Vec<String>),
    Row(Vec<Cell>),
}

/// What a verified archive holds.
#[derive(Debug, Clone)]
pub struct Summary {
    pub header: Header,
    pub config: Option<ConfigFile>,
    pub tables: Vec<TableSum>,
}

impl Summary {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// A new file only its owner may read or write, whatever the umask: an archive holds everything
/// obsctl knows (the API's download is written to the temp folder first).
fn private_file(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// The longest line an archive may hold: far above any row obsctl writes, and a line past it
/// (say, a one-line gzip bomb) is refused before it fills memory.
const MAX_LINE: u64 = 32 << 20;

/// The next line of `reader` without its line end, reading at most `MAX_LINE` bytes of it.
fn next_line(reader: &mut impl BufRead) -> Option<std::io::Result<String>> {
    let mut buf = Vec::new();
    match reader.by_ref().take(MAX_LINE + 1).read_until(b'\n', &mut buf) {
        Ok(0) => None,
        Ok(_) if buf.last() != Some(&b'\n') && buf.len() as u64 > MAX_LINE => Some(Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a line is over {} MiB", MAX_LINE >> 20),
        ))),
        Ok(_) => {
            if buf.last() == Some(&b'\n') {
                buf.pop();
            }
            Some(String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
        }
        Err(e) => Some(Err(e)),
    }
}

/// Reads an archive, checking each line as it comes: the header (format, version, a schema not
/// newer than `schema`), tables known and in order with known columns, cells of the columns'
/// types, every table's count and SHA-256, and the manifest at the very end.
pub struct ArchiveReader {
    reader: BufReader<MultiGzDecoder<BufReader<File>>>,
    line_no: u64,
    pub header: Header,
    table: Option<(&'static Table, Vec<super::Kind>, u64, u64, Sha256)>,
    next_table: usize,
    sums: Vec<TableSum>,
    finished: bool,
}

impl ArchiveReader {
    pub fn open(path: &Path, schema: i64) -> Result<Self> {
        let file = File::open(path).map_err(|e| io(format!("{}: {e}", path.display())))?;
        let mut reader = BufReader::with_capacity(1 << 20, MultiGzDecoder::new(BufReader::new(file)));
        let first = next_line(&mut reader)
            .ok_or_else(|| io("empty file"))?
            .map_err(|e| io(format!("not a gzip archive: {e}")))?;
        let header: Header = serde_json::from_str(&first).map_err(|_| io("not an obsctl backup (no header)"))?;
        if header.format != FORMAT {
            return Err(io(format!("not an obsctl backup (format {:?})", header.format)));
        }
        if header.version > VERSION {
            return Err(io(format!(
                "written by a newer obsctl (archive version {}, this one reads {VERSION}); upgrade obsctl",
                header.version
            )));
        }
        if header.schema > schema {
            return Err(io(format!(
                "taken from a newer store schema ({}, this obsctl has {schema}); upgrade obsctl",
                header.schema
            )));
        }
        Ok(Self { reader, line_no: 1, header, table: None, next_table: 0, sums: Vec::new(), finished: false })
    }

    fn bad(&self, why: impl std::fmt::Display) -> StoreError {
        io(format!("line {}: {why}", self.line_no))
    }

    /// The next item; `None` after the manifest, which must close the file.
    pub fn next_item(&mut self) -> Result<Option<Item>> {
        loop {
            let Some(line) = next_line(&mut self.reader) else {
                return if self.finished { Ok(None) } else { Err(io("truncated: the manifest is missing")) };
            };
            let line = line.map_err(|e| io(format!("corrupt or truncated: {e}")))?;
            self.line_no += 1;
            if self.finished {
                return Err(self.bad("data after the manifest"));
            }
            if let Some((table, kinds, expected, rows, hash)) = self.table.as_mut()
                && line.starts_with('[')
            {
                let values: Vec<serde_json::Value> =
                    serde_json::from_str(&line).map_err(|e| io(format!("line {}: {e}", self.line_no)))?;
                if values.len() != kinds.len() {
                    return Err(io(format!(
                        "line {}: {} values for {} columns of {}",
                        self.line_no,
                        values.len(),
                        kinds.len(),
                        table.name
                    )));
                }
                let mut cells = Vec::with_capacity(values.len());
                for (v, kind) in values.iter().zip(kinds.iter()) {
                    cells.push(Cell::from_json(v, *kind).ok_or_else(|| {
                        io(format!("line {}: {v} is not a {kind:?} of {}", self.line_no, table.name))
                    })?);
                }
                *rows += 1;
                if *rows > *expected {
                    return Err(io(format!(
                        "line {}: more rows than the {expected} {} announced",
                        self.line_no, table.name
                    )));
                }
                hash.update(line.as_bytes());
                hash.update(b"\n");
                return Ok(Some(Item::Row(cells)));
            }
            let parsed: Line = serde_json::from_str(&line).map_err(|_| self.bad("not a line of an obsctl backup"))?;
            match parsed {
                Line::Config { config } if self.next_table == 0 && self.table.is_none() => {
                    return Ok(Some(Item::Config(config)));
                }
                Line::Start { table, columns, rows } if self.table.is_none() => {
                    let position = super::TABLES.iter().position(|t| t.name == table);
                    let Some(position) = position.filter(|p| *p >= self.next_table) else {
                        return Err(self.bad(format!("unknown or out-of-order table {table:?}")));
                    };
                    let catalog = &super::TABLES[position];
                    let mut kinds = Vec::with_capacity(columns.len());
                    for c in &columns {
                        kinds.push(catalog.kind(c).ok_or_else(|| self.bad(format!("{table} has no column {c:?}")))?);
                    }
                    self.next_table = position + 1;
                    self.table = Some((catalog, kinds, rows, 0, Sha256::new()));
                    return Ok(Some(Item::Table(catalog, columns)));
                }
                Line::End { end, rows: claimed, sha256 } => {
                    let Some((table, _, expected, rows, hash)) = self.table.take() else {
                        return Err(self.bad("a table end without its start"));
                    };
                    let actual = hex(hash);
                    if end != table.name || claimed != rows || rows != expected || sha256 != actual {
                        return Err(self.bad(format!(
                            "{} does not match its checksum or count ({rows} rows read, {claimed} claimed): tampered or damaged",
                            table.name
                        )));
                    }
                    self.sums.push(TableSum { name: end, rows, sha256 });
                }
                Line::Manifest { manifest } if self.table.is_none() => {
                    if manifest != self.sums {
                        return Err(self.bad("the manifest does not match the tables: tampered or damaged"));
                    }
                    self.finished = true;
                }
                _ => return Err(self.bad("a line out of place")),
            }
        }
    }

    /// Reads the whole archive, checking everything, and says what it holds.
    pub fn verify(path: &Path, schema: i64) -> Result<Summary> {
        let mut reader = Self::open(path, schema)?;
        let mut config = None;
        while let Some(item) = reader.next_item()? {
            if let Item::Config(c) = item {
                config = Some(c);
            }
        }
        Ok(Summary { header: reader.header.clone(), config, tables: reader.sums })
    }
}
