//! Rewriting a recording cut short (the process was killed, the disk filled up) as a complete
//! MCAP file with a summary and an index.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use mcap::records::Record;

use crate::recording::LinearMessages;
use crate::{RecordError, nanos};

/// What [`recover`] found and wrote.
#[derive(Clone, Debug)]
pub struct RecoverReport {
    /// Messages copied.
    pub messages: u64,
    /// Why reading stopped before the end of the input, if it did.
    pub cut: Option<String>,
}

/// Reads `input` from the start, as far as it is intact, and writes everything to `output`.
pub fn recover(input: &Path, output: &Path) -> Result<RecoverReport, RecordError> {
    let mut reader = LinearMessages::open(input)?;
    reader.keep_records = true;
    let file = File::create(output).map_err(|e| RecordError::io(output, e))?;
    let mut writer = mcap::WriteOptions::new()
        .profile("")
        .library(concat!(
            "vizcast ",
            env!("CARGO_PKG_VERSION"),
            " (recovered)"
        ))
        .create(BufWriter::with_capacity(1 << 20, file))
        .map_err(|e| RecordError::mcap(output, e))?;
    let mut schemas: HashMap<u16, u16> = HashMap::new();
    let mut channels: HashMap<u16, u16> = HashMap::new();
    let mut messages = 0u64;
    let mut cut = None;
    let mcap_err = |e| RecordError::mcap(output, e);
    loop {
        let next = reader.next();
        // Records met before this message: schemas, channels, metadata.
        for record in std::mem::take(&mut reader.records) {
            match record {
                Record::Schema { header, data } => {
                    let id = writer
                        .add_schema(&header.name, &header.encoding, &data)
                        .map_err(mcap_err)?;
                    schemas.insert(header.id, id);
                }
                Record::Channel(channel) => {
                    let schema = if channel.schema_id == 0 {
                        0
                    } else {
                        schemas.get(&channel.schema_id).copied().unwrap_or(0)
                    };
                    let id = writer
                        .add_channel(
                            schema,
                            &channel.topic,
                            &channel.message_encoding,
                            &channel.metadata,
                        )
                        .map_err(mcap_err)?;
                    channels.insert(channel.id, id);
                }
                Record::Metadata(metadata) => writer.write_metadata(&metadata).map_err(mcap_err)?,
                _ => {}
            }
        }
        match next {
            None => break,
            Some(Ok((mut header, data))) => {
                let Some(&channel) = channels.get(&header.channel_id) else {
                    continue;
                };
                header.channel_id = channel;
                writer
                    .write_to_known_channel(&header, &data)
                    .map_err(mcap_err)?;
                messages += 1;
            }
            Some(Err(err)) => {
                cut = Some(err.to_string());
                break;
            }
        }
    }
    let mut metadata = std::collections::BTreeMap::new();
    metadata.insert("from".to_owned(), input.display().to_string());
    metadata.insert("messages".to_owned(), messages.to_string());
    metadata.insert(
        "at".to_owned(),
        format!("{:.3}", nanos(vizcast_hub::unix_now()) as f64 / 1e9),
    );
    if let Some(cut) = &cut {
        metadata.insert("cut".to_owned(), cut.clone());
    }
    writer
        .write_metadata(&mcap::records::Metadata {
            name: "vizcast.recovered".to_owned(),
            metadata,
        })
        .map_err(mcap_err)?;
    writer.finish().map_err(mcap_err)?;
    Ok(RecoverReport { messages, cut })
}
